"""Token chips coloured by probability, with the alternatives popup (reused by every tab).

The view is one QTextEdit: each token is a run of text whose char format carries its
background colour and its index, so thousands of tokens cost no widgets and hover is a
cursor lookup. Partial UTF-8 tokens show their bytes (`<e5 8f>`) next to the token that
completes the character.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QTextEdit, QVBoxLayout, QWidget

from workbench.engine.base import NO_PROBABILITIES, PROBABILITY_NOTES, RAW_ONLY, TokenStep, TopToken
from workbench.text.display import visible_text

TOKEN_INDEX = QTextCharFormat.UserProperty + 1


def probability_colour(prob: float) -> QColor:
    """Red (unlikely) through yellow to green (certain), pale enough to read black text on."""
    prob = min(max(prob, 0.0), 1.0)
    return QColor.fromHsvF(prob * 120 / 360, 0.45, 1.0)


def chip_label(step: TokenStep | TopToken) -> str:
    if step.text:
        return visible_text(step.text)
    if step.bytes:
        return "<" + step.bytes.hex(" ") + ">"
    return f"<{step.id}>"


class TokenView(QTextEdit):
    """Shows a stream of TokenSteps as chips (or as plain text); emits the hovered / clicked index."""

    hovered = Signal(int, QPoint)  # token index (-1: none), global position
    clicked = Signal(int, QPoint)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFont(QFont("Noto Sans Mono CJK SC", 11))
        self.tokens: list[TokenStep] = []
        self.prefix = ""
        self.chips = True
        self._last_hover = -1

    def set_prefix(self, prompt: str) -> None:
        """The prompt, shown in grey before the generated tokens."""
        self.prefix = prompt
        self.rebuild()

    def clear_tokens(self) -> None:
        self.tokens = []
        self.rebuild()

    def append_tokens(self, steps: list[TokenStep]) -> None:
        start = len(self.tokens)
        self.tokens.extend(steps)
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.End)
        for offset, step in enumerate(steps):
            self._insert(cursor, start + offset, step)
        self.ensureCursorVisible()

    def set_chips(self, on: bool) -> None:
        self.chips = on
        self.rebuild()

    def plain_text(self) -> str:
        return "".join(step.text for step in self.tokens)

    def rebuild(self) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        prompt_format = QTextCharFormat()
        prompt_format.setForeground(QColor("#777777"))
        cursor.insertText(self.prefix, prompt_format)
        for index, step in enumerate(self.tokens):
            self._insert(cursor, index, step)

    def _insert(self, cursor: QTextCursor, index: int, step: TokenStep) -> None:
        fmt = QTextCharFormat()
        fmt.setProperty(TOKEN_INDEX, index)
        if not self.chips:
            cursor.insertText(step.text, fmt)
            return
        known = step.has_probability
        fmt.setBackground(probability_colour(math.exp(step.logprob)) if known else QColor("#e6e6e6"))
        if not known:
            fmt.setToolTip(PROBABILITY_NOTES[NO_PROBABILITIES])
        if not step.text:
            fmt.setForeground(QColor("#5a3e9b"))  # byte pieces of a character
        cursor.insertText(chip_label(step), fmt)
        cursor.insertText("\u200a", QTextCharFormat())  # hair space: chips stay apart

    def index_at(self, pos: QPoint) -> int:
        cursor = self.cursorForPosition(pos)
        if cursor.atBlockEnd() and cursor.position() > 0:
            return -1
        cursor.movePosition(QTextCursor.Right, QTextCursor.KeepAnchor)
        value = cursor.charFormat().property(TOKEN_INDEX)
        return int(value) if value is not None and 0 <= int(value) < len(self.tokens) else -1

    def mouseMoveEvent(self, event) -> None:
        index = self.index_at(event.position().toPoint())
        if index != self._last_hover:
            self._last_hover = index
            self.hovered.emit(index, event.globalPosition().toPoint())
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:
        index = self.index_at(event.position().toPoint())
        if index >= 0:
            self.clicked.emit(index, event.globalPosition().toPoint())
        super().mousePressEvent(event)

    def leaveEvent(self, event) -> None:
        self._last_hover = -1
        self.hovered.emit(-1, QPoint())
        super().leaveEvent(event)


class AlternativesChart(QWidget):
    """Horizontal bars: raw probability (grey) and after-sampling probability (blue) per alternative.
    A click on a row says which alternative (the owner may continue from it in the Explorer)."""

    ROW = 18
    picked = Signal(int)  # token id of the alternative

    def mousePressEvent(self, event) -> None:
        row = int((event.position().y() - 2) // self.ROW)
        if self.step is not None and 0 <= row < len(self.step.top):
            self.picked.emit(self.step.top[row].id)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step: TokenStep | None = None
        self.setMinimumWidth(400)

    def set_step(self, step: TokenStep | None) -> None:
        self.step = step
        self.setFixedHeight(self.ROW * (len(step.top) if step else 0) + 4)
        self.update()

    def paintEvent(self, event) -> None:
        if self.step is None:
            return
        painter = QPainter(self)
        label_width, bar_left = 130, 136
        bar_width = self.width() - bar_left - 100
        split = self.step.has_sampled  # a server reports raw probabilities only: nothing is "removed"
        for row, alt in enumerate(self.step.top):
            y = 2 + row * self.ROW
            removed = split and alt.logprob_sampled is None
            font = painter.font()
            font.setStrikeOut(removed)
            font.setBold(alt.id == self.step.id if split else alt.text == self.step.text)  # a server: ids -1
            painter.setFont(font)
            painter.setPen(QColor("#999999") if removed else QColor("#000000"))
            painter.drawText(QRectF(2, y, label_width, self.ROW), Qt.AlignVCenter | Qt.AlignLeft, chip_label(alt)[:18])
            raw = math.exp(alt.logprob)
            sampled = math.exp(alt.logprob_sampled) if alt.logprob_sampled is not None else 0.0
            painter.fillRect(QRectF(bar_left, y + 2, bar_width * raw, 6), QColor("#9e9e9e"))
            painter.fillRect(QRectF(bar_left, y + 9, bar_width * sampled, 6), QColor("#2f6fd6"))
            painter.setPen(QColor("#333333"))
            note = f"{raw:.1%} ✗ {alt.removed_by or ''}" if removed else f"{raw:.1%}"
            painter.drawText(QRectF(bar_left + bar_width + 4, y, 96, self.ROW), Qt.AlignVCenter, note)


LEGEND = (
    "grey: raw probability   blue: after sampling   struck out: removed\n"
    "pinned (click the token): click an alternative to continue from it in the Explorer"
)
SERVER_LEGEND = "grey: the server's raw probability (a server reports no after-sampling distribution)"


class TokenPopup(QFrame):
    """Hover card for one token: id, text, bytes, probability, rank, and the alternatives chart.
    Pinned (clicked), it offers a numeric check when its owner can run one."""

    numericCheckRequested = Signal()
    alternativeChosen = Signal(int)  # pinned: a click on an alternative ("what if the model had said this?")

    def __init__(self, parent: QWidget | None = None, can_check: bool = False) -> None:
        super().__init__(parent, Qt.ToolTip)
        self.setFrameShape(QFrame.StyledPanel)
        self.setStyleSheet("TokenPopup { background: #fffff4; border: 1px solid #888; }")
        layout = QVBoxLayout(self)
        self.header = QLabel()
        self.header.setTextFormat(Qt.PlainText)
        self.chart = AlternativesChart()
        self.chart.picked.connect(self._picked)
        self.legend = QLabel(LEGEND)
        self.legend.setStyleSheet("color: #666; font-size: 10px;")
        layout.addWidget(self.header)
        layout.addWidget(self.chart)
        layout.addWidget(self.legend)
        self.check_button = QPushButton("Numeric check: compare with the other numeric configuration")
        self.check_button.setObjectName("numeric-check")
        self.check_button.setToolTip(
            "Evaluate the same tokens in the other llama.cpp configuration (reference vs fast) and show how far "
            "the probabilities move: differences that small are arithmetic noise, not the model"
        )
        self.check_button.clicked.connect(self._request_check)
        self.check_result = QLabel()
        self.check_result.setObjectName("numeric-check-result")
        self.check_result.setWordWrap(True)
        self.check_result.setTextFormat(Qt.PlainText)
        layout.addWidget(self.check_button)
        layout.addWidget(self.check_result)
        self.can_check = can_check
        self.pinned = False
        self.step: TokenStep | None = None

    def _picked(self, token_id: int) -> None:
        if self.pinned:
            self.hide()
            self.pinned = False
            self.alternativeChosen.emit(token_id)

    def _request_check(self) -> None:
        self.check_button.setEnabled(False)
        self.check_result.setText("evaluating in the other configuration…")
        self.check_result.show()
        self.adjustSize()
        self.numericCheckRequested.emit()

    def show_check(self, text: str) -> None:
        self.check_button.setEnabled(True)
        self.check_result.setText(text)
        self.check_result.show()
        self.adjustSize()

    def toggle_pin(self, step: TokenStep, position: QPoint) -> None:
        """A click on a token: pin its card, or unpin it when that token's card is pinned already."""
        self.pinned = not (self.pinned and self.step is step)
        self.show_step(step, position)
        if not self.pinned:
            self.hide()

    def show_step(self, step: TokenStep, position: QPoint) -> None:
        if step is not self.step:
            self.check_result.hide()
            self.check_button.setEnabled(True)
        self.step = step
        self.header.setText(describe(step))
        self.chart.set_step(step)
        self.check_button.setVisible(self.can_check and self.pinned and step.has_sampled)  # not on a server
        self.legend.setText(LEGEND if step.has_sampled else SERVER_LEGEND)
        self.adjustSize()
        self.move(position + QPoint(12, 16))
        self.show()


def describe(step: TokenStep) -> str:
    if not step.has_probability:
        return f"{chip_label(step)!s}\nbytes {step.bytes.hex(' ') or '(none)'}\n{PROBABILITY_NOTES[NO_PROBABILITIES]}"
    if not step.has_sampled:
        texts = [alt.text for alt in step.top]
        rank = texts.index(step.text) + 1 if step.text in texts else None
        return (
            f"{chip_label(step)!s}  (token id not reported by the server)\nbytes {step.bytes.hex(' ') or '(none)'}\n"
            f"p = {math.exp(step.logprob):.2%} raw, {f'rank {rank}' if rank else f'rank > {len(texts)}'}\n"
            f"{PROBABILITY_NOTES[RAW_ONLY]}"
        )
    ids = [alt.id for alt in step.top]
    rank = ids.index(step.id) + 1 if step.id in ids else None
    rank_text = f"rank {rank}" if rank else f"rank > {len(ids)}"
    sampled = math.exp(step.logprob_sampled) if math.isfinite(step.logprob_sampled) else 0.0
    return (
        f"token {step.id}  {chip_label(step)!s}\n"
        f"bytes {step.bytes.hex(' ') or '(none)'}\n"
        f"p = {math.exp(step.logprob):.2%} raw, {sampled:.2%} after sampling, {rank_text}, "
        f"{step.kept} kept"
    )


class ProbabilityLegend(QWidget):
    """The colour scale of the chips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(220, 22)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        gradient = QLinearGradient(40, 0, 180, 0)
        for stop in (0.0, 0.25, 0.5, 0.75, 1.0):
            gradient.setColorAt(stop, probability_colour(stop))
        painter.fillRect(QRectF(40, 4, 140, 14), gradient)
        painter.drawText(QRectF(0, 0, 38, 22), Qt.AlignVCenter | Qt.AlignRight, "p 0%")
        painter.drawText(QRectF(184, 0, 40, 22), Qt.AlignVCenter, "100%")


def check_text(check, step: TokenStep | None = None) -> str:
    """A NumericCheck for the token card: the summary and the tokens that moved most (named as the
    card names them when the step lists them)."""
    names = {alt.id: chip_label(alt) for alt in step.top} if step is not None else {}
    moved = sorted(check.tokens, key=lambda t: -abs(t.logprob - t.logprob_other))[:5]
    lines = [check.summary()]
    lines += [
        f"  {names.get(t.id, f'token {t.id}')!s:<14} {math.exp(t.logprob):6.2%} here, "
        f"{math.exp(t.logprob_other):6.2%} in {check.other}"
        for t in moved
    ]
    return "\n".join(lines)
