"""QApplication and main window. The Playground and other tabs arrive with their issues."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

from workbench import models
from workbench.errors import WorkbenchError


class MainWindow(QMainWindow):
    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Prompt Workbench")
        self.resize(1000, 700)
        try:
            info = models.resolve(model)
            text = (
                f"{info.name}: {info.architecture}, {info.parameter_count / 1e6:.0f}M parameters, "
                f"{info.quantization}, context {info.context_length}, vocabulary {info.vocab_size}"
            )
        except WorkbenchError as err:
            text = f"No model: {err}"
        self.setCentralWidget(QLabel(text))
        self.statusBar().showMessage(text)


def main(model: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow(model)
    window.show()
    return app.exec()
