"""The chat's thread: the model's turn, streamed, and the conversation saved."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal, Slot

from workbench.engine.base import Backend, TokenStep
from workbench.ui.workers.base import FLUSH_INTERVAL_S, WorkerThread, user_message


class ChatWorker(QObject):
    """The model's turn in a chat: render the history, stream the answer (batched like the Playground),
    save the conversation; a stopped answer is kept as far as it went."""

    tokens = Signal(list)  # [TokenStep, ...]
    answered = Signal(object, object, object)  # Conversation, ChatPrompt, Generation
    failed = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.backend: Backend | None = None

    @Slot(object, object)
    def reply(self, backend: Backend, conversation) -> None:
        from workbench.chat import session
        from workbench.chat.server_chat import renderer_for

        self.backend = backend
        pending: list[TokenStep] = []
        last_flush = [time.monotonic()]

        def on_token(step: TokenStep) -> None:
            pending.append(step)
            if time.monotonic() - last_flush[0] >= FLUSH_INTERVAL_S:
                self.tokens.emit(pending.copy())
                pending.clear()
                last_flush[0] = time.monotonic()

        try:
            with backend.hold():
                renderer = renderer_for(backend.info, conversation.chat_format)
                answered, prompt, generation = session.reply(
                    backend, conversation, renderer, backend.n_ctx, on_token, self.store
                )
            if pending:
                self.tokens.emit(pending.copy())
            answered = session.save(self.store, answered)
        except Exception as err:
            self.failed.emit(user_message(err))
            return
        finally:
            self.backend = None
        self.answered.emit(answered, prompt, generation)

    def stop(self) -> None:
        backend = self.backend
        if backend is not None:
            backend.cancel()


class ChatThread(WorkerThread):
    start_reply = Signal(object, object)  # backend, Conversation ending with a user message

    def __init__(self, store, parent: QObject | None = None) -> None:
        super().__init__("chat", ChatWorker(store), parent)
        self.start_reply.connect(self.worker.reply)

    def stop(self) -> None:
        """Runs in the UI thread: the worker's thread is busy generating."""
        self.worker.stop()

    def shutdown(self, wait_ms: int = 30_000) -> None:
        self.stop()
        super().shutdown(wait_ms)
