"""The Chat tab's parts: message bubbles (assistant turns as token chips) and the "as the model sees it" pane."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableView,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.chat.conversation import ChatMessage, ChatPrompt
from workbench.text.tokenizers import Tokenization
from workbench.ui.models import RowsModel
from workbench.ui.token_view import TokenView

SPECIAL_BACKGROUND = QColor("#d8c8f0")
DROPPED_COLOUR = QColor("#b00020")
NOTICE_STYLE = "background: #fff3c4; border: 1px solid #d9b500; padding: 4px;"


class ConversationList(QWidget):
    """Saved conversations, newest first, with New / Rename / Delete / Export."""

    openRequested = Signal(int)
    newRequested = Signal()
    renameRequested = Signal()
    deleteRequested = Signal()
    exportRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.list = QListWidget()
        self.list.setObjectName("conversations")
        self.list.itemActivated.connect(self._open)
        self.list.itemClicked.connect(self._open)
        buttons = QHBoxLayout()
        for text, signal, tip in [
            ("New", self.newRequested, "a new conversation with the loaded model"),
            ("Rename", self.renameRequested, "rename the selected conversation"),
            ("Delete", self.deleteRequested, "delete the selected conversation"),
            ("Export…", self.exportRequested, "every conversation as JSONL (one per line, OpenAI chat shape)"),
        ]:
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(signal)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Conversations</b>"))
        layout.addWidget(self.list)
        layout.addLayout(buttons)

    def show_entries(self, entries: list[dict], current: int | None) -> None:
        self.list.clear()
        for entry in entries:
            item = QListWidgetItem(f"{entry['name']}\n{entry['model']} · {entry['messages']} messages")
            item.setData(Qt.UserRole, entry["id"])
            self.list.addItem(item)
            if entry["id"] == current:
                item.setSelected(True)

    def count(self) -> int:
        return self.list.count()

    def _open(self, item: QListWidgetItem) -> None:
        self.openRequested.emit(int(item.data(Qt.UserRole)))


class MessageBubble(QFrame):
    """One message. A user turn shows its text and an Edit button; an assistant turn shows its tokens
    coloured by probability (hover for alternatives), or its text when it has no tokens."""

    editRequested = Signal(int)

    def __init__(self, index: int, message: ChatMessage) -> None:
        super().__init__()
        self.index = index
        self.message = message
        self.setObjectName(f"message-{index}")
        self.setFrameShape(QFrame.StyledPanel)
        user = message.role == "user"
        self.setStyleSheet("MessageBubble { background: %s; border-radius: 6px; }" % ("#e8f0fe" if user else "#f6f6f6"))
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        title = QLabel(f"<b>{'You' if user else 'Model'}</b>")
        header.addWidget(title)
        header.addStretch()
        if message.finish_reason and message.finish_reason not in ("stop", "eos"):
            header.addWidget(QLabel(f"<i>ended: {message.finish_reason}</i>"))
        if user:
            edit = QPushButton("Edit")
            edit.setObjectName(f"edit-{index}")
            edit.setToolTip("change this message: everything after it is cut and the model answers again")
            edit.clicked.connect(lambda: self.editRequested.emit(self.index))
            header.addWidget(edit)
        layout.addLayout(header)
        if user or not message.tokens:
            body = QLabel(message.content)
            body.setWordWrap(True)
            body.setTextFormat(Qt.PlainText)
            body.setTextInteractionFlags(Qt.TextSelectableByMouse)
            layout.addWidget(body)
            self.view = None
        else:
            self.view = AnswerView()
            self.view.append_tokens(list(message.tokens))
            layout.addWidget(self.view)


class AnswerView(TokenView):
    """A TokenView that grows with its text instead of scrolling (the transcript scrolls)."""

    def __init__(self) -> None:
        super().__init__()
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.NoFrame)
        self.document().contentsChanged.connect(self._fit)
        self._fit()

    def _fit(self) -> None:
        self.document().setTextWidth(self.viewport().width())
        self.setFixedHeight(int(self.document().size().height()) + 8)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()


class PromptPane(QWidget):
    """The exact next prompt: a context meter, each turn's tokens (dropped turns marked), the notice about
    the format, and the text with special tokens marked."""

    def __init__(self) -> None:
        super().__init__()
        self.meter = QProgressBar()
        self.meter.setObjectName("context-meter")
        self.meter.setTextVisible(True)
        self.notice = QLabel()
        self.notice.setObjectName("format-notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.notice.hide()
        self.dropped = QLabel()
        self.dropped.setObjectName("dropped-notice")
        self.dropped.setWordWrap(True)
        self.dropped.setStyleSheet(NOTICE_STYLE)
        self.dropped.hide()
        self.turn_rows = RowsModel(["turn", "tokens", ""])
        self.turns = QTableView()
        self.turns.setModel(self.turn_rows)
        self.turns.setObjectName("turn-counts")
        self.turns.verticalHeader().hide()
        self.turns.horizontalHeader().setStretchLastSection(True)
        self.turns.setMaximumHeight(160)
        self.text = QTextEdit()
        self.text.setObjectName("prompt-text")
        self.text.setReadOnly(True)
        self.text.setFont(QFont("Noto Sans Mono CJK SC", 10))
        title = QLabel("<b>As the model sees it</b> — the whole history, rendered into one text, every turn")
        title.setWordWrap(True)
        legend = QLabel("special tokens are marked in violet; BOS is added by the tokenizer")
        legend.setStyleSheet("color: #666; font-size: 10px;")
        layout = QVBoxLayout(self)
        for widget in (title, self.meter, self.notice, self.dropped, self.turns, legend, self.text):
            layout.addWidget(widget)
        layout.setStretch(layout.count() - 1, 1)

    def show_prompt(self, prompt: ChatPrompt, tokens: Tokenization | None) -> None:
        """`tokens` None: a model on a server, which renders the messages itself and counts the tokens."""
        used = prompt.used
        self.meter.setRange(0, prompt.n_ctx)
        self.meter.setValue(min(used, prompt.n_ctx))
        self.meter.setFormat(f"context: {used:,} / {prompt.n_ctx:,} tokens (+{prompt.reserve:,} kept for the answer)")
        if tokens is None:
            self.meter.setFormat(f"context: counted by the server (+{prompt.reserve:,} tokens asked for the answer)")
        self.notice.setText(prompt.notice)
        self.notice.setVisible(bool(prompt.notice))
        count = len(prompt.dropped)
        self.dropped.setText(
            f"{count} oldest message(s) after the system prompt no longer fit the context and are left out "
            "of what the model sees (marked below)"
        )
        self.dropped.setVisible(count > 0)
        self._show_turns(prompt)
        if tokens is None:
            self.text.setPlainText(prompt.text)
        else:
            self._show_text(tokens)

    def show_problem(self, message: str) -> None:
        self.meter.setValue(0)
        self.meter.setFormat("context: —")
        self.notice.setText(message)
        self.notice.show()
        self.dropped.hide()
        self.turn_rows.set_rows([])
        self.text.clear()

    def _show_turns(self, prompt: ChatPrompt) -> None:
        rows = [
            [turn.role, "?" if turn.tokens is None else f"{turn.tokens:,}", "dropped" if turn.dropped else ""]
            for turn in prompt.turns
        ]
        dropped = {row: DROPPED_COLOUR for row, turn in enumerate(prompt.turns) if turn.dropped}
        self.turn_rows.set_rows(rows, dropped)
        self.turns.resizeColumnsToContents()

    def _show_text(self, tokens: Tokenization) -> None:
        """The prompt's text, with every special token (and the BOS the tokenizer adds) on violet."""
        self.text.clear()
        cursor = QTextCursor(self.text.document())
        plain, special = QTextCharFormat(), QTextCharFormat()
        special.setBackground(SPECIAL_BACKGROUND)
        special.setFontWeight(QFont.Bold)
        position = 0
        for index in range(tokens.count):
            start, end = int(tokens.char_start[index]), int(tokens.char_end[index])
            if tokens.special[index]:
                cursor.insertText(tokens.text[position:start], plain)
                # a token the tokenizer added (BOS) covers no text: its name is shown in its place
                cursor.insertText(tokens.text[start:end] if end > start else tokens.token_text(index), special)
                position = max(position, end)
        cursor.insertText(tokens.text[position:], plain)
