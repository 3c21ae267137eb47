"""Parts of the template editor: Jinja highlighting, the few-shot example table, the variable form."""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.library.templates import GenerationSettings, body_diff
from workbench.stops import format_stop_list
from workbench.ui.models import RowsModel


def _format(colour: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Bold)
    fmt.setFontItalic(italic)
    return fmt


class JinjaHighlighter(QSyntaxHighlighter):
    """{{ expressions }}, {% statements %}, {# comments #} and chat `### role` lines."""

    RULES = (
        (re.compile(r"\{\{.*?\}\}"), _format("#0b5cad", bold=True)),
        (re.compile(r"\{%.*?%\}"), _format("#8a2be2", bold=True)),
        (re.compile(r"\{#.*?#\}"), _format("#7a7a7a", italic=True)),
        (re.compile(r"^### (system|user|assistant)\s*$"), _format("#1d7a1d", bold=True)),
    )

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self.RULES:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), fmt)


class ExamplesTable(QWidget):
    """Few-shot examples as rows; columns are the keys the examples use. Emits `changed`."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.rows = RowsModel([], editable=True)
        self.table = QTableView()
        self.table.setModel(self.rows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.rows.edited.connect(self.changed.emit)
        self.column_name = QLineEdit(placeholderText="new column, e.g. reasoning")
        add_row = QPushButton("+ example")
        add_row.clicked.connect(self.add_row)
        remove_row = QPushButton("− example")
        remove_row.clicked.connect(self.remove_row)
        add_column = QPushButton("+ column")
        add_column.clicked.connect(self.add_column)
        buttons = QHBoxLayout()
        for widget in (add_row, remove_row, self.column_name, add_column):
            buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def set_examples(self, examples: tuple[dict[str, Any], ...]) -> None:
        keys: dict[str, None] = {}
        for example in examples:
            keys.update(dict.fromkeys(example))
        self.rows.headers = list(keys)
        self.rows.set_rows([[str(example.get(key, "")) for key in keys] for example in examples])

    def examples(self) -> tuple[dict[str, str], ...]:
        rows = []
        for row in self.rows.rows:
            cells = dict(zip(self.rows.headers, row, strict=True))
            if any(cells.values()):
                rows.append(cells)
        return tuple(rows)

    def add_row(self) -> None:
        self.rows.append_row()
        self.changed.emit()

    def remove_row(self) -> None:
        current = self.table.currentIndex()
        row = current.row() if current.isValid() else self.rows.rowCount() - 1
        if row >= 0:
            self.rows.remove_row(row)
            self.changed.emit()

    def add_column(self) -> None:
        name = self.column_name.text().strip() or f"field{self.rows.columnCount() + 1}"
        self.rows.append_column(name)
        self.column_name.clear()
        self.changed.emit()


class VariableForm(QWidget):
    """One line edit per template variable; values survive when the set of variables changes."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.edits: dict[str, QLineEdit] = {}
        self._values: dict[str, str] = {}

    def set_variables(self, names: tuple[str, ...]) -> None:
        if tuple(self.edits) == names:
            return
        self._values.update(self.values())
        while self.form.rowCount():
            self.form.removeRow(0)
        self.edits = {}
        for name in names:
            edit = QLineEdit(self._values.get(name, ""))
            edit.setObjectName(f"var-{name}")
            edit.textChanged.connect(lambda _text: self.changed.emit())
            self.form.addRow(name, edit)
            self.edits[name] = edit

    def values(self) -> dict[str, str]:
        return {name: edit.text().replace("\\n", "\n") for name, edit in self.edits.items()}

    def fill(self, values: dict[str, Any]) -> None:
        for name, edit in self.edits.items():
            if name in values:
                edit.setText(str(values[name]))
        self._values.update({k: str(v) for k, v in values.items()})


class SettingsForm(QWidget):
    """A template's recommended generation settings; an empty field recommends nothing."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.max_tokens = QSpinBox(minimum=0, maximum=32768, specialValueText="not set")
        self.stop = QLineEdit(placeholderText="not set; comma-separated, escapes \\n \\t \\s \\, e.g. \\nQ:")
        self.no_stop = QCheckBox("no stop strings")
        self.no_stop.toggled.connect(lambda on: self.stop.setEnabled(not on))
        self.temperature = QLineEdit(placeholderText="not set, e.g. 0")
        stop_row = QHBoxLayout()
        stop_row.addWidget(self.stop, 1)
        stop_row.addWidget(self.no_stop)
        form = QFormLayout(self)
        form.addRow(QLabel("What a comparison uses for this template unless the grid sets it for all templates."))
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("Stop strings", stop_row)
        form.addRow("Temperature", self.temperature)
        self.max_tokens.valueChanged.connect(lambda _v: self.changed.emit())
        for edit in (self.stop, self.temperature):
            edit.textChanged.connect(lambda _t: self.changed.emit())
        self.no_stop.toggled.connect(lambda _on: self.changed.emit())

    def set_settings(self, settings: GenerationSettings) -> None:
        self.max_tokens.setValue(settings.max_tokens or 0)
        self.no_stop.setChecked(settings.stop == ())
        self.stop.setText(format_stop_list(settings.stop) if settings.stop else "")
        self.temperature.setText("" if settings.temperature is None else f"{settings.temperature:g}")

    def settings(self) -> GenerationSettings:
        """Raises TemplateError for a bad temperature or stop string."""
        return GenerationSettings.from_fields(
            self.max_tokens.value(), self.stop.text(), self.no_stop.isChecked(), self.temperature.text()
        )


class HistoryPanel(QWidget):
    """Every saved version; selecting one diffs it against the editor; Restore loads it back."""

    restoreRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._show_diff)
        self.diff = QTextBrowser()
        restore = QPushButton("Restore this version into the editor")
        restore.clicked.connect(self.restoreRequested)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.diff, 2)
        layout.addWidget(restore)
        self.versions: list = []
        self._editor_text = str

    def set_versions(self, versions: list, editor_text) -> None:
        self.versions, self._editor_text = versions, editor_text
        self.list.blockSignals(True)
        self.list.clear()
        self.diff.clear()
        for version in versions:
            self.list.addItem(f"v{version.version} · {version.created_at[:19].replace('T', ' ')}")
        self.list.blockSignals(False)

    def selected(self):
        row = self.list.currentRow()
        return self.versions[row] if 0 <= row < len(self.versions) else None

    def _show_diff(self, *_args) -> None:
        version = self.selected()
        if version is not None:
            self.diff.setHtml(diff_html(version.body, self._editor_text(), f"v{version.version}", "editor"))


def diff_html(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff, removed lines red and added lines green."""
    lines = []
    for line in body_diff(old, new, old_name, new_name):
        colour = "#b00020" if line.startswith("-") else "#1d7a1d" if line.startswith("+") else "#555"
        lines.append(f"<span style='color:{colour}'>{html.escape(line) or '&nbsp;'}</span>")
    body = "<br>".join(lines) or "<i>no differences</i>"
    return f"<pre style='font-family:monospace'>{body}</pre>"
