"""Tokenizer tab: one text, up to four tokenizers side by side, hover one token to see it in all."""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.text import tokenizers
from workbench.text.display import Utf16Index, summary_line
from workbench.ui.models import RowsModel
from workbench.ui.token_column import HIGHLIGHT_COLOUR, TokenColumn
from workbench.ui.workers import TokenizeJob, TokenizeThread

MAX_COLUMNS = 4
DEBOUNCE_MS = 250
SAMPLE_TEXT = "台湾最高的山是哪座?\nI am unkillable.\n"


class InputBox(QPlainTextEdit):
    """The text to tokenize; refuses a paste over the size limit instead of freezing on it."""

    refused = Signal(str)

    def insertFromMimeData(self, source: QMimeData) -> None:
        size = len(source.text().encode("utf-8", errors="surrogatepass"))
        if size > tokenizers.MAX_TEXT_BYTES:
            limit = tokenizers.MAX_TEXT_BYTES // 2**20
            self.refused.emit(f"the pasted text is {size / 1e6:.1f} MB; the tokenizer viewer takes up to {limit} MB")
            return
        super().insertFromMimeData(source)


class TokenizerPane(QWidget):
    """A tokenizer picker, its figures, and its chips."""

    removeRequested = Signal(object)
    changed = Signal()

    def __init__(self, choices: list[tokenizers.TokenizerInfo], name: str) -> None:
        super().__init__()
        self.picker = QComboBox()
        for info in choices:
            label = info.label if info.available else f"{info.name} (unavailable)"
            self.picker.addItem(label, info.name)
            item = self.picker.model().item(self.picker.count() - 1)
            item.setToolTip(info.description if info.available else info.reason)
            item.setEnabled(info.available)
        self.picker.setCurrentIndex(max(self.picker.findData(name), 0))
        self.picker.currentIndexChanged.connect(self.changed)
        remove = QToolButton(text="✕", toolTip="Remove this column")
        remove.clicked.connect(lambda: self.removeRequested.emit(self))
        self.stats = QLabel("")
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.column = TokenColumn()
        header = QHBoxLayout()
        header.addWidget(self.picker, 1)
        header.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(header)
        layout.addWidget(self.stats)
        layout.addWidget(self.column, 1)

    @property
    def name(self) -> str:
        return str(self.picker.currentData())


class PriceTable(QTableView):
    """Editable US$ per million input tokens; kept in the settings."""

    pricesChanged = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.rows = RowsModel(["model", "encoding", "US$ / 1M input tokens"], editable=True)
        self.setModel(self.rows)
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().hide()
        self.set_prices(tokenizers.DEFAULT_PRICES)
        self.rows.edited.connect(self.pricesChanged.emit)

    def set_prices(self, prices: list[tokenizers.Price]) -> None:
        self.rows.set_rows([[p.model, p.encoding, f"{p.usd_per_million:g}"] for p in prices])

    def prices(self) -> list[tokenizers.Price]:
        found = []
        for row in self.rows.rows:
            cells = [cell.strip() for cell in row]
            try:
                found.append(tokenizers.Price(cells[0], cells[1], float(cells[2])))
            except ValueError:
                continue  # a cell being edited into a number; shown again once it parses
        return found


class TokenizerTab(QWidget):
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker = TokenizeThread()
        self.worker.worker.columnReady.connect(self._column_ready)
        self.worker.worker.columnFailed.connect(self._column_failed)
        self.worker.worker.jobDone.connect(self._job_done)
        self.choices = self._choices()
        self.panes: list[TokenizerPane] = []
        self.job_id = 0
        self.busy = False
        self._text = ""
        self._index = Utf16Index("")
        self._build()
        for name in (tokenizers.MODEL_ALIAS, "cl100k_base"):
            self.add_column(name)
        self.input.setPlainText(SAMPLE_TEXT)

    def _choices(self) -> list[tokenizers.TokenizerInfo]:
        try:
            return tokenizers.list_tokenizers()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return []

    def _build(self) -> None:
        self.input = InputBox()
        self.input.setFont(QFont("Noto Sans Mono CJK SC", 12))
        self.input.setPlaceholderText("Type or paste text, or open a file…")
        self.input.textChanged.connect(self._debounce_start)
        self.input.refused.connect(self.message)
        self.debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS, timeout=self.tokenize_now)
        self.open_button = QPushButton("Open file…")
        self.open_button.clicked.connect(self._open_file)
        self.ids_toggle = QCheckBox("ids")
        self.bytes_toggle = QCheckBox("bytes")
        self.special_toggle = QCheckBox("parse special tokens")
        self.special_toggle.setToolTip("Read strings like <|endoftext|> or <start_of_turn> as special tokens")
        self.bos_toggle = QCheckBox("add BOS")
        for toggle in (self.ids_toggle, self.bytes_toggle, self.special_toggle, self.bos_toggle):
            toggle.toggled.connect(self.tokenize_now)
        self.add_button = QPushButton("+ tokenizer")
        self.add_button.clicked.connect(lambda: self.add_column(self._next_name()))
        self.prices_button = QPushButton("Prices…", checkable=True)
        self.price_table = PriceTable()
        self.price_table.setVisible(False)
        self.price_table.pricesChanged.connect(self._update_stats)
        self.prices_button.toggled.connect(self.price_table.setVisible)
        self.summary = QLabel("")
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        controls = QHBoxLayout()
        for widget in (self.open_button, self.ids_toggle, self.bytes_toggle, self.special_toggle, self.bos_toggle):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.add_button)
        controls.addWidget(self.prices_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.input, 1)
        top_layout.addLayout(controls)
        top_layout.addWidget(self.price_table)
        top_layout.addWidget(self.summary)
        self.columns = QSplitter(Qt.Horizontal)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.columns)
        self.splitter.setSizes([220, 580])
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

    # -- columns ---------------------------------------------------------------------------
    def add_column(self, name: str) -> None:
        if len(self.panes) >= MAX_COLUMNS:
            return
        pane = TokenizerPane(self.choices, name)
        pane.removeRequested.connect(self.remove_column)
        pane.changed.connect(self.tokenize_now)
        pane.column.hovered.connect(self._link_hover)
        self.panes.append(pane)
        self.columns.addWidget(pane)
        self.add_button.setEnabled(len(self.panes) < MAX_COLUMNS)
        self.tokenize_now()

    def remove_column(self, pane: TokenizerPane) -> None:
        if len(self.panes) <= 1:
            return
        self.panes.remove(pane)
        pane.hide()
        pane.setParent(None)
        pane.deleteLater()
        self.add_button.setEnabled(True)
        self.tokenize_now()

    def _next_name(self) -> str:
        used = {pane.name for pane in self.panes}
        for info in self.choices:
            if info.available and info.name not in used:
                return info.name
        return tokenizers.MODEL_ALIAS

    def set_names(self, names: list[str]) -> None:
        for pane in list(self.panes[len(names) :]):
            self.remove_column(pane)
        for index, name in enumerate(names[:MAX_COLUMNS]):
            if index >= len(self.panes):
                self.add_column(name)
            else:
                self.panes[index].picker.setCurrentIndex(max(self.panes[index].picker.findData(name), 0))

    # -- tokenizing ------------------------------------------------------------------------
    def _debounce_start(self) -> None:
        self.busy = True  # a tokenization is pending from here on
        self.debounce.start()

    def tokenize_now(self) -> None:
        self.debounce.stop()
        if not hasattr(self, "summary"):
            return
        text = self.input.toPlainText()
        if text != self._text:
            self._text = text
        self.job_id += 1
        if not text:
            for pane in self.panes:
                pane.column.clear_tokens()
                pane.stats.setText("")
            self.summary.setText("Empty text: nothing to tokenize.")
            self.worker.worker.latest = self.job_id
            self.busy = False
            return
        self.busy = True
        self.summary.setText("tokenizing…")
        job = TokenizeJob(
            self.job_id,
            self._text,
            tuple(pane.name for pane in self.panes),
            self.special_toggle.isChecked(),
            self.bos_toggle.isChecked(),
            self.ids_toggle.isChecked(),
            self.bytes_toggle.isChecked(),
        )
        self.worker.submit(job)

    def _column_ready(self, job_id: int, index: int, tokenization, layout) -> None:
        if job_id != self.job_id or index >= len(self.panes):
            return
        self.panes[index].column.show_tokens(tokenization, layout)
        self._update_stats()

    def _column_failed(self, job_id: int, index: int, message: str) -> None:
        if job_id != self.job_id or index >= len(self.panes):
            return
        self.panes[index].column.clear_tokens(message)
        self.panes[index].stats.setText("")
        self.message.emit(message)

    def _job_done(self, job_id: int) -> None:
        if job_id == self.job_id:
            self.busy = False
            self._update_stats()

    def _update_stats(self) -> None:
        prices = self.price_table.prices()
        counts = []
        for pane in self.panes:
            result = pane.column.tokenization
            if result is None:
                continue
            counts.append((pane.name, result.count))
            line = (
                f"<b>{result.count:,}</b> tokens · {result.chars_per_token:.2f} chars/token · "
                f"{result.bytes_per_token:.2f} bytes/token"
            )
            costs = [f"{p.model} ${p.cost(result.count):.6f}" for p in prices if p.encoding == pane.name]
            if costs:
                line += "<br>≈ " + " · ".join(costs) + " as input"
            pane.stats.setText(line)
        if self.busy:
            return
        self.summary.setText(summary_line(counts))

    # -- hover linking ---------------------------------------------------------------------
    def _link_hover(self, start: int, end: int) -> None:
        source = self.sender()
        for pane in self.panes:
            pane.column.highlight_chars(start, end, scroll=pane.column is not source)
        self._highlight_input(start, end)

    def _highlight_input(self, start: int, end: int) -> None:
        if start < 0:
            self.input.setExtraSelections([])
            return
        selection = QTextEdit.ExtraSelection()
        if self._index.text is not self._text:
            self._index = Utf16Index(self._text)
        last = self.input.document().characterCount() - 1
        cursor = QTextCursor(self.input.document())
        cursor.setPosition(min(self._index.position(start), last))
        cursor.setPosition(min(self._index.position(max(end, start + 1)), last), QTextCursor.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(HIGHLIGHT_COLOUR))
        selection.cursor, selection.format = cursor, fmt
        self.input.setExtraSelections([selection])

    # -- files and settings ----------------------------------------------------------------
    def _open_file(self) -> None:
        kinds = "Text files (*.txt *.md *.json *.jsonl *.csv *.py);;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Open a text file", "", kinds)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            text = tokenizers.read_text_file(path)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return False
        self.input.setPlainText(text)
        self.tokenize_now()
        return True

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("tokenizer/names", json.dumps([pane.name for pane in self.panes]))
        settings.setValue("tokenizer/prices", json.dumps([p.__dict__ for p in self.price_table.prices()]))
        for key, toggle in self._toggles().items():
            settings.setValue(f"tokenizer/{key}", toggle.isChecked())

    def load_settings(self, settings: QSettings) -> None:
        try:
            names = json.loads(str(settings.value("tokenizer/names", "[]")))
            prices = [tokenizers.Price(**p) for p in json.loads(str(settings.value("tokenizer/prices", "[]")))]
        except (ValueError, TypeError):
            names, prices = [], []
        if names:
            self.set_names([str(n) for n in names])
        if prices:
            self.price_table.set_prices(prices)
        for key, toggle in self._toggles().items():
            toggle.setChecked(str(settings.value(f"tokenizer/{key}", "false")).lower() == "true")

    def _toggles(self) -> dict[str, QCheckBox]:
        return {
            "ids": self.ids_toggle,
            "bytes": self.bytes_toggle,
            "special": self.special_toggle,
            "bos": self.bos_toggle,
        }

    def shutdown(self) -> None:
        self.debounce.stop()
        self.worker.shutdown()
