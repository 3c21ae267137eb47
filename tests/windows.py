"""The real window, offscreen, for the UI tests (a helper module they import): `open_window` starts one on a
model and waits until it is ready; errors it would show in a dialog are collected in `window.errors`."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings

from workbench.ui.app import MainWindow


def open_window(
    qtbot, tmp_path, model_path: str | None = None, ready: Callable[[MainWindow], bool] | None = None
) -> MainWindow:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    if model_path:
        settings.setValue("model", model_path)
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: ready(win) if ready else win.model_info is not None, timeout=30_000)
    errors: list[str] = []
    win.show_error = errors.append
    win.errors = errors
    return win


def run_playground(qtbot, win: MainWindow, prompt: str, **settings) -> list:
    """Types `prompt` into the Playground, sets each named control (`max_tokens`, `samples`, `temperature`,
    `seed`: a fixed seed) and runs it; returns each sample column's tokens once all have arrived."""
    playground = win.playground
    win.tabs.setCurrentWidget(playground)
    qtbot.waitUntil(playground.run_button.isEnabled, timeout=10_000)
    playground.prompt.setPlainText(prompt)
    seed = settings.pop("seed", None)
    for name, value in settings.items():
        getattr(playground, name).set_value(value)
    if seed is not None:
        playground.random_seed.setChecked(False)
        playground.seed.setValue(seed)
    playground.run()
    count = settings.get("samples", 1)
    qtbot.waitUntil(
        lambda: playground.run_button.isEnabled() and all(c.view.tokens for c in playground.columns[:count]),
        timeout=60_000,
    )
    return [c.view.tokens for c in playground.columns[:count]]
