"""Models: every registered model with its GGUF metadata, adding (file dialog or drag and drop, copied or
linked), removing, the default, per-model load settings with a memory estimate, and a quick benchmark."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench import models
from workbench.engine.numerics import NUMERICS
from workbench.errors import WorkbenchError
from workbench.models import library as model_library
from workbench.ui.models import RowsModel
from workbench.ui.tabs.servers_panel import ServersPanel
from workbench.ui.workers import LatestJob

COLUMNS = ("", "name", "architecture", "parameters", "quantization", "size", "context", "vocabulary", "source")
METADATA_ROWS = [
    ("architecture", "architecture"),
    ("description", "name in the file"),
    ("parameter_count", "parameters"),
    ("quantization", "quantization"),
    ("bits_per_weight", "bits per weight"),
    ("size_bytes", "file size"),
    ("context_length", "trained context"),
    ("vocab_size", "vocabulary"),
    ("tokenizer_model", "tokenizer"),
    ("layers", "layers"),
    ("embedding_length", "embedding size"),
    ("heads", "attention heads"),
    ("kv_heads", "K/V heads"),
    ("head_dim", "head size"),
    ("license", "license"),
    ("path", "file"),
]


def format_value(key: str, value) -> str:
    if value is None or value == "":
        return "—"
    if key == "parameter_count":
        return f"{value / 1e6:,.1f} M"
    if key == "size_bytes":
        return f"{value / 2**20:,.1f} MiB ({value:,} bytes)"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class ModelsTab(QWidget):
    message = Signal(str)
    loadRequested = Signal(str)  # model path: load it with its saved settings
    modelsChanged = Signal()

    def __init__(self, store, gpu_supported: bool) -> None:
        super().__init__()
        self.store = store
        self.gpu_supported = gpu_supported
        self.found: list[models.ModelInfo] = []
        self.bench_job = LatestJob("benchmark", self)
        self.bench_job.finished.connect(self._benchmarked)
        self.bench_job.failed.connect(self._bench_failed)
        self.setAcceptDrops(True)
        self._build()
        self.refresh()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.rows = RowsModel(COLUMNS)
        self.table = QTableView()
        self.table.setModel(self.rows)
        self.table.setObjectName("models-table")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_selected())
        buttons = QHBoxLayout()
        for text, slot in [
            ("Add GGUF…", self.add_dialog),
            ("Remove", self.remove),
            ("Set as default", self.set_default),
            ("Load", self.load_selected),
        ]:
            button = QPushButton(text)
            button.setObjectName(f"models-{text.split()[0].lower()}")
            button.clicked.connect(slot)
            buttons.addWidget(button)
        hint = QLabel("Drop a .gguf file here to add it. ★ marks the default model.")
        hint.setStyleSheet("color: #666;")
        self.notice = QLabel()
        self.notice.setObjectName("models-notice")
        self.notice.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.table)
        left_layout.addLayout(buttons)
        left_layout.addWidget(hint)
        left_layout.addWidget(self.notice)
        self.servers = ServersPanel(self.store)
        self.servers.message.connect(self.message)
        self.servers.useRequested.connect(self.loadRequested)
        self.servers.changed.connect(self.modelsChanged)
        left_layout.addWidget(self.servers)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self._build_details())
        splitter.setSizes([640, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_details(self) -> QWidget:
        self.metadata = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for key, label in METADATA_ROWS:
            value = QLabel()
            value.setObjectName(f"meta-{key}")
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            value.setWordWrap(True)
            self.values[key] = value
            self.metadata.addRow(label, value)
        self.template = QPlainTextEdit()
        self.template.setObjectName("chat-template")
        self.template.setReadOnly(True)
        self.template.setMaximumHeight(140)
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(16, 1_048_576)
        self.n_ctx.setSingleStep(512)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("auto")
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("all")
        if not self.gpu_supported:
            self.gpu_layers.setEnabled(False)
            self.gpu_layers.setToolTip("this llama.cpp build has no GPU backend (CPU only): nothing can be offloaded")
        self.numerics = QComboBox()
        for name, mode in NUMERICS.items():
            self.numerics.addItem(f"{name}: {mode.summary}", name)
        for widget in (self.n_ctx, self.threads, self.gpu_layers):
            widget.valueChanged.connect(self._estimate)
        self.numerics.activated.connect(self._estimate)
        self.estimate = QLabel()
        self.estimate.setObjectName("memory-estimate")
        self.estimate.setWordWrap(True)
        self.warnings = QLabel()
        self.warnings.setObjectName("load-warnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b00020;")
        settings = QFormLayout()
        settings.addRow("Context size", self.n_ctx)
        settings.addRow("Threads", self.threads)
        gpu_note = "" if self.gpu_supported else "  (no GPU in this build)"
        settings.addRow(f"GPU layers{gpu_note}", self.gpu_layers)
        settings.addRow("Numerics", self.numerics)
        actions = QHBoxLayout()
        for text, slot in [
            ("Save settings", self.save_settings),
            ("Save and load", self.save_and_load),
            ("Quick benchmark", self.benchmark),
        ]:
            button = QPushButton(text)
            button.setObjectName("models-" + text.lower().replace(" ", "-"))
            button.clicked.connect(slot)
            actions.addWidget(button)
        self.bench_result = QLabel()
        self.bench_result.setObjectName("benchmark-result")
        self.bench_result.setWordWrap(True)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addLayout(self.metadata)
        layout.addWidget(QLabel("<b>Chat template</b> (from the GGUF)"))
        layout.addWidget(self.template)
        layout.addWidget(QLabel("<b>Load settings</b>"))
        layout.addLayout(settings)
        layout.addWidget(self.estimate)
        layout.addWidget(self.warnings)
        layout.addLayout(actions)
        layout.addWidget(self.bench_result)
        layout.addStretch()
        return box

    # -- the list ------------------------------------------------------------------------------
    def refresh(self, select_path: str | None = None) -> None:
        try:
            self.found = models.list_models()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        rows = []
        for info in self.found:
            rows.append(
                [
                    "★" if info.is_default else "",
                    info.name,
                    info.architecture,
                    f"{info.parameter_count / 1e6:,.0f} M",
                    info.quantization,
                    f"{info.size_bytes / 2**20:,.0f} MiB",
                    f"{info.context_length:,}" if info.context_length else "—",
                    f"{info.vocab_size:,}" if info.vocab_size else "—",
                    info.source,
                ]
            )
        self.rows.set_rows(rows)
        self.table.resizeColumnsToContents()
        paths = [info.path for info in self.found]
        self.table.selectRow(paths.index(select_path) if select_path in paths else 0)

    def selected(self) -> models.ModelInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.found[rows[0].row()] if rows else None

    def _show_selected(self) -> None:
        info = self.selected()
        if info is None:
            return
        document = info.to_dict()
        for key, label in self.values.items():
            label.setText(format_value(key, document.get(key)))
        template = models.chat_template(info)
        self.template.setPlainText(template or "(none: this model was never trained on a chat format)")
        saved = model_library.saved_load_settings(info)
        for widget in (self.n_ctx, self.threads, self.gpu_layers):
            widget.blockSignals(True)
        self.n_ctx.setValue(saved.n_ctx)
        self.threads.setValue(saved.threads)
        self.gpu_layers.setValue(saved.gpu_layers)
        for widget in (self.n_ctx, self.threads, self.gpu_layers):
            widget.blockSignals(False)
        self.numerics.setCurrentIndex(max(0, self.numerics.findData(saved.numerics)))
        prefs = models.preferences().get(info.path)
        self._show_benchmark(prefs.benchmark if prefs else {})
        self._estimate()

    # -- load settings -------------------------------------------------------------------------
    def load_settings(self) -> model_library.LoadSettings:
        return model_library.LoadSettings(
            self.n_ctx.value(), self.threads.value(), self.gpu_layers.value(), self.numerics.currentData()
        )

    def _estimate(self, *_args) -> None:
        info = self.selected()
        if info is None:
            return
        settings = self.load_settings()
        estimate = model_library.memory_estimate(info, settings)
        available = (
            f"; {estimate.available_bytes / 2**20:,.0f} MiB available" if estimate.available_bytes is not None else ""
        )
        self.estimate.setText(
            f"Memory estimate: weights {estimate.weights_bytes / 2**20:,.0f} MiB + K/V cache "
            f"{estimate.kv_bytes / 2**20:,.0f} MiB ({settings.n_ctx:,} tokens) = "
            f"{estimate.total_bytes / 2**20:,.0f} MiB{available}"
        )
        self.warnings.setText("\n".join(model_library.load_warnings(info, settings)))

    def save_settings(self) -> bool:
        info = self.selected()
        if info is None:
            return False
        try:
            model_library.save_load_settings(info, self.load_settings(), self.store)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return False
        return True

    def save_and_load(self) -> None:
        if self.save_settings():
            self.loadRequested.emit(self.selected().path)

    def load_selected(self) -> None:
        info = self.selected()
        if info is not None:
            self.loadRequested.emit(info.path)

    # -- registry ------------------------------------------------------------------------------
    def add_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.add_file(Path(path), self.ask_mode(Path(path)))

    def ask_mode(self, path: Path) -> str | None:
        """Copy or link (None: cancelled), asked in a dialog."""
        box = QMessageBox(self)
        box.setWindowTitle("Add a model")
        box.setText(f"Add {path.name}:\ncopy it into the workbench's models folder, or link it where it is?")
        copy = box.addButton("Copy", QMessageBox.AcceptRole)
        link = box.addButton("Link", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return {copy: "copy", link: "link"}.get(box.clickedButton())

    def add_file(self, path: Path, mode: str | None) -> models.ModelInfo | None:
        if mode is None:
            return None
        try:
            info = model_library.add_model(path, mode, self.store)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return None
        how = "linked: the file stays where it is" if mode == "link" else f"copied to {info.path}"
        self.notice.setText(f"Added {info.name} ({how})")
        self.refresh(info.path)
        self.modelsChanged.emit()
        return info

    def remove(self) -> None:
        info = self.selected()
        if info is None:
            return
        answer = QMessageBox.question(self, "Remove model", f"Remove {info.name} from the workbench?")
        if answer == QMessageBox.Yes:
            self.remove_model(info)

    def remove_model(self, info: models.ModelInfo) -> None:
        try:
            done = model_library.remove_model(info, self.store)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.notice.setText(done)
        self.refresh()
        self.modelsChanged.emit()

    def set_default(self) -> None:
        info = self.selected()
        if info is None:
            return
        try:
            model_library.set_default(info, self.store)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.refresh(info.path)
        self.modelsChanged.emit()

    # -- drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            self.add_file(path, self.ask_mode(path))

    # -- benchmark -----------------------------------------------------------------------------
    def benchmark(self) -> None:
        info = self.selected()
        if info is None or self.bench_job.busy:
            return
        settings = self.load_settings()
        store = self.store
        self.bench_result.setText(f"measuring {info.name} with these settings…")

        def work():
            from workbench.models.engines import Overrides, open_engine

            backend = open_engine(info, Overrides.of_settings(settings))
            try:
                return info.path, model_library.quick_benchmark(backend, store)
            finally:
                backend.close()

        self.bench_job.submit(work)

    def _benchmarked(self, result) -> None:
        path, benchmark = result
        selected = self.selected()
        if selected is not None and selected.path == path:
            self._show_benchmark(benchmark)

    def _bench_failed(self, text: str) -> None:
        self.bench_result.setText("")
        self.message.emit(text)

    def _show_benchmark(self, benchmark: dict) -> None:
        if not benchmark:
            self.bench_result.setText("No benchmark yet on this machine.")
            return
        self.bench_result.setText(
            f"Quick benchmark ({benchmark['measured_at']}, {benchmark['threads']} threads, {benchmark['numerics']}): "
            f"prompt {benchmark['prompt_tokens_per_s']:,} tokens/s, generation "
            f"{benchmark['generation_tokens_per_s']:,} tokens/s"
        )

    def shutdown(self) -> None:
        self.servers.shutdown()
        self.bench_job.shutdown(120_000)
