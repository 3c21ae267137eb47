"""One tokenizer's view of a text: chips in alternating colours, drawn only where visible.

A QPlainTextEdit holds the display text (from `display.layout_column`); chip colours are
extra selections built for the tokens on screen only, so a megabyte of text costs one
document and a few hundred selections, never a widget or a format per token.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor, QTextOption
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit, QWidget

from workbench.text.display import KIND_PARTIAL, KIND_SPECIAL, ColumnLayout
from workbench.text.tokenizers import Tokenization

CHIP_COLOURS = ("#cfe3ff", "#ffe2b8", "#d4f2cc", "#f4d3f2", "#fff1a8")
SPECIAL_COLOUR = "#b9a7ff"
HIGHLIGHT_COLOUR = "#ff9f1a"


def _format(background: str | None = None, foreground: str | None = None, underline: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    if background:
        fmt.setBackground(QColor(background))
    if foreground:
        fmt.setForeground(QColor(foreground))
    if underline:
        fmt.setUnderlineStyle(QTextCharFormat.SingleUnderline)
        fmt.setUnderlineColor(QColor("#7a5c00"))
    return fmt


class TokenColumn(QPlainTextEdit):
    """Emits `hovered(char_start, char_end)` for the token under the mouse ((-1, -1) when none)."""

    hovered = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setFont(QFont("Noto Sans Mono CJK SC", 12))
        self.setLineWrapMode(QPlainTextEdit.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        self.layout_: ColumnLayout | None = None
        self.tokenization: Tokenization | None = None
        self.highlighted = range(0)
        self.highlight_span = (-1, -1)
        self.hover_index = -1
        self._chip_formats = [_format(colour) for colour in CHIP_COLOURS]
        self._partial_formats = [_format(colour, "#8a2d00") for colour in CHIP_COLOURS]
        self._special_format = _format(SPECIAL_COLOUR, "#1d0066")
        self._suffix_format = _format(foreground="#6b6b6b")
        self._label_format = _format(foreground="#7a5c00", underline=True)
        self._highlight_format = _format(HIGHLIGHT_COLOUR, "#000000", underline=True)
        self._refresh_timer = QTimer(self, singleShot=True, interval=0, timeout=self.refresh)
        self._painted_from = -1  # document position of the first visible line at the last refresh
        # not connected to start() directly: valueChanged(int) would pick the start(msec) overload
        self.verticalScrollBar().valueChanged.connect(self._schedule_refresh)
        self.updateRequest.connect(self._check_scrolled)  # layout can move the view without valueChanged

    # -- content ---------------------------------------------------------------------------
    def show_tokens(self, tokenization: Tokenization, layout: ColumnLayout) -> None:
        self.tokenization, self.layout_ = tokenization, layout
        self.hover_index = -1
        self.setExtraSelections([])
        self.setPlainText(layout.text)
        self.highlight_chars(*self.highlight_span, scroll=False)  # a re-layout (a toggle) keeps the highlight

    def clear_tokens(self, message: str = "") -> None:
        self.tokenization = self.layout_ = None
        self.highlighted = range(0)
        self.setExtraSelections([])
        self.setPlainText(message)

    def visible_tokens(self) -> range:
        if self.layout_ is None:
            return range(0)
        first = self.cursorForPosition(QPoint(0, 0)).position()
        corner = self.viewport().rect().bottomRight()
        last = self.cursorForPosition(corner).position()
        return self.layout_.tokens_between(first, last + 1)

    # -- drawing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Chip colours for the tokens on screen (and the highlighted ones), nothing else."""
        layout = self.layout_
        if layout is None:
            return
        self._painted_from = self.firstVisibleBlock().position()
        shown = self.visible_tokens()
        selections = [self._chip(layout, i) for i in shown]
        selections += [self._suffix(layout, i) for i in shown if layout.text_end[i] < layout.seg_end[i]]
        lo = int(np.searchsorted(layout.label_last, shown.start, side="left"))
        hi = int(np.searchsorted(layout.label_first, shown.stop, side="left"))
        label = self._label_format
        selections += [self._selection(layout.label_start[k], layout.label_end[k], label) for k in range(lo, hi)]
        lit = range(max(self.highlighted.start, shown.start), min(self.highlighted.stop, shown.stop))
        selections += [self._selection(layout.seg_start[i], layout.text_end[i], self._highlight_format) for i in lit]
        self.setExtraSelections(selections)

    def _schedule_refresh(self) -> None:
        self._refresh_timer.start(0)

    def _check_scrolled(self, _rect, _dy: int) -> None:
        if self.layout_ is not None and self.firstVisibleBlock().position() != self._painted_from:
            self._refresh_timer.start(0)

    def _chip(self, layout: ColumnLayout, index: int) -> QTextEdit.ExtraSelection:
        kind = layout.kind[index]
        if kind == KIND_SPECIAL:
            fmt = self._special_format
        else:
            formats = self._partial_formats if kind == KIND_PARTIAL else self._chip_formats
            fmt = formats[index % len(formats)]
        return self._selection(layout.seg_start[index], layout.text_end[index], fmt)

    def _suffix(self, layout: ColumnLayout, index: int) -> QTextEdit.ExtraSelection:
        return self._selection(layout.text_end[index], layout.seg_end[index], self._suffix_format)

    def _selection(self, start: int, end: int, fmt: QTextCharFormat) -> QTextEdit.ExtraSelection:
        selection = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.document())
        cursor.setPosition(int(start))
        cursor.setPosition(int(end), QTextCursor.KeepAnchor)
        selection.cursor = cursor
        selection.format = fmt
        return selection

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refresh_timer.start(0)

    # -- linking ---------------------------------------------------------------------------
    def token_at(self, point: QPoint) -> int:
        if self.layout_ is None:
            return -1
        position = self.cursorForPosition(point).position()
        index = self.layout_.token_at(position)
        if index < 0:  # the cursor lands after the character under the mouse on its right half
            index = self.layout_.token_at(position - 1)
        if index < 0:
            label = self.layout_.label_at(position)
            if label >= 0:
                index = int(self.layout_.label_first[label])
        return index

    def mouseMoveEvent(self, event) -> None:
        super().mouseMoveEvent(event)
        index = self.token_at(event.position().toPoint())
        if index == self.hover_index:
            return
        self.hover_index = index
        if index < 0 or self.tokenization is None:
            self.hovered.emit(-1, -1)
            return
        start, end = int(self.tokenization.char_start[index]), int(self.tokenization.char_end[index])
        self.setToolTip(self._describe(index))
        self.hovered.emit(start, end)

    def _describe(self, index: int) -> str:
        tokenization = self.tokenization
        piece = tokenization.pieces[index]
        return (
            f"token {index + 1} of {tokenization.count} · id {tokenization.ids[index]}\n"
            f"bytes {piece.hex(' ')} · characters {tokenization.char_start[index]}–{tokenization.char_end[index]}"
        )

    def leaveEvent(self, event) -> None:
        super().leaveEvent(event)
        self.hover_index = -1
        self.hovered.emit(-1, -1)

    def highlight_chars(self, start: int, end: int, scroll: bool) -> range:
        """Highlight every token that overlaps characters [start, end); returns their index range."""
        tokenization = self.tokenization
        self.highlight_span = (start, end)
        if tokenization is None or start < 0:
            self.highlighted = range(0)
        else:
            lo = int(np.searchsorted(tokenization.char_end, start, side="right"))
            hi = int(np.searchsorted(tokenization.char_start, max(end, start + 1), side="left"))
            self.highlighted = range(lo, max(lo, hi))
        if scroll and self.highlighted and self.highlighted.start not in self.visible_tokens():
            cursor = QTextCursor(self.document())
            cursor.setPosition(int(self.layout_.seg_start[self.highlighted.start]))
            self.setTextCursor(cursor)
            self.centerCursor()
        self.refresh()
        return self.highlighted

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape:
            self.highlight_chars(-1, -1, scroll=False)
        super().keyPressEvent(event)
