"""Re-take the README screenshots offscreen: `QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/take.py`.

Chinese needs a CJK font (Debian: fonts-noto-cjk).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workbench.ui.app import MainWindow

HERE = Path(__file__).resolve().parent


def wait(app: QApplication, condition, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)


def shoot(app: QApplication, win: MainWindow, prompt: str, name: str, samples: int, temperature: float) -> None:
    pg = win.playground
    pg.prompt.setPlainText(prompt)
    pg.samples.set_value(samples)
    pg.temperature.set_value(temperature)
    pg.max_tokens.set_value(48)
    pg.random_seed.setChecked(False)
    pg.seed.setValue(3)
    done = []
    win.engine.worker.runFinished.connect(lambda: done.append(True))
    pg.run_button.click()
    wait(app, lambda: bool(done))
    app.processEvents()
    win.grab().save(str(HERE / f"{name}.png"))
    view = pg.columns[0].view
    for x in range(5, view.viewport().width(), 5):
        index = view.index_at(QPoint(x, 30))
        if index >= 1:
            pg._pin(view, index, view.mapToGlobal(QPoint(x, 30)))
            app.processEvents()
            pg.popup.grab().save(str(HERE / f"{name}-popup.png"))
            pg.popup.pinned = False
            pg.popup.hide()
            break


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(1400, 820)
    win.show()
    wait(app, lambda: win.model_info is not None)
    shoot(app, win, "The three most important inventions in history are", "playground-english", 3, 0.9)
    shoot(app, win, "台湾最高的山是", "playground-chinese", 2, 0.7)
    win.close()


if __name__ == "__main__":
    main()
