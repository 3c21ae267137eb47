"""The one place that runs core work off the UI thread.

`EngineWorker` lives in its own QThread and owns the loaded backend. It emits plain core
records; tokens are batched so the UI repaints at most ~30 times per second however fast
the model decodes. Stop is the engine's own cancel flag, honoured between tokens.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench import models
from workbench.engine.base import GenerationRequest, TokenStep, sample_requests
from workbench.errors import WorkbenchError

FLUSH_INTERVAL_S = 1 / 30


class EngineWorker(QObject):
    modelLoaded = Signal(object, object)  # ModelInfo, runtime dict
    modelFailed = Signal(str)
    tokens = Signal(int, list)  # sample index, [TokenStep, ...]
    sampleDone = Signal(int, object)  # sample index, Generation
    runFinished = Signal()
    runFailed = Signal(str)
    numericChecked = Signal(object)  # NumericCheck
    numericCheckFailed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.backend = None
        self.checker = None  # the same model in the other numeric configuration, loaded on first check
        self._stop = threading.Event()
        self._batch_cancel = None

    @Slot(str, object)
    def load(self, name_or_path: str, options) -> None:
        from workbench.engine.llama.backend import LlamaBackend

        try:
            info = models.resolve(name_or_path or None)
            backend = LlamaBackend(info, options)
        except WorkbenchError as err:
            self.modelFailed.emit(str(err))
            return
        self.close_backends()
        self.backend = backend
        self.modelLoaded.emit(info, backend.runtime_info())

    @Slot(object, int)
    def generate(self, request: GenerationRequest, samples: int) -> None:
        self._stop.clear()
        try:
            if self.backend is None:
                raise WorkbenchError("no model is loaded")
            requests = sample_requests(request, samples)
            if samples > 1 and self.backend.options.n_parallel > 1:
                self._many(requests)
            else:
                for index, one in enumerate(requests):
                    if self._stop.is_set():
                        break
                    self._one(index, one)
        except WorkbenchError as err:
            self.runFailed.emit(str(err))
            return
        self.runFinished.emit()

    def _one(self, index: int, request: GenerationRequest) -> None:
        pending: list[TokenStep] = []
        last_flush = time.monotonic()

        def on_token(step: TokenStep) -> None:
            nonlocal last_flush
            pending.append(step)
            now = time.monotonic()
            if now - last_flush >= FLUSH_INTERVAL_S:
                self.tokens.emit(index, pending.copy())
                pending.clear()
                last_flush = now

        generation = self.backend.generate(request, on_token)
        if pending:
            self.tokens.emit(index, pending.copy())
        self.sampleDone.emit(index, generation)

    def _many(self, requests: list[GenerationRequest]) -> None:
        """Samples decoded together (equal to one after another); tokens stream per sample, batched."""
        from workbench.engine.llama.batched import BatchCancel, generate_many

        pending: dict[int, list[TokenStep]] = {i: [] for i in range(len(requests))}
        last_flush = [time.monotonic()]
        self._batch_cancel = BatchCancel()

        def flush(indices) -> None:
            for index in indices:
                if pending[index]:
                    self.tokens.emit(index, pending[index].copy())
                    pending[index].clear()
            last_flush[0] = time.monotonic()

        def on_token(index: int, step: TokenStep) -> None:
            pending[index].append(step)
            if time.monotonic() - last_flush[0] >= FLUSH_INTERVAL_S:
                flush(list(pending))

        def on_done(index: int, outcome) -> None:
            flush([index])
            if isinstance(outcome, WorkbenchError):
                raise outcome
            self.sampleDone.emit(index, outcome)

        generate_many(self.backend, requests, self.backend.options.n_parallel, on_token, on_done, self._batch_cancel)

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
        """Called from the UI thread: cancel this sample and skip the rest."""
        self._stop.set()
        if self._batch_cancel is not None:
            self._batch_cancel.cancel()
        if self.backend is not None:
            self.backend.cancel()


class EngineThread(QObject):
    """Owns the worker's thread; requests go through queued signals."""

    requestLoad = Signal(str, object)  # model name or path, LoadOptions
    requestGenerate = Signal(object, int)
    requestNumericCheck = Signal(str, bool, list)

    def __init__(self) -> None:
        super().__init__()
        self.thread = QThread()
        self.thread.setObjectName("engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.requestLoad.connect(self.worker.load)
        self.requestGenerate.connect(self.worker.generate)
        self.requestNumericCheck.connect(self.worker.numeric_check)
        self.thread.start()

    def stop(self) -> None:
        """Runs in the UI thread on purpose: the worker's own thread is busy generating."""
        self.worker.stop()

    def shutdown(self) -> None:
        self.worker.stop()
        self.thread.quit()
        self.thread.wait(10_000)
        # free llama.cpp now: left to interpreter shutdown, its finalizers can crash the process
        self.worker.close_backends()
