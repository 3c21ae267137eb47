"""Each class of error a user can cause reaches them as one readable message in the real window: a model file
that is not a model, a database another program has locked, and a template that hits the render limit (the
last in test_templates_tab.py::test_template_errors_show_in_the_preview). The window's own error dialog is
used here, not the tests' collector."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import LOCK_HOLDER
from PySide6.QtWidgets import QMessageBox
from windows import open_window

from workbench import models
from workbench.ui.app import MainWindow


@pytest.fixture
def window(qtbot, tmp_path, isolated_db):
    win = open_window(qtbot, tmp_path)
    win.show_error = MainWindow.show_error.__get__(win)  # the real dialog
    yield win
    win.templates.confirm_discard = lambda: True  # a failed test must not leave a modal question open
    win.close()


def _dialog_text(qtbot, win: MainWindow) -> str:
    qtbot.waitUntil(lambda: bool(_dialogs(win)), timeout=30_000)
    (box,) = _dialogs(win)
    text = box.text()
    box.accept()
    return text


def _dialogs(win: MainWindow) -> list[QMessageBox]:
    return [box for box in win.findChildren(QMessageBox, "error-dialog") if box.isVisible()]


def test_a_file_that_is_not_a_model_is_a_dialog_and_the_loaded_model_stays(qtbot, window, tmp_path):
    broken = tmp_path / "half.gguf"
    broken.write_bytes(models.default_model_path().read_bytes()[:100])
    loaded, line = window.model_info, window.model_line
    window.load_model(str(broken))
    text = _dialog_text(qtbot, window)
    assert "half.gguf" in text and "GGUF header is damaged or truncated" in text and "Traceback" not in text
    assert window.model_info is loaded and window.model_label.text() == line
    assert window.compare.backend is window.engine.worker.backend is not None  # the tabs got it back
    assert window.playground.run_button.isEnabled()


def test_a_locked_database_is_a_dialog_within_seconds_and_the_edit_is_kept(qtbot, window, isolated_db):
    tab = window.templates
    tab.body.setPlainText("My new template about {{ text }}")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(isolated_db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        assert tab.save() is False
        waited = time.monotonic() - started
        text = _dialog_text(qtbot, window)
    finally:
        holder.communicate("release\n", timeout=10)
    assert 1.5 < waited < 5  # the window waited its 2 s for the lock, not the 15 s a worker waits
    assert "is locked by another program" in text and "close it and try again" in text
    assert tab.body.toPlainText() == "My new template about {{ text }}" and tab.dirty
    assert tab.save() is True  # once the other program lets go, the same save goes in
    assert tab.store.get_template(tab.current.name).body == "My new template about {{ text }}"
