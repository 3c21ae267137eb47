"""The one mechanism that runs core work off the UI thread: `WorkerThread` owns a QThread and a
worker QObject moved onto it; requests go in as queued signals, plain core records come back as
signals. Every background job of the app is one of these: the engine (model, generation, numeric
check), a comparison grid, the newest-only jobs (template preview) and the tokenizer columns.

`EngineWorker` owns the loaded backend. Tokens are batched so the UI repaints at most ~30 times per
second however fast the model decodes. Stop is the engine's own cancel flag, honoured between tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench import models
from workbench.engine.base import Backend, Cancel, GenerationRequest, TokenStep
from workbench.errors import WorkbenchError

FLUSH_INTERVAL_S = 1 / 30


class WorkerThread(QObject):
    """A worker QObject living in its own named QThread, started at once."""

    def __init__(self, name: str, worker: QObject, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName(name)
        worker.moveToThread(self.thread)
        self.thread.start()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Let the job in progress end (callers signal it first), then stop the thread."""
        self.thread.quit()
        self.thread.wait(wait_ms)


class TokenRelay:
    """Tokens of several samples (from the engine's threads) handed to `emit(index, [TokenStep, ...])` in
    bunches, at most every FLUSH_INTERVAL_S; thread-safe, so no token is lost between two flushes."""

    def __init__(self, emit: Callable[[int, list], None]) -> None:
        self.emit = emit
        self.pending: dict[int, list[TokenStep]] = {}
        self.lock = threading.Lock()
        self.last_flush = time.monotonic()

    def add(self, index: int, step: TokenStep) -> None:
        with self.lock:
            self.pending.setdefault(index, []).append(step)
            due = time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S
        if due:
            self.flush()

    def flush(self, indices: list[int] | None = None) -> None:
        with self.lock:
            chosen = list(self.pending) if indices is None else indices
            bunches = [(i, self.pending.pop(i)) for i in chosen if self.pending.get(i)]
            self.last_flush = time.monotonic()
        for index, steps in bunches:
            self.emit(index, steps)


class EngineWorker(QObject):
    modelLoaded = Signal(object, object)  # ModelInfo, runtime dict
    modelFailed = Signal(str)
    tokens = Signal(int, list)  # sample index, [TokenStep, ...]
    sampleDone = Signal(int, object)  # sample index, Generation
    runFinished = Signal()
    runFailed = Signal(str)
    numericChecked = Signal(object)  # NumericCheck
    numericCheckFailed = Signal(str)
    runSaved = Signal(int)  # the run id of the generation just kept in the history

    def __init__(self) -> None:
        super().__init__()
        self.store = None  # set by the window: where runs are kept
        self.backend = None
        self.checker = None  # the same model in the other numeric configuration, loaded on first check
        self._cancel = Cancel()

    @Slot(str, object)
    def load(self, name_or_path: str, overrides) -> None:
        from workbench.models.engines import open_engine

        try:
            info = models.resolve(name_or_path or None)
            backend = open_engine(info, overrides)
        except WorkbenchError as err:
            self.modelFailed.emit(str(err))
            return
        self.close_backends()
        self.backend = backend
        self.modelLoaded.emit(info, backend.runtime_info())

    @Slot(object, int)
    def generate(self, request: GenerationRequest, samples: int) -> None:
        """N samples through the core job (a local model batched, a server in flight, the same seeds and the
        same history record as the CLI); tokens stream per sample, at most ~30 updates a second."""
        from workbench.runs.samples import generate_samples

        self._cancel = cancel = Cancel()
        relay = TokenRelay(self.tokens.emit)

        def on_done(index: int, outcome) -> None:
            relay.flush([index])
            if not isinstance(outcome, WorkbenchError):
                self.sampleDone.emit(index, outcome)

        try:
            if self.backend is None:
                raise WorkbenchError("no model is loaded")
            run = generate_samples(
                self.backend,
                request,
                samples,
                store=self.store,
                kind="playground",
                on_token=relay.add,
                on_done=on_done,
                cancel=cancel,
            )
        except WorkbenchError as err:
            self.runFailed.emit(str(err))
            return
        if run.run_id is not None:
            self.runSaved.emit(run.run_id)
        self.runFinished.emit()

    @Slot(str, bool, list)
    def numeric_check(self, prompt: str, add_bos: bool, generated: list) -> None:
        """The next-token distribution after the prompt and `generated` ids, in both configurations."""
        from workbench.engine.numerics import numeric_check, other_numerics

        try:
            if self.backend is None:
                raise WorkbenchError("no model is loaded")
            if self.checker is None:
                self.checker = self.backend.sibling(other_numerics(self.backend.options.numerics))
            ids = self.backend.tokenize(prompt, add_bos=add_bos) + list(generated)
            self.numericChecked.emit(numeric_check(self.backend, self.checker, ids, top_k=10))
        except WorkbenchError as err:
            self.numericCheckFailed.emit(str(err))

    def close_backends(self) -> None:
        for backend in (self.backend, self.checker):
            if backend is not None:
                backend.close()
        self.backend = self.checker = None

    def stop(self) -> None:
        """Called from the UI thread: cancel the samples running and skip the rest."""
        self._cancel.cancel()
        if self.backend is not None:
            self.backend.cancel()


class EngineThread(WorkerThread):
    """The engine worker's thread; requests go through queued signals."""

    requestLoad = Signal(str, object)  # model name or path, models.engines.Overrides
    requestGenerate = Signal(object, int)
    requestNumericCheck = Signal(str, bool, list)

    def __init__(self) -> None:
        super().__init__("engine", EngineWorker())
        self.requestLoad.connect(self.worker.load)
        self.requestGenerate.connect(self.worker.generate)
        self.requestNumericCheck.connect(self.worker.numeric_check)

    def stop(self) -> None:
        """Runs in the UI thread on purpose: the worker's own thread is busy generating."""
        self.worker.stop()

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.worker.stop()
        super().shutdown(wait_ms)
        # free llama.cpp now: left to interpreter shutdown, its finalizers can crash the process
        self.worker.close_backends()


class _JobWorker(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self) -> None:
        super().__init__()
        self.latest = 0

    @Slot(int, object)
    def run(self, job_id: int, work: Callable[[], Any]) -> None:
        if job_id != self.latest:  # superseded while it waited
            return
        try:
            result = work()
        except WorkbenchError as err:
            self.failed.emit(job_id, str(err))
            return
        self.done.emit(job_id, result)


class LatestJob(WorkerThread):
    """`submit(work)` runs `work()` in the worker thread; `finished(result)` or `failed(message)`
    arrive on the UI thread for the newest job only (older ones are skipped or ignored)."""

    finished = Signal(object)
    failed = Signal(str)
    _request = Signal(int, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(name, _JobWorker(), parent)
        self.job_id = 0
        self._pending = False
        self._request.connect(self.worker.run)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)

    @property
    def busy(self) -> bool:
        return self._pending

    def submit(self, work: Callable[[], Any]) -> None:
        self.job_id += 1
        self.worker.latest = self.job_id
        self._pending = True
        self._request.emit(self.job_id, work)

    def _done(self, job_id: int, result: object) -> None:
        if job_id == self.job_id:
            self._pending = False
            self.finished.emit(result)

    def _failed(self, job_id: int, message: str) -> None:
        if job_id == self.job_id:
            self._pending = False
            self.failed.emit(message)

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.worker.latest = -1
        super().shutdown(wait_ms)


class GridWorker(QObject):
    """Runs a comparison grid (experiments.run) with the store and backend it is given; the store
    gives this thread its own SQLite connection."""

    progress = Signal(object)  # experiments.Progress
    cellDone = Signal()
    finished = Signal(int, str)  # experiment id, status
    failed = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.stop_flag = threading.Event()

    @Slot(int, object)
    def run(self, experiment_id: int, backend: Backend) -> None:
        from workbench import experiments
        from workbench.models.engines import GridEngines, Overrides

        self.stop_flag.clear()

        engines = GridEngines(Overrides.like(backend), loaded=backend)
        try:
            status = experiments.run(
                self.store,
                experiment_id,
                engines,
                on_progress=self.progress.emit,
                stop=self.stop_flag,
                on_cell=lambda _cell: self.cellDone.emit(),
                parallel=backend.options.n_parallel,
            )
        except WorkbenchError as err:
            self.failed.emit(str(err))
            return
        finally:
            engines.close()
        self.finished.emit(experiment_id, status)


class GridThread(WorkerThread):
    start_run = Signal(int, object)  # experiment id, backend

    def __init__(self, store, parent: QObject | None = None) -> None:
        super().__init__("compare", GridWorker(store), parent)
        self.start_run.connect(self.worker.run)

    def stop(self) -> None:
        """Finish the cell in progress, then stop (any thread)."""
        self.worker.stop_flag.set()

    def shutdown(self, wait_ms: int = 120_000) -> None:
        self.stop()
        super().shutdown(wait_ms)


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
        except WorkbenchError as err:
            self.failed.emit(str(err))
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
