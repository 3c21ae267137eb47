"""Before Qt starts on Linux: are the system libraries its xcb platform plugin needs installed?

Without them, or without an X display to connect to, Qt prints a multi-line message about the "xcb" plugin and
aborts (exit 134); a user gets one line saying what is missing and what to do instead.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

# library -> (Debian/Ubuntu package, Fedora package)
XCB_LIBRARIES = {
    "xcb-cursor": ("libxcb-cursor0", "xcb-util-cursor"),
    "xcb-icccm": ("libxcb-icccm4", "xcb-util-wm"),
    "xcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "xcb-image": ("libxcb-image0", "xcb-util-image"),
    "xcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil"),
    "xkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
}


def missing_xcb_libraries(find=ctypes.util.find_library) -> list[str]:
    return [name for name in XCB_LIBRARIES if find(name) is None]


def no_display(environ=os.environ) -> str | None:
    """xcb needs an X server: with DISPLAY unset (an SSH session, a container) Qt aborts the process."""
    if environ.get("DISPLAY"):
        return None
    return (
        "there is no display to open the window on (DISPLAY is not set): start the app from a desktop session, "
        "connect with `ssh -X`, or run it on a virtual screen (xvfb-run python3 dev.py run); the workbench "
        "command line works without one"
    )


def platform_problem(platform: str = sys.platform, environ=os.environ, find=ctypes.util.find_library) -> str | None:
    """One line explaining why Qt's window system plugin cannot start, or None."""
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None  # offscreen, wayland, ...: not the xcb plugin
    if not qpa and environ.get("WAYLAND_DISPLAY"):
        return None
    display = no_display(environ)  # first: without a display the libraries do not help
    if display:
        return display
    missing = missing_xcb_libraries(find)
    if not missing:
        return None
    debian = " ".join(XCB_LIBRARIES[name][0] for name in missing)
    fedora = " ".join(XCB_LIBRARIES[name][1] for name in missing)
    return (
        f"Qt cannot open a window: system libraries missing ({', '.join('lib' + m for m in missing)}). "
        f"Install them: sudo apt-get install {debian}  (Fedora: sudo dnf install {fedora})"
    )
