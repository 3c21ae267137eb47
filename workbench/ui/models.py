"""Qt models over core records: the views ask for what they paint, nothing is rebuilt per refresh."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from workbench import experiments

VERDICT_COLOURS = {True: QColor("#c8efc4"), False: QColor("#f6c6c6"), None: QColor("#e6e6e6")}


class ResultsModel(QAbstractTableModel):
    """The Compare results table over `experiments.ResultsGrid`: text, colour and tooltip of a cell are
    the core's (`cell_text`, `cell_verdict`, `cell_tooltip`), the same as `workbench experiments show --cells`.
    A refresh with the same rows and columns only repaints (the selection and scroll position stay)."""

    def __init__(self) -> None:
        super().__init__()
        self.grid = experiments.ResultsGrid((), (), {})
        self._verdicts: dict[tuple[int, int], bool | None] = {}

    def set_grid(self, grid: experiments.ResultsGrid) -> None:
        same_shape = (grid.columns, grid.cases) == (self.grid.columns, self.grid.cases)
        if not same_shape:
            self.beginResetModel()
        self.grid = grid
        self._verdicts = {}
        if same_shape:
            if grid.cases and grid.columns:
                self.dataChanged.emit(self.index(0, 0), self.index(len(grid.cases) - 1, len(grid.columns) - 1))
        else:
            self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.grid.cases)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.grid.columns)

    def samples(self, row: int, column: int) -> list[dict[str, Any]]:
        return self.grid.samples(row, column)

    def text(self, row: int, column: int) -> str:
        return experiments.cell_text(self.samples(row, column))

    def correct(self, row: int, column: int) -> bool | None:
        key = (row, column)
        if key not in self._verdicts:
            samples = self.samples(row, column)
            self._verdicts[key] = experiments.cell_verdict(samples).correct if samples else None
        return self._verdicts[key]

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role == Qt.DisplayRole:
            return self.text(row, column)
        if role == Qt.BackgroundRole:
            return VERDICT_COLOURS[self.correct(row, column)]
        if role == Qt.ToolTipRole:
            return experiments.cell_tooltip(self.samples(row, column)) or None
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if role != Qt.DisplayRole:
            return None
        labels = self.grid.columns if orientation == Qt.Horizontal else self.grid.cases
        return labels[section] if 0 <= section < len(labels) else None
