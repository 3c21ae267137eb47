"""Compare tab: build a grid from the library, run it off the UI thread (Stop / Resume), see the
results table, the accuracy chart with intervals and the paired tests, inspect any cell token by
token, and rate outputs blind (A/B)."""

from __future__ import annotations

import getpass
import random
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench import experiments
from workbench.engine.base import SEED_RANGE, SamplingParams
from workbench.engine.numerics import NOISE_MARK, noise_note
from workbench.errors import WorkbenchError
from workbench.experiments.scoring import SCORER_NAMES
from workbench.stops import parse_stop_list
from workbench.ui.tabs.compare_widgets import AccuracyChart, CellInspector, ReviewPanel

GREEN, RED, GREY = QColor("#c8efc4"), QColor("#f6c6c6"), QColor("#e6e6e6")


class CompareWorker(QObject):
    progress = Signal(object)  # experiments.Progress
    cellDone = Signal()
    finished = Signal(int, str)  # experiment id, status
    failed = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.stop_flag = threading.Event()

    @Slot(int, object)
    def run(self, experiment_id: int, backend) -> None:
        self.stop_flag.clear()
        try:
            status = experiments.run(
                self.store,
                experiment_id,
                lambda path: backend,
                on_progress=self.progress.emit,
                stop=self.stop_flag,
                on_cell=lambda _cell: self.cellDone.emit(),
                parallel=backend.options.n_parallel,
            )
        except WorkbenchError as err:
            self.failed.emit(str(err))
            return
        self.finished.emit(experiment_id, status)


class CompareTab(QWidget):
    message = Signal(str)
    _start = Signal(int, object)

    def __init__(self, store, settings: QSettings | None = None) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.backend = None
        self.experiment_id: int | None = None
        self.running = False
        self.cells: dict[tuple[int, int], list[dict]] = {}
        self.pairs: list = []
        self.rng = random.Random()
        self.thread = QThread()
        self.thread.setObjectName("compare")
        self.worker = CompareWorker(store)
        self.worker.moveToThread(self.thread)
        self._start.connect(self.worker.run)
        self.worker.progress.connect(self._progress)
        self.worker.cellDone.connect(self._cell_done)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.thread.start()
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
        self.template_list = QListWidget()
        self.dataset = QComboBox()
        self.samples = QSpinBox(minimum=1, maximum=64, value=1)
        self.temperatures = QLineEdit("")
        self.temperatures.setPlaceholderText("each template's (else 0)")
        self.temperatures.setToolTip("one configuration per value, e.g. 0, 0.7, 1.0; overrides every template's")
        self.top_k = QSpinBox(minimum=0, maximum=1000, value=40)
        self.top_p = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=0.95)
        self.min_p = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.01, value=0.05)
        self.repeat_penalty = QDoubleSpinBox(minimum=0.5, maximum=3.0, singleStep=0.05, value=1.0)
        self.seed = QSpinBox(minimum=0, maximum=SEED_RANGE - 1, value=1)
        self.max_tokens = QSpinBox(minimum=0, maximum=32768, value=0)
        self.max_tokens.setSpecialValueText(f"each template's (else {experiments.FALLBACK_MAX_TOKENS})")
        self.max_tokens.setToolTip("0: each template's recommended max tokens; a number overrides every template")
        self.stop_edit = QLineEdit("")
        self.stop_edit.setPlaceholderText("each template's (else \\n)")
        self.stop_edit.setToolTip("comma-separated, escapes \\n \\t \\s \\,; overrides every template's")
        self.no_stop = QCheckBox("none")
        self.no_stop.setToolTip("no stop strings for any template")
        self.no_stop.toggled.connect(lambda on: self.stop_edit.setEnabled(not on))
        stop_row = QHBoxLayout()
        stop_row.addWidget(self.stop_edit, 1)
        stop_row.addWidget(self.no_stop)
        self.scorer = QComboBox()
        self.scorer.addItem("each template's own rule", "")
        for name in SCORER_NAMES:
            self.scorer.addItem(name, name)
        form = QFormLayout()
        for label, widget in (
            ("Dataset", self.dataset),
            ("Samples per cell", self.samples),
            ("Temperature(s)", self.temperatures),
            ("Top-k", self.top_k),
            ("Top-p", self.top_p),
            ("Min-p", self.min_p),
            ("Repeat penalty", self.repeat_penalty),
            ("Seed", self.seed),
            ("Max tokens", self.max_tokens),
            ("Stop strings", stop_row),
            ("Scorer", self.scorer),
        ):
            form.addRow(label, widget)
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
        layout.addWidget(QLabel("<b>Templates</b> (tick several)"))
        layout.addWidget(self.template_list, 2)
        layout.addLayout(form)
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
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.cellDoubleClicked.connect(self.inspect)
        self.table.cellClicked.connect(self.inspect)
        self.chart = AccuracyChart()
        self.pairwise = QLabel("")
        self.pairwise.setWordWrap(True)
        self.pairwise.setTextInteractionFlags(Qt.TextSelectableByMouse)
        results = QWidget()
        layout = QVBoxLayout(results)
        layout.addLayout(filters)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.chart)
        layout.addWidget(self.pairwise)
        self.review = ReviewPanel()
        self.review.picked.connect(self.rate)
        self.result_tabs = QTabWidget()
        self.result_tabs.addTab(results, "Results")
        self.result_tabs.addTab(self.review, "Review (A/B)")
        self.result_tabs.currentChanged.connect(lambda index: index == 1 and self.next_pair())
        return self.result_tabs

    # -- library ---------------------------------------------------------------------------
    def refresh_library(self) -> None:
        ticked = set(self.selected_templates())
        self.template_list.clear()
        for template in self.store.list_templates():
            item = QListWidgetItem(f"{template.name}  (v{template.version})")
            settings = template.settings.describe()
            item.setToolTip(f"recommended: {settings}" if settings else "no recommended settings (the grid's apply)")
            item.setData(Qt.UserRole, template.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if template.name in ticked else Qt.Unchecked)
            self.template_list.addItem(item)
        current = self.dataset.currentText()
        self.dataset.clear()
        for summary in self.store.list_datasets():
            self.dataset.addItem(summary["name"])
        if current:
            self.dataset.setCurrentText(current)

    def selected_templates(self) -> list[str]:
        items = (self.template_list.item(i) for i in range(self.template_list.count()))
        return [item.data(Qt.UserRole) for item in items if item.checkState() == Qt.Checked]

    def add_template(self, name: str) -> None:
        """From the Templates tab's "Add to comparison"."""
        self.refresh_library()
        for row in range(self.template_list.count()):
            item = self.template_list.item(row)
            if item.data(Qt.UserRole) == name:
                item.setCheckState(Qt.Checked)

    def set_backend(self, backend) -> None:
        self.backend = backend

    # -- running ---------------------------------------------------------------------------
    def spec(self) -> experiments.GridSpec:
        params = SamplingParams(
            temperature=0.0,  # for templates that recommend none, when no temperatures are typed
            top_k=self.top_k.value(),
            top_p=self.top_p.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            seed=self.seed.value(),
        )
        stop = () if self.no_stop.isChecked() else parse_stop_list(self.stop_edit.text()) or None
        return experiments.grid_spec(
            templates=self.selected_templates(),
            dataset=self.dataset.currentText(),
            params=params,
            temperatures=self.temperatures.text(),
            max_tokens=self.max_tokens.value() or None,
            stop=stop,
            models=[self.backend.info.path if self.backend else None],
            samples=self.samples.value(),
            scorer=self.scorer.currentData() or None,
        )

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
        self._start.emit(experiment_id, self.backend)

    def stop(self) -> None:
        """Finish the cell in progress, then stop; Resume runs the rest."""
        self.worker.stop_flag.set()
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
            self.table.setRowCount(0)
            self.chart.set_rows([])
            self.title.setText("")

    def confirm(self, text: str) -> bool:
        return QMessageBox.question(self, "Prompt Workbench", text, QMessageBox.Yes | QMessageBox.No) == QMessageBox.Yes

    def export(self) -> None:
        if self.experiment_id is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export", f"experiment-{self.experiment_id}-runs.jsonl", "JSONL (*.jsonl);;CSV (*.csv)"
        )
        if path:
            what = "preferences" if "pref" in Path(path).name else "summary" if "summary" in Path(path).name else "runs"
            self.export_to(Path(path), what)

    def export_to(self, path: Path, what: str) -> None:
        rows = {
            "runs": experiments.run_rows,
            "preferences": experiments.preference_rows,
            "summary": lambda store, eid: experiments.summarize(store, eid)["summary"],
        }[what](self.store, self.experiment_id)
        text = experiments.to_text(rows, "csv" if path.suffix == ".csv" else "jsonl")
        try:
            partial = path.with_name(path.name + ".part")
            partial.write_text(text, encoding="utf-8")
            partial.replace(path)
        except OSError as err:
            self.message.emit(f"cannot write {path}: {err.strerror}")

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
        cases: list[str] = []
        grouped: dict[tuple[str, str], list[dict]] = {}
        for run in runs:
            if run["case_id"] not in cases:
                cases.append(run["case_id"])
            grouped.setdefault((run["case_id"], experiments.group_label(run, spec)), []).append(run)
        rows = [c for c in cases if self._row_visible([grouped.get((c, col), []) for col in columns])]
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        self.table.setVerticalHeaderLabels(rows)
        self.cells = {}
        for r, case_id in enumerate(rows):
            for c, column in enumerate(columns):
                samples = grouped.get((case_id, column), [])
                self.cells[(r, c)] = samples
                self.table.setItem(r, c, cell_item(samples))
        self.table.resizeColumnsToContents()
        self.chart.set_rows(report["summary"])
        self.pairwise.setText(pairwise_text(report["pairwise"]))

    def _row_visible(self, cells: list[list[dict]]) -> bool:
        return experiments.case_row_shown(cells, self.only_failures.isChecked(), self.only_disagreements.isChecked())

    def inspect(self, row: int, column: int) -> CellInspector | None:
        samples = self.cells.get((row, column))
        if not samples:
            return None
        dialog = CellInspector([self.store.grid_run(s["id"]) for s in samples], self)  # with their tokens
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
        self.worker.stop_flag.set()
        self.thread.quit()
        self.thread.wait(120_000)


def cell_item(samples: list[dict]) -> QTableWidgetItem:
    if not samples:
        item = QTableWidgetItem("…")
        item.setBackground(GREY)
        return item
    verdict = experiments.cell_verdict(samples)
    correct = verdict.correct
    mark = {True: "✓", False: "✗", None: "–"}[correct]
    text = f"{mark} {verdict.answer if verdict.answer is not None else '(no answer)'}"
    if verdict.samples > 1:
        text += f"  {verdict.votes}/{verdict.samples}"
    if verdict.errors:
        text += f"  ({verdict.errors} error{'s' if verdict.errors > 1 else ''})"
    notes = [noise_note(s.get("noise_spread"), s.get("within_noise")) for s in samples]
    if any(s.get("within_noise") for s in samples):
        text += f"  {NOISE_MARK}"
    item = QTableWidgetItem(text)
    item.setBackground(GREY if correct is None else GREEN if correct else RED)
    tips = [
        (s["error"] or s["output"] or "")[:400] + (f"\n{note}" if note else "")
        for s, note in zip(samples, notes, strict=True)
    ]
    item.setToolTip("\n---\n".join(tips))
    return item


def pairwise_text(pairs: list[dict]) -> str:
    lines = []
    for pair in pairs:
        verdict = "<b>a real difference</b>" if pair["significant"] else "could be noise"
        lines.append(
            f"{pair['a']} vs {pair['b']}: p = {pair['p_value']:.3g} — {verdict} "
            f"(McNemar over {pair['n']} cases; {pair['a_only_correct']} vs {pair['b_only_correct']} discordant)"
        )
    return "<br>".join(lines)
