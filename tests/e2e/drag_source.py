#!/usr/bin/env python3
"""A tiny X drag source for the end-to-end test: a GTK window showing one file that can be
dragged (XDND, text/uri-list) into another window, as a file manager would.

    drag_source.py FILE [X Y]

Places a 160x120 window at X,Y (default 20,20) and prints "ready X Y W H" once it is mapped,
then waits to be dragged from. Prints "drag-end" when a drag finishes, and "data-sent URI"
when the drop target asked for the data (the proof that the target accepted the drop).
Needs python3-gi and gir1.2-gtk-3.0.
"""
import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

from gtk_ready import show_and_run  # noqa: E402


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    path = Path(sys.argv[1]).resolve()
    if not path.is_file():
        sys.exit(f"not a file: {path}")
    x, y = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) == 4 else (20, 20)
    uri = path.as_uri()

    win = Gtk.Window(title="drag source")
    win.set_default_size(160, 120)
    win.set_decorated(False)
    win.move(x, y)
    win.connect("destroy", Gtk.main_quit)

    # An event box fills the window, so a press anywhere in it starts the drag.
    box = Gtk.EventBox()
    box.add(Gtk.Label(label=path.name))
    box.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
    box.drag_source_add_uri_targets()

    def on_get(_widget, _context, data, _info, _time):
        data.set_uris([uri])
        print("data-sent", uri, flush=True)

    def on_end(_widget, _context):
        print("drag-end", flush=True)

    box.connect("drag-data-get", on_get)
    box.connect("drag-end", on_end)
    win.add(box)

    show_and_run(win)


if __name__ == "__main__":
    main()
