"""The one-line message instead of Qt's abort when the xcb libraries are missing."""

from __future__ import annotations

from workbench.ui.platform_check import XCB_LIBRARIES, platform_problem


def test_missing_xcb_libraries_are_named_with_their_packages():
    def find(name):
        return None if name in ("xcb-cursor", "xcb-icccm") else f"lib{name}.so"

    message = platform_problem("linux", {"DISPLAY": ":0"}, find)
    assert message is not None and "\n" not in message
    assert "libxcb-cursor0 libxcb-icccm4" in message and "xcb-util-cursor xcb-util-wm" in message
    assert "libxcb-keysyms1" not in message


def test_no_problem_when_present_offscreen_or_not_linux():
    everything = {name: f"lib{name}.so" for name in XCB_LIBRARIES}.get
    assert platform_problem("linux", {"DISPLAY": ":0"}, everything) is None
    assert platform_problem("linux", {"QT_QPA_PLATFORM": "offscreen"}, lambda name: None) is None
    assert platform_problem("darwin", {}, lambda name: None) is None


def test_no_display_is_one_line_saying_what_to_do():
    everything = {name: f"lib{name}.so" for name in XCB_LIBRARIES}.get
    message = platform_problem("linux", {}, everything)
    assert message is not None and "\n" not in message
    assert "DISPLAY is not set" in message and "xvfb-run" in message
    assert platform_problem("linux", {"DISPLAY": ":1"}, everything) is None
    assert platform_problem("linux", {"WAYLAND_DISPLAY": "wayland-0"}, everything) is None
