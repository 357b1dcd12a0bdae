"""What the two GTK helpers of the drag test share: show a window and run GTK, printing
"ready X Y W H" once the X server has really placed it (the drag script waits for that line)."""
from gi.repository import GLib, Gtk


def show_and_run(win):
    def on_map(_w, _e):
        def report():
            ox, oy = win.get_window().get_origin()[1:]
            w, h = win.get_size()
            print("ready", ox, oy, w, h, flush=True)
            return False

        GLib.timeout_add(200, report)

    win.connect("map-event", on_map)
    win.show_all()
    Gtk.main()
