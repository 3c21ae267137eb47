"""Compare tab parts: the accuracy chart with confidence intervals, the cell inspector (token view),
and the blind A/B review panel."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench import experiments
from workbench.engine.base import TokenStep
from workbench.engine.numerics import noise_note
from workbench.scoring.answers import is_correct
from workbench.ui.tabs.compare_scoring import CellScores
from workbench.ui.token_view import ProbabilityLegend, TokenPopup, TokenView

BAR_COLOUR = QColor("#4a90d9")


class AccuracyChart(QWidget):
    """One horizontal bar per template (accuracy), with its 95% interval as a whisker."""

    ROW = 24

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.setMinimumHeight(60)

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [r for r in rows if r.get("accuracy") is not None]
        self.setMinimumHeight(max(60, 24 + self.ROW * len(self.rows)))
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        widest = max((painter.fontMetrics().horizontalAdvance(row["template"]) for row in self.rows), default=0)
        label_width = min(widest + 4, self.width() // 2)
        left, right = label_width + 8, self.width() - 70
        span = max(right - left, 10)
        painter.setPen(QColor("#999"))
        for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
            x = left + tick * span
            painter.drawLine(int(x), 4, int(x), 8 + self.ROW * len(self.rows))
            painter.drawText(QRectF(x - 20, 8 + self.ROW * len(self.rows), 40, 14), Qt.AlignCenter, f"{tick:.0%}")
        for i, row in enumerate(self.rows):
            y = 6 + i * self.ROW
            painter.setPen(QColor("#222"))
            painter.drawText(QRectF(0, y, label_width, self.ROW - 4), Qt.AlignRight | Qt.AlignVCenter, row["template"])
            painter.fillRect(QRectF(left, y + 4, row["accuracy"] * span, self.ROW - 12), BAR_COLOUR)
            low, high = left + row["ci_low"] * span, left + row["ci_high"] * span
            middle = y + (self.ROW - 4) / 2
            painter.setPen(QPen(QColor("#111"), 1.5))
            painter.drawLine(int(low), int(middle), int(high), int(middle))
            for x in (low, high):
                painter.drawLine(int(x), int(middle - 5), int(x), int(middle + 5))
            painter.drawText(
                QRectF(right + 4, y, 66, self.ROW - 4), Qt.AlignVCenter, f"{row['accuracy']:.0%} n={row['n']}"
            )


class CellInspector(QDialog):
    """What one grid cell produced: the prompt, every sample's tokens with probabilities, the choices.
    Click a token to pin its card; click an alternative there to continue from it in the Explorer."""

    exploreRequested = Signal(str, bool, list, int)  # prompt, add BOS, TokenSteps up to the pinned one, alternative
    labelled = Signal()

    def __init__(self, runs: list[dict[str, Any]], parent: QWidget | None = None, store=None) -> None:
        super().__init__(parent)
        self.scores: list[CellScores] = []  # one per sample: its scorings and your label
        self.current = 0  # the sample the label keys apply to (the last one clicked)
        first = runs[0]
        self.setWindowTitle(f"{first['template']} v{first['template_version']} · case {first['case_id']}")
        self.resize(900, 640)
        layout = QVBoxLayout(self)
        prompt = QPlainTextEdit(first["prompt"], readOnly=True)
        prompt.setMaximumHeight(150)
        reference = (first["vars"] or {}).get("reference")
        wanted = f"expected: {first['expected']}" if first["expected"] is not None else ""
        wanted += f"{' · ' if wanted else ''}reference: {reference}" if reference else ""
        layout.addWidget(QLabel(f"Prompt ({first['prompt_tokens']} tokens){' · ' + wanted if wanted else ''}"))
        layout.addWidget(prompt)
        layout.addWidget(ProbabilityLegend())
        self.popup = TokenPopup(self)
        self.popup.alternativeChosen.connect(self._explore_alternative)
        self.prompt_text, self.add_bos = first["prompt"], True
        self.pinned_at: tuple[TokenView | None, int] = (None, -1)
        self.views: list[TokenView] = []
        for position, run in enumerate(runs):
            mark = experiments.MARKS[is_correct(run["score"])]
            header = f"sample {run['sample_index'] + 1} · seed {run['seed']} · answer {run['answer']!r} {mark}"
            if run.get("numerics"):
                header += f" · {run['numerics']} numerics, {run['batching']} batching"
            if run["error"]:
                header += f" · error: {run['error']}"
            layout.addWidget(QLabel(header))
            if store is not None:
                scores = CellScores(store, run)
                scores.labelled.connect(self.labelled)
                layout.addWidget(scores)
                self.scores.append(scores)
            if run["choice_logprobs"]:
                layout.addWidget(QLabel(experiments.choice_line(run["choice_logprobs"])))
                note = noise_note(run.get("noise_spread"), run.get("within_noise"))
                if note:
                    label = QLabel(note)
                    label.setObjectName("noise-note")
                    label.setStyleSheet("color: #a05a00;" if run.get("within_noise") else "color: #555;")
                    layout.addWidget(label)
                continue
            view = TokenView()
            view.append_tokens([TokenStep.from_dict(t) for t in run["tokens"] or []])
            view.hovered.connect(lambda index, pos, view=view: self._hover(view, index, pos))
            view.clicked.connect(lambda index, pos, view=view, at=position: self._pin(view, index, pos, at))
            layout.addWidget(view, 1)
            self.views.append(view)

    def keyPressEvent(self, event) -> None:
        """The label keys (P, F, 1-5, C, N) on the sample last clicked."""
        if not self.scores:
            super().keyPressEvent(event)
            return
        target = self.scores[min(self.current, len(self.scores) - 1)]
        text = event.text().lower()
        if text in ("p", "f"):
            target.mark(text == "p")
        elif text in ("1", "2", "3", "4", "5"):
            target.grade(int(text))
        elif text == "c":
            target.clear()
        elif text == "n":
            note, ok = QInputDialog.getText(self, "Note", "A note on this output:")
            if ok:
                target.note(note)
        else:
            super().keyPressEvent(event)

    def _pin(self, view: TokenView, index: int, pos: QPoint, sample: int = 0) -> None:
        self.current = sample
        self.pinned_at = (view, index)
        self.popup.toggle_pin(view.tokens[index], pos)

    def _explore_alternative(self, token_id: int) -> None:
        view, index = self.pinned_at
        if view is not None:
            self.exploreRequested.emit(self.prompt_text, self.add_bos, view.tokens[: index + 1], token_id)

    def _hover(self, view: TokenView, index: int, pos: QPoint) -> None:
        if self.popup.pinned:
            return
        if index < 0:
            self.popup.hide()
        else:
            self.popup.show_step(view.tokens[index], pos)


class ReviewPanel(QWidget):
    """Two outputs for one case, sources hidden until the pick: 1 / 2 / = (tie) / s (skip)."""

    picked = Signal(str)  # left, right, tie, skip

    def __init__(self) -> None:
        super().__init__()
        self.case_label = QLabel("")
        self.case_label.setWordWrap(True)
        self.left = QPlainTextEdit(readOnly=True)
        self.right = QPlainTextEdit(readOnly=True)
        for edit in (self.left, self.right):
            edit.setFont(QFont("Noto Sans Mono CJK SC", 11))
        self.left_source = QLabel("")
        self.right_source = QLabel("")
        self.status = QLabel("Review: press 1 or 2 for the better output, = for a tie, s to skip.")
        sides = QHBoxLayout()
        for title, edit, source in (("1", self.left, self.left_source), ("2", self.right, self.right_source)):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>Output {title}</b>"))
            column.addWidget(edit, 1)
            column.addWidget(source)
            sides.addLayout(column)
        buttons = QHBoxLayout()
        for text, choice in (("1 is better", "left"), ("2 is better", "right"), ("= tie", "tie"), ("skip", "skip")):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, choice=choice: self.picked.emit(choice))
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.case_label)
        layout.addLayout(sides, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.setFocusPolicy(Qt.StrongFocus)

    def show_pair(self, left: dict[str, Any], right: dict[str, Any], remaining: int) -> None:
        variables = ", ".join(f"{k}: {v}" for k, v in left["vars"].items())
        self.case_label.setText(f"<b>Case {left['case_id']}</b> — {variables}")
        self.left.setPlainText(left["output"])
        self.right.setPlainText(right["output"])
        self.left_source.setText("source hidden until you pick")
        self.right_source.setText("source hidden until you pick")
        self.status.setText(f"{remaining} pair(s) left · 1 / 2 / = / s")
        self.setFocus()

    def reveal(self, left: dict[str, Any], right: dict[str, Any]) -> None:
        self.left_source.setText(f"was: {left['template']} (sample {left['sample_index'] + 1})")
        self.right_source.setText(f"was: {right['template']} (sample {right['sample_index'] + 1})")

    def show_done(self) -> None:
        self.case_label.setText("Nothing left to review in this experiment.")
        self.left.clear()
        self.right.clear()

    def keyPressEvent(self, event) -> None:
        keys = {Qt.Key_1: "left", Qt.Key_2: "right", Qt.Key_Equal: "tie", Qt.Key_S: "skip"}
        if event.key() in keys:
            self.picked.emit(keys[event.key()])
            return
        super().keyPressEvent(event)
