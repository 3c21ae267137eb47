"""The Compare tab's scoring panel: the experiment's kept scorings (each template's pass rate with its interval
and mean score, paired tests), re-scoring with any assertions off the UI thread (nothing is generated again),
and the calibration of a scoring against your own labels. Figures and words are the core's
(`experiments.rescoring`, `experiments.scoring_text`), the same as `workbench rescore` and `calibrate`."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.experiments import rescoring, scoring_text
from workbench.library.assertions import AssertionSet
from workbench.ui.models import RowsModel
from workbench.ui.workers import LatestJob

SUMMARY_COLUMNS = ["template", "pass rate", "95% CI", "mean score", "n", "scorer errors"]
EXAMPLE = 'chrf  ·  rouge-l  ·  "llm-rubric:is one polite sentence"  ·  length:…  (comma-separated)'


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for row in report["summary"]:
        scored = row["pass_rate"] is not None
        rows.append(
            [
                row["template"],
                f"{row['pass_rate']:.0%}" if scored else "—",
                f"{row['ci_low']:.0%} – {row['ci_high']:.0%}" if scored else "",
                f"{row['mean_score']:.3f}" if scored else "—",
                str(row["n"]),
                str(row["scorer_errors"]),
            ]
        )
    return rows


class ScoringPanel(QWidget):
    message = Signal(str)
    rescored = Signal(str)  # the scoring's name

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.experiment_id: int | None = None
        self.report: dict[str, Any] = {}  # the scoring shown: its summary and calibration, as the CLI gives them
        self.calibrated: dict[str, Any] = {}
        self.job = LatestJob("rescore", self)
        self.job.finished.connect(self._rescored)
        self.job.failed.connect(self._rescore_failed)
        self.summary_job = LatestJob("scoring-summary", self)  # the bootstrap and kappa stay off the UI thread
        self.summary_job.finished.connect(self._show_report)
        self.summary_job.failed.connect(self.message)
        self._build()

    def _build(self) -> None:
        self.scoring = QComboBox()
        self.scoring.setObjectName("scoring-picker")
        self.scoring.currentIndexChanged.connect(self.show_scoring)
        self.rows = RowsModel(SUMMARY_COLUMNS)
        self.table = QTableView()
        self.table.setModel(self.rows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.pairwise = QLabel("")
        self.pairwise.setWordWrap(True)
        self.pairwise.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.calibration = QPlainTextEdit(readOnly=True)
        self.calibration.setObjectName("calibration")
        self.calibration.setFont(QFont("Noto Sans Mono CJK SC", 9))
        self.calibration.setMaximumHeight(130)
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Scoring:"))
        picker.addWidget(self.scoring, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(picker)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.pairwise)
        calibration_box = QGroupBox("Can this scoring stand in for you? (your labels: P / F in a cell)")
        QVBoxLayout(calibration_box).addWidget(self.calibration)
        layout.addWidget(calibration_box)
        layout.addWidget(self._build_rescore())

    def _build_rescore(self) -> QGroupBox:
        self.assertions = QLineEdit(placeholderText=EXAMPLE)
        self.assertions.setObjectName("rescore-assertions")
        self.name = QLineEdit(placeholderText="name (default: the assertions)")
        self.judge = QLineEdit(placeholderText="judge model (default: the embedded instruct model)")
        self.rescore_button = QPushButton("Re-score")
        self.rescore_button.clicked.connect(self.rescore)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        box = QGroupBox("Re-score this experiment (nothing is generated again)")
        form = QFormLayout(box)
        form.addRow("Assertions", self.assertions)
        form.addRow("Name", self.name)
        form.addRow("Judge", self.judge)
        row = QHBoxLayout()
        row.addWidget(self.rescore_button)
        row.addWidget(self.status, 1)
        form.addRow(row)
        return box

    # -- showing ---------------------------------------------------------------------------
    def set_experiment(self, experiment_id: int | None, select: str | None = None) -> None:
        self.experiment_id = experiment_id
        names = [s["name"] for s in self.store.scorings(experiment_id)] if experiment_id is not None else []
        wanted = select or self.scoring.currentText()
        self.scoring.blockSignals(True)
        self.scoring.clear()
        self.scoring.addItems(names)
        if wanted in names:
            self.scoring.setCurrentText(wanted)
        self.scoring.blockSignals(False)
        self.show_scoring()

    def show_scoring(self) -> None:
        name = self.scoring.currentText()
        if self.experiment_id is None or not name:
            self.rows.set_rows([])
            self.pairwise.setText("No scoring yet: re-score below (or give templates an assert: list).")
            self.calibration.setPlainText("")
            return
        store, experiment_id = self.store, self.experiment_id
        self.summary_job.submit(
            lambda: (
                name,
                rescoring.scoring_summary(store, experiment_id, name),
                rescoring.calibration(store, experiment_id, name),
            )
        )

    def _show_report(self, result: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        name, report, calibrated = result
        if name != self.scoring.currentText():
            return  # another scoring was picked meanwhile; its own job follows
        self.report, self.calibrated = report, calibrated
        self.rows.set_rows(summary_rows(report))
        self.table.resizeColumnsToContents()
        self.pairwise.setText("\n".join(scoring_text.pair_lines(report)))
        self.calibration.setPlainText(scoring_text.calibration_text(calibrated))

    # -- re-scoring ------------------------------------------------------------------------
    def rescore(self) -> None:
        if self.experiment_id is None or self.job.busy:
            return
        try:
            assertions = AssertionSet.parse_names(self.assertions.text())
        except WorkbenchError as err:
            self.status.setText(str(err))
            return
        experiment_id, name = self.experiment_id, self.name.text().strip() or None
        judge = self.judge.text().strip() or None
        self.rescore_button.setEnabled(False)
        self.status.setText("scoring… (judges run as a grid on the judge model)")
        self.job.submit(lambda: rescoring.rescore(self.store, experiment_id, assertions, name, judge).name)

    def _rescored(self, name: str) -> None:
        self.rescore_button.setEnabled(True)
        self.status.setText(f"kept as scoring {name!r}")
        self.set_experiment(self.experiment_id, select=name)
        self.rescored.emit(name)

    def _rescore_failed(self, message: str) -> None:
        self.rescore_button.setEnabled(True)
        self.status.setText(message)
        self.message.emit(message)

    def shutdown(self) -> None:
        self.job.shutdown()
        self.summary_job.shutdown()


LABEL_KEYS = "P: pass · F: fail · 1-5: grade · C: clear · N: note"


class CellScores(QWidget):
    """In the cell inspector, under one sample: every kept scoring's assertions (score, pass, reason or
    error; a judge's P(PASS), its first-token alternatives and its prompt in the tooltip) and your label.
    With the inspector focused: P / F label the sample, 1-5 grade it, C clears, N adds a note."""

    labelled = Signal()

    def __init__(self, store, run: dict[str, Any]) -> None:
        super().__init__()
        self.store, self.run = store, run
        self.scores = QLabel()
        self.scores.setObjectName("cell-scores")
        self.scores.setWordWrap(True)
        self.scores.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.label = QLabel()
        self.label.setObjectName("cell-label")
        self.judge_button = QPushButton("The judge's prompt and tokens…")
        self.judge_button.clicked.connect(self.show_judge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scores)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.judge_button)
        layout.addLayout(row)
        self.refresh()

    def show_judge(self) -> QDialog:
        """Every judge's prompt, its answer and the first answer token's alternatives, for this sample."""
        dialog = QDialog(self)
        dialog.setWindowTitle("What the judge saw and answered")
        dialog.resize(820, 600)
        text = QPlainTextEdit(self.scores.toolTip(), readOnly=True)
        text.setObjectName("judge-details")
        QVBoxLayout(dialog).addWidget(text)
        dialog.show()
        return dialog

    def refresh(self) -> None:
        lines, tips = [], []
        for name, kept in rescoring.cell_scorings(self.store, self.run["experiment_id"], self.run["id"]):
            overall = "error" if kept["score"] is None else f"{kept['score']:.3f} {'✓' if kept['passed'] else '✗'}"
            lines.append(f"<b>{name}</b>: {overall}")
            for result in kept["results"]:
                lines.append("&nbsp;&nbsp;" + _escape(scoring_text.result_line(result)))
                if result.get("judge"):
                    tips.append(judge_tip(result))
        self.scores.setText("<br>".join(lines) or "no scoring yet")
        self.scores.setToolTip("\n\n".join(tips))
        self.judge_button.setVisible(bool(tips))
        label = self.store.labels(self.run["experiment_id"], self.run["id"]).get(self.run["id"])
        if label is None:
            self.label.setText(f"your label: none  ({LABEL_KEYS})")
        else:
            grade = f", grade {label['grade']}" if label["grade"] else ""
            note = f", note: {label['note']}" if label["note"] else ""
            self.label.setText(f"your label: {'pass' if label['passed'] else 'fail'}{grade}{note}  ({LABEL_KEYS})")

    def current(self) -> dict[str, Any] | None:
        return self.store.labels(self.run["experiment_id"], self.run["id"]).get(self.run["id"])

    def mark(self, passed: bool) -> None:
        """P / F: your verdict; a grade or note already given stays."""
        current = self.current() or {"grade": None, "note": ""}
        self._save(passed, current["grade"], current["note"])

    def grade(self, value: int) -> None:
        current = self.current()
        if current is None:
            self.label.setText(f"label it pass (P) or fail (F) before grading it  ({LABEL_KEYS})")
            return
        self._save(current["passed"], value, current["note"])

    def note(self, text: str) -> None:
        current = self.current()
        if current is None:
            self.label.setText(f"label it pass (P) or fail (F) before adding a note  ({LABEL_KEYS})")
            return
        self._save(current["passed"], current["grade"], text)

    def clear(self) -> None:
        self._save(None, None, "")

    def _save(self, passed: bool | None, grade: int | None, note: str) -> None:
        self.store.save_label(self.run["id"], passed, grade, note)
        self.refresh()
        self.labelled.emit()


def judge_tip(result: dict[str, Any]) -> str:
    judge = result["judge"]
    alternatives = ", ".join(f"{text!r} {math.exp(logprob):.1%}" for text, logprob in judge.get("alternatives", []))
    return (
        f"{result['label']}: judge template {judge.get('template')}; P(PASS) = {result['score']:.1%} read from "
        f"token {judge.get('token_index')} ({alternatives})\n--- the judge's prompt ---\n{judge.get('prompt', '')}"
        f"\n--- its answer ---\n{judge.get('raw', '')}"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
