"""Compare tab: build a grid from the library, run it off the UI thread (Stop / Resume), see the
results table, the accuracy chart with intervals and the paired tests, inspect any cell token by
token, and rate outputs blind (A/B). Every figure and mark comes from `workbench.experiments`."""

from __future__ import annotations

import getpass
import random
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import experiments
from workbench.engine.base import Backend
from workbench.errors import WorkbenchError
from workbench.ui.models import ResultsModel
from workbench.ui.tabs.compare_builder import GridBuilder
from workbench.ui.tabs.compare_scoring import ScoringPanel
from workbench.ui.tabs.compare_widgets import AccuracyChart, CellInspector, ReviewPanel
from workbench.ui.workers import GridThread

# "File type" choices of the export dialog: the kind and format are said, never guessed from the name
EXPORT_FILTERS = {
    f"{kind.capitalize()} ({fmt.upper()}) (*.{fmt})": (kind, fmt)
    for kind in experiments.EXPORT_KINDS
    for fmt in experiments.EXPORT_FORMATS
}


class CompareTab(QWidget):
    message = Signal(str)
    exploreRequested = Signal(str, bool, list, int)  # from a cell's token card: continue in the Explorer

    def __init__(self, store, settings: QSettings | None = None) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.backend: Backend | None = None
        self.experiment_id: int | None = None
        self.running = False
        self.pairs: list = []
        self.rng = random.Random()
        self.grid_thread = GridThread(store, self)
        worker = self.grid_thread.worker
        worker.progress.connect(self._progress)
        worker.cellDone.connect(self._cell_done)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        self.refresh_timer = QTimer(self, singleShot=True, interval=400, timeout=self.show_results)
        self._build()
        self.refresh_library()
        self.refresh_experiments()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self._build_builder())
        splitter.addWidget(self._build_results())
        splitter.setSizes([360, 1000])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_builder(self) -> QWidget:
        self.builder = GridBuilder(self.store)
        self.run_button = QPushButton("Run grid")
        self.run_button.clicked.connect(self.start_new)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume", enabled=False)
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.stop_button, self.resume_button):
            buttons.addWidget(button)
        self.progress_bar = QProgressBar()
        self.progress_label = QLabel("")
        self.experiments = QListWidget()
        self.experiments.currentItemChanged.connect(self._open_selected)
        manage = QHBoxLayout()
        for text, slot in (("Rename…", self.rename), ("Delete…", self.delete), ("Export…", self.export)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            manage.addWidget(button)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.builder, 3)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(QLabel("<b>Experiments</b>"))
        layout.addWidget(self.experiments, 1)
        layout.addLayout(manage)
        return panel

    def _build_results(self) -> QWidget:
        self.only_disagreements = QCheckBox("only disagreements")
        self.only_failures = QCheckBox("only failures")
        for box in (self.only_disagreements, self.only_failures):
            box.toggled.connect(self.show_results)
        self.title = QLabel("")
        filters = QHBoxLayout()
        filters.addWidget(self.title, 1)
        filters.addWidget(self.only_disagreements)
        filters.addWidget(self.only_failures)
        self.results = ResultsModel()
        self.table = QTableView()
        self.table.setModel(self.results)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.clicked.connect(lambda index: self.inspect(index.row(), index.column()))
        self.chart = AccuracyChart()
        self.pairwise = QLabel("")
        self.pairwise.setWordWrap(True)
        self.pairwise.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.pairwise.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        pairwise_scroll = QScrollArea()  # a many-template or many-model grid has many pairs: they scroll
        pairwise_scroll.setWidgetResizable(True)
        pairwise_scroll.setWidget(self.pairwise)
        pairwise_scroll.setMaximumHeight(150)
        self.title.setWordWrap(True)
        results = QWidget()
        layout = QVBoxLayout(results)
        layout.addLayout(filters)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.chart)
        layout.addWidget(pairwise_scroll)
        self.review = ReviewPanel()
        self.review.picked.connect(self.rate)
        self.result_tabs = QTabWidget()
        self.result_tabs.addTab(results, "Results")
        self.result_tabs.addTab(self.review, "Review (A/B)")
        self.scoring = ScoringPanel(self.store)
        self.scoring.message.connect(self.message)
        self.result_tabs.addTab(self.scoring, "Scoring")
        self.result_tabs.currentChanged.connect(lambda index: index == 1 and self.next_pair())
        return self.result_tabs

    # -- library ---------------------------------------------------------------------------
    def refresh_library(self) -> None:
        self.builder.refresh_library()

    def selected_templates(self) -> list[str]:
        return self.builder.selected_templates()

    def add_template(self, name: str) -> None:
        """From the Templates tab's "Add to comparison"."""
        self.builder.tick(name)

    def set_backend(self, backend: Backend | None) -> None:
        self.backend = backend

    def release_backend(self) -> None:
        """Another model is loading: stop the grid after its current cell (Resume continues it on the new
        model) and run nothing until it is loaded."""
        self.backend = None
        if self.running:
            self.stop()

    # -- running ---------------------------------------------------------------------------
    def spec(self) -> experiments.GridSpec:
        return self.builder.spec(self.backend.info.path if self.backend else None)

    def start_new(self, confirm_large: bool = False) -> None:
        if self.backend is None:
            self.message.emit("the model is still loading")
            return
        try:
            experiment_id = experiments.plan(self.store, self.spec(), confirm_large=bool(confirm_large))
        except experiments.ConfirmationNeeded as err:
            if self.ask_large(str(err)):
                self.start_new(confirm_large=True)
            return
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.refresh_experiments(select=experiment_id)
        self._launch(experiment_id)

    def ask_large(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Large grid", f"{text}. Run it?", QMessageBox.Yes | QMessageBox.No)
        return answer == QMessageBox.Yes

    def resume(self) -> None:
        if self.experiment_id is not None and self.backend is not None:
            self._launch(self.experiment_id)

    def _launch(self, experiment_id: int) -> None:
        self.experiment_id = experiment_id
        self.running = True
        self._set_buttons()
        self.progress_label.setText("starting…")
        self.grid_thread.start_run.emit(experiment_id, self.backend)

    def stop(self) -> None:
        """Finish the cell in progress, then stop; Resume runs the rest."""
        self.grid_thread.stop()
        self.progress_label.setText("stopping after the current cell…")

    def _progress(self, progress: experiments.Progress) -> None:
        self.progress_bar.setMaximum(progress.total)
        self.progress_bar.setValue(progress.done)
        self.progress_label.setText(progress.line())

    def _cell_done(self) -> None:
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()

    def _finished(self, experiment_id: int, status: str) -> None:
        self.running = False
        self._set_buttons()
        self.progress_label.setText(f"experiment {experiment_id}: {status}")
        if status == "failed":
            failed = self.store.experiment(experiment_id)["failed_cells"]
            self.progress_label.setText(
                f"experiment {experiment_id}: {failed} cell(s) failed on the server (their error is in the table); "
                "Resume runs them again"
            )
        self.refresh_experiments(select=experiment_id)
        self.show_results()

    def _failed(self, message: str) -> None:
        self.running = False
        self._set_buttons()
        self.message.emit(message)

    def _set_buttons(self) -> None:
        self.run_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)
        unfinished = False
        if self.experiment_id is not None and not self.running:
            experiment = self.store.experiment(self.experiment_id)
            unfinished = experiment["done_cells"] < experiment["total_cells"]
        self.resume_button.setEnabled(unfinished)

    # -- experiments -----------------------------------------------------------------------
    def refresh_experiments(self, select: int | None = None) -> None:
        self.experiments.blockSignals(True)
        self.experiments.clear()
        for experiment in self.store.list_experiments():
            text = f"#{experiment['id']} {experiment['name']}\n    {experiment['status']} · "
            text += f"{experiment['done_cells']}/{experiment['total_cells']} · {experiment['created_at'][:16]}"
            item = QListWidgetItem(text)
            item.setData(Qt.UserRole, experiment["id"])
            self.experiments.addItem(item)
            if experiment["id"] == (select or self.experiment_id):
                self.experiments.setCurrentItem(item)
        self.experiments.blockSignals(False)

    def _open_selected(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is not None and not self.running:
            self.open_experiment(item.data(Qt.UserRole))

    def open_experiment(self, experiment_id: int) -> None:
        self.experiment_id = experiment_id
        self.pairs = []
        self._set_buttons()
        self.show_results()

    def rename(self) -> None:
        if self.experiment_id is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename experiment", "Name:", text=self.store.experiment(self.experiment_id)["name"]
        )
        if ok and name.strip():
            self.store.set_experiment(self.experiment_id, name=name.strip())
            self.refresh_experiments()

    def delete(self) -> None:
        if self.experiment_id is None or self.running:
            return
        if self.confirm(f"Delete experiment #{self.experiment_id} with all its runs and ratings?"):
            self.store.delete_experiment(self.experiment_id)
            self.experiment_id = None
            self.refresh_experiments()
            self.results.set_grid(experiments.ResultsGrid((), (), {}))
            self.chart.set_rows([])
            self.title.setText("")

    def confirm(self, text: str) -> bool:
        return QMessageBox.question(self, "Prompt Workbench", text, QMessageBox.Yes | QMessageBox.No) == QMessageBox.Yes

    def export(self) -> None:
        """Runs, preferences or the summary, as JSONL or CSV: the kind is the chosen file type."""
        if self.experiment_id is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export", f"experiment-{self.experiment_id}-runs.jsonl", ";;".join(EXPORT_FILTERS)
        )
        if path:
            kind, fmt = EXPORT_FILTERS.get(chosen, ("runs", "jsonl"))
            self.export_to(Path(path), kind, fmt)

    def export_to(self, path: Path, kind: str, fmt: str) -> None:
        try:
            count = experiments.write_export(self.store, self.experiment_id, kind, fmt, path)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.progress_label.setText(f"wrote {count} {kind} rows to {path.name}")

    # -- results ---------------------------------------------------------------------------
    def show_results(self) -> None:
        if self.experiment_id is None:
            return
        try:
            report = experiments.summarize(self.store, self.experiment_id)
            spec = self.store.experiment(self.experiment_id)["spec"]
            runs = self.store.experiment_runs(self.experiment_id, with_tokens=False)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        speed = report["throughput"]
        rate = (
            f" · {speed['cells_per_s']:.2f} cells/s, {speed['completion_tokens_per_s']:.1f} generated tok/s"
            if speed["cells_per_s"]
            else ""
        )
        self.title.setText(
            f"<b>{report['name']}</b> — {report['done']}/{report['total']} cells, {report['status']}{rate}"
        )
        columns = [row["template"] for row in report["summary"]]
        grid = experiments.results_grid(
            runs, spec, columns, self.only_failures.isChecked(), self.only_disagreements.isChecked()
        )
        self.results.set_grid(grid)
        self.table.resizeColumnsToContents()
        self.chart.set_rows(report["summary"])
        self.pairwise.setText("<br>".join(experiments.pairwise_line(pair) for pair in report["pairwise"]))
        if self.scoring.experiment_id != self.experiment_id or not self.running:
            self.scoring.set_experiment(self.experiment_id)

    def inspect(self, row: int, column: int) -> CellInspector | None:
        if not (0 <= row < self.results.rowCount() and 0 <= column < self.results.columnCount()):
            return None
        samples = self.results.samples(row, column)
        if not samples:
            return None
        dialog = CellInspector([self.store.grid_run(s["id"]) for s in samples], self, self.store)  # with tokens
        dialog.exploreRequested.connect(self.exploreRequested)
        dialog.labelled.connect(self.scoring.show_scoring)
        dialog.show()
        return dialog

    # -- review ----------------------------------------------------------------------------
    def next_pair(self) -> None:
        if self.experiment_id is None:
            self.review.show_done()
            return
        if not self.pairs:
            self.pairs = experiments.review_pairs(self.store, self.experiment_id, self.rng)
        if not self.pairs:
            self.review.show_done()
            return
        left, right = self.pairs[0]
        self.review.show_pair(left, right, len(self.pairs))

    def rate(self, choice: str) -> None:
        if not self.pairs or self.experiment_id is None:
            return
        left, right = self.pairs.pop(0)
        rater = str(self.settings.value("compare/rater", getpass.getuser())) if self.settings else getpass.getuser()
        experiments.rate(self.store, self.experiment_id, left["id"], right["id"], choice, rater)
        self.review.reveal(left, right)
        QTimer.singleShot(600, self.next_pair)
        self.refresh_timer.start()

    def shutdown(self) -> None:
        self.refresh_timer.stop()
        self.scoring.shutdown()
        self.grid_thread.shutdown()
