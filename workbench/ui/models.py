"""Qt models over core records: the views ask for what they paint, nothing is rebuilt per refresh."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
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


class RowsModel(QAbstractTableModel):
    """A table of text under named columns, for the plain lists (models, turns, prices, few-shot examples):
    the view paints from `rows`; `set_rows` replaces them in one reset. `editable` lets the user type into
    the cells (`edited` is emitted after each change); `row_colours` gives a row's text colour."""

    edited = Signal()

    def __init__(self, headers: list[str], editable: bool = False) -> None:
        super().__init__()
        self.headers = list(headers)
        self.rows: list[list[str]] = []
        self.row_colours: dict[int, QColor] = {}
        self.editable = editable

    def set_rows(self, rows: list[list[str]], row_colours: dict[int, QColor] | None = None) -> None:
        self.beginResetModel()
        self.rows = [list(row) + [""] * (len(self.headers) - len(row)) for row in rows]
        self.row_colours = dict(row_colours or {})
        self.endResetModel()

    def set_headers(self, headers: list[str]) -> None:
        self.beginResetModel()
        self.headers = list(headers)
        self.rows = [row[: len(headers)] + [""] * (len(headers) - len(row)) for row in self.rows]
        self.endResetModel()

    def text(self, row: int, column: int) -> str:
        return self.rows[row][column]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.DisplayRole, Qt.EditRole):
            return self.rows[index.row()][index.column()]
        if role == Qt.ForegroundRole:
            return self.row_colours.get(index.row())
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlags:
        base = super().flags(index)
        return base | Qt.ItemIsEditable if self.editable else base

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.EditRole) -> bool:
        if not (self.editable and index.isValid() and role == Qt.EditRole):
            return False
        self.rows[index.row()][index.column()] = str(value)
        self.dataChanged.emit(index, index)
        self.edited.emit()
        return True

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if role != Qt.DisplayRole or orientation != Qt.Horizontal:
            return None
        return self.headers[section] if 0 <= section < len(self.headers) else None

    def append_row(self) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows))
        self.rows.append([""] * len(self.headers))
        self.endInsertRows()

    def remove_row(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.rows[row]
        self.endRemoveRows()

    def append_column(self, name: str) -> None:
        self.beginInsertColumns(QModelIndex(), len(self.headers), len(self.headers))
        self.headers.append(name)
        for row in self.rows:
            row.append("")
        self.endInsertColumns()
