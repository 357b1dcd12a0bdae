#!/usr/bin/env python3
"""A stand-in XDND drop target for checking the drag machinery without the app:

    drop_target.py OUT_FILE [X Y]

A 400x300 GTK window at X,Y (default 400,200) that accepts text/uri-list drops and appends
each dropped file's path to OUT_FILE. Prints "ready X Y W H" once mapped.
"""
import sys
from urllib.parse import unquote, urlparse

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

from gtk_ready import show_and_run  # noqa: E402


def main():
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    out = sys.argv[1]
    x, y = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) == 4 else (400, 200)

    win = Gtk.Window(title="drop target")
    win.set_default_size(400, 300)
    win.set_decorated(False)
    win.move(x, y)
    win.connect("destroy", Gtk.main_quit)
    win.drag_dest_set(Gtk.DestDefaults.ALL, [], Gdk.DragAction.COPY)
    win.drag_dest_add_uri_targets()

    def on_received(_w, _context, _x, _y, data, _info, _time):
        with open(out, "a", encoding="utf-8") as f:
            for uri in data.get_uris():
                f.write(unquote(urlparse(uri).path) + "\n")

    win.connect("drag-data-received", on_received)
    win.add(Gtk.Label(label="drop here"))

    show_and_run(win)


if __name__ == "__main__":
    main()
