"""Chat: conversations with a system prompt, streamed answers as token chips, and the whole history as
the model sees it. A chat model has no memory: every turn it reads the rendered history on the right."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from workbench import models
from workbench.chat import session
from workbench.chat.conversation import ChatMessage, ChatSettings, Conversation
from workbench.chat.server_chat import renderer_for
from workbench.engine.base import Backend, SamplingParams
from workbench.errors import WorkbenchError
from workbench.library.chat_formats import BUILTIN_FORMATS, MODEL_FORMAT
from workbench.text import tokenizers
from workbench.ui.tabs.chat_widgets import AnswerView, ConversationList, MessageBubble, PromptPane
from workbench.ui.tabs.playground import SliderSpin
from workbench.ui.token_view import TokenPopup
from workbench.ui.workers import ChatThread, LatestJob


class ChatTab(QWidget):
    message = Signal(str)
    loadModelRequested = Signal(str)  # a conversation's model path
    turnFinished = Signal()  # the model's turn ended (answered, stopped or failed) and is shown

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.backend: Backend | None = None
        self.conversation: Conversation | None = None
        self.editing: int | None = None
        self.streaming: AnswerView | None = None
        self.worker = ChatThread(store, self)
        self.worker.worker.tokens.connect(self._tokens)
        self.worker.worker.answered.connect(self._answered)
        self.worker.worker.failed.connect(self._failed)
        self.preview_job = LatestJob("chat-prompt", self)
        self.preview_job.finished.connect(lambda result: self.prompt_pane.show_prompt(*result))
        self.preview_job.failed.connect(lambda text: self.prompt_pane.show_problem(text))
        self.preview_timer = QTimer(self, singleShot=True, interval=250)
        self.preview_timer.timeout.connect(self.refresh_prompt)
        self.popup = TokenPopup(self)
        self._build()
        self.refresh_list()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Horizontal)
        self.conversations = ConversationList()
        self.conversations.openRequested.connect(self.open_conversation)
        for name, slot in (("new", self.new_conversation), ("rename", self.rename), ("delete", self.delete)):
            getattr(self.conversations, f"{name}Requested").connect(slot)
        self.conversations.exportRequested.connect(self.export)
        splitter.addWidget(self.conversations)
        splitter.addWidget(self._build_conversation())
        self.prompt_pane = PromptPane()
        splitter.addWidget(self.prompt_pane)
        splitter.setSizes([200, 620, 460])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_conversation(self) -> QWidget:
        self.system = QPlainTextEdit()
        self.system.setObjectName("system-prompt")
        self.system.setPlaceholderText("System prompt (optional): who the assistant is, how it answers")
        self.system.setMaximumHeight(70)
        self.system.textChanged.connect(self._settings_changed)
        self.format = QComboBox()
        self.format.setObjectName("chat-format")
        self.format.addItem("the model's own chat template", MODEL_FORMAT)
        for name, builtin in BUILTIN_FORMATS.items():
            self.format.addItem(builtin.label, name)
        self.format.activated.connect(self._settings_changed)
        self.temperature = SliderSpin(0.0, 2.0, 0.05, 2, 0.7)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 4096)
        self.max_tokens.setValue(256)
        self.max_tokens.valueChanged.connect(self._settings_changed)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.load_button = QPushButton("Load this conversation's model")
        self.load_button.hide()
        self.load_button.clicked.connect(lambda: self.loadModelRequested.emit(self.conversation.model_path))
        form = QFormLayout()
        form.addRow("System", self.system)
        form.addRow("Format", self.format)
        form.addRow("Temperature", self.temperature)
        form.addRow("Max tokens", self.max_tokens)
        self.transcript = QVBoxLayout()
        self.transcript.addStretch()
        holder = QWidget()
        holder.setLayout(self.transcript)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(holder)
        self.input = QPlainTextEdit()
        self.input.setObjectName("chat-input")
        self.input.setPlaceholderText("Your message. Ctrl+Enter sends.")
        self.input.setMaximumHeight(90)
        self.input.textChanged.connect(self.preview_timer.start)
        self.edit_banner = QLabel()
        self.edit_banner.setStyleSheet("background: #fff3c4; padding: 3px;")
        self.edit_banner.hide()
        buttons = QHBoxLayout()
        self.send_button = self._button("Send", self.send, buttons)
        self.stop_button = self._button("Stop", self.stop, buttons)
        self.regenerate_button = self._button("Regenerate", self.regenerate, buttons)
        self.cancel_edit_button = self._button("Cancel edit", self.cancel_edit, buttons)
        self.cancel_edit_button.hide()
        self.stop_button.setEnabled(False)
        box = QWidget()
        layout = QVBoxLayout(box)
        for item in (self.model_label, self.load_button):
            layout.addWidget(item)
        layout.addLayout(form)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.edit_banner)
        layout.addWidget(self.input)
        layout.addLayout(buttons)
        return box

    def _button(self, text: str, slot, row: QHBoxLayout) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(f"chat-{text.lower().replace(' ', '-')}")
        button.clicked.connect(slot)
        row.addWidget(button)
        return button

    # -- model -------------------------------------------------------------------------------
    def set_backend(self, backend: Backend | None) -> None:
        self.backend = backend
        if self.conversation is None and backend is not None:
            self.conversation = self._fresh(backend.info)
        self._show_model()
        self.preview_timer.start()

    def release_backend(self) -> None:
        self.stop()
        self.backend = None

    def _fresh(self, info: models.ModelInfo) -> Conversation:
        return session.new_conversation(info, chat_format=MODEL_FORMAT, settings=self.settings())

    def _model_matches(self) -> bool:
        return bool(self.backend and self.conversation and self.backend.info.path == self.conversation.model_path)

    def _show_model(self) -> None:
        if self.conversation is None:
            self.model_label.setText("no model is loaded")
            return
        matches = self._model_matches()
        self.model_label.setText(
            f"<b>{self.conversation.name}</b> with {self.conversation.model}"
            + ("" if matches else " — <span style='color:#b00020'>not the loaded model</span>")
        )
        self.load_button.setVisible(not matches)
        self.send_button.setEnabled(matches)
        self.regenerate_button.setEnabled(matches and bool(self.conversation.messages))

    # -- settings ----------------------------------------------------------------------------
    def settings(self) -> ChatSettings:
        params = SamplingParams(temperature=self.temperature.value())
        return ChatSettings(params, self.max_tokens.value())

    def _current(self) -> Conversation:
        """The open conversation with the system prompt, format and settings as shown."""
        assert self.conversation is not None
        return replace(
            self.conversation,
            system_prompt=self.system.toPlainText().strip(),
            chat_format=self.format.currentData(),
            settings=self.settings(),
        )

    def _settings_changed(self, *_args) -> None:
        self.preview_timer.start()

    # -- the prompt as the model sees it --------------------------------------------------------
    def refresh_prompt(self) -> None:
        if self.conversation is None:
            return
        conversation = self._current()
        preview = session.next_turn_preview(conversation, self.input.toPlainText(), self.editing)
        n_ctx = self.backend.n_ctx if self._model_matches() else 4096
        info = models.resolve(conversation.model_path)

        def work():
            renderer = renderer_for(info, preview.chat_format)
            prompt = renderer.prompt(preview, n_ctx)
            if info.source == "remote":  # the server renders and counts: the messages it receives are shown
                return prompt, None
            return prompt, tokenizers.tokenize(renderer.tokenizer, prompt.text, special=True, bos=prompt.add_bos)

        self.preview_job.submit(work)

    # -- conversation list ---------------------------------------------------------------------
    def refresh_list(self) -> None:
        current = self.conversation.id if self.conversation is not None else None
        self.conversations.show_entries(self.store.list_conversations(), current)

    def open_conversation(self, conversation_id: int) -> None:
        try:
            conversation = session.load(self.store, conversation_id)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.conversation = conversation
        self.cancel_edit()
        self.system.blockSignals(True)
        self.system.setPlainText(conversation.system_prompt)
        self.system.blockSignals(False)
        self.format.setCurrentIndex(max(0, self.format.findData(conversation.chat_format)))
        self.temperature.set_value(conversation.settings.params.temperature)
        self.max_tokens.setValue(conversation.settings.max_tokens)
        self._show_messages()

    def new_conversation(self) -> None:
        if self.backend is None:
            self.message.emit("load a model first: a conversation is held with one model")
            return
        self.conversation = self._fresh(self.backend.info)
        self.system.clear()
        self.cancel_edit()
        self._show_messages()

    def rename(self) -> None:
        if self.conversation is None or self.conversation.id is None:
            return
        name, ok = QInputDialog.getText(self, "Rename conversation", "Name:", text=self.conversation.name)
        if ok:
            try:
                self.store.rename_conversation(self.conversation.id, name)
            except WorkbenchError as err:
                self.message.emit(str(err))
                return
            self.conversation = session.load(self.store, self.conversation.id)
            self.refresh_list()
            self._show_model()

    def delete(self) -> None:
        if self.conversation is None or self.conversation.id is None:
            return
        answer = QMessageBox.question(self, "Delete conversation", f"Delete “{self.conversation.name}”?")
        if answer != QMessageBox.Yes:
            return
        self.store.delete_conversation(self.conversation.id)
        self.conversation = self._fresh(self.backend.info) if self.backend else None
        self.refresh_list()
        self._show_messages()

    def export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export conversations", "conversations.jsonl", "JSONL (*.jsonl)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> int:
        try:
            ids = [entry["id"] for entry in self.store.list_conversations()]
            count = session.export_jsonl([session.load(self.store, i) for i in ids], path)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return 0
        self.model_label.setText(f"exported {count} conversation(s) to {path}")
        return count

    # -- messages ----------------------------------------------------------------------------
    def _show_messages(self) -> None:
        while self.transcript.count() > 1:
            widget = self.transcript.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for index, chat_message in enumerate(self.conversation.messages if self.conversation else ()):
            self._add_bubble(index, chat_message)
        self._show_model()
        self.preview_timer.start()

    def _add_bubble(self, index: int, chat_message: ChatMessage) -> MessageBubble:
        bubble = MessageBubble(index, chat_message)
        bubble.editRequested.connect(self.start_edit)
        if bubble.view is not None:
            self._connect_view(bubble.view)
        self.transcript.insertWidget(self.transcript.count() - 1, bubble)
        QTimer.singleShot(
            0, lambda: self.scroll.verticalScrollBar().setValue(self.scroll.verticalScrollBar().maximum())
        )
        return bubble

    def _connect_view(self, view: AnswerView) -> None:
        def hovered(index: int, position) -> None:
            if index < 0:
                if not self.popup.pinned:
                    self.popup.hide()
            elif not self.popup.pinned:
                self.popup.show_step(view.tokens[index], position)

        view.hovered.connect(hovered)
        view.clicked.connect(lambda index, position: self.popup.toggle_pin(view.tokens[index], position))

    def start_edit(self, index: int) -> None:
        self.editing = index
        self.input.setPlainText(self.conversation.messages[index].content)
        cut = len(self.conversation.messages) - index - 1
        self.edit_banner.setText(
            f"Editing message {index + 1}: sending replaces it and cuts the {cut} message(s) after it"
        )
        self.edit_banner.show()
        self.cancel_edit_button.show()
        self.input.setFocus()

    def cancel_edit(self) -> None:
        self.editing = None
        self.edit_banner.hide()
        self.cancel_edit_button.hide()
        self.preview_timer.start()

    def send(self) -> None:
        if not self._model_matches():
            self.message.emit("this conversation is held with another model: load it first")
            return
        text = self.input.toPlainText()
        try:
            current = self._current()
            if self.editing is not None:
                conversation = session.edit_user_message(current, self.editing, text)
            else:
                conversation = session.add_user_message(current, text)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.input.clear()
        self.cancel_edit()
        self._start(conversation)

    def regenerate(self) -> None:
        if not self._model_matches() or self.conversation is None:
            return
        try:
            conversation = session.without_last_answer(self._current())
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self._start(conversation)

    def _start(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self._show_messages()
        bubble = self._add_bubble(len(conversation.messages), ChatMessage("assistant", "…", ()))
        bubble.setObjectName("streaming")
        self.streaming = AnswerView()
        self._connect_view(self.streaming)
        bubble.layout().addWidget(self.streaming)
        self._set_running(True)
        self.worker.start_reply.emit(self.backend, conversation)

    def stop(self) -> None:
        self.worker.stop()

    def _set_running(self, running: bool) -> None:
        self.send_button.setEnabled(not running and self._model_matches())
        self.regenerate_button.setEnabled(not running and self._model_matches())
        self.stop_button.setEnabled(running)

    def _tokens(self, steps: list) -> None:
        if self.streaming is not None:
            self.streaming.append_tokens(steps)

    def _answered(self, conversation: Conversation, prompt, generation) -> None:
        self.streaming = None
        self.conversation = conversation
        self._set_running(False)
        self._show_messages()
        self.refresh_list()
        self.turnFinished.emit()

    def _failed(self, text: str) -> None:
        self.streaming = None
        self._set_running(False)
        self._show_messages()
        self.message.emit(text)
        self.turnFinished.emit()

    def shutdown(self) -> None:
        self.popup.hide()
        self.worker.shutdown()
        self.preview_job.shutdown()
