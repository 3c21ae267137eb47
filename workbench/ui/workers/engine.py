"""The engine's thread: it owns the loaded backend (model, generation, numeric check). Tokens are relayed in
bunches so the UI repaints at most ~30 times a second; Stop is the engine's cancel, honoured between tokens."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from workbench import models
from workbench.engine.base import Cancel, GenerationRequest
from workbench.errors import WorkbenchError
from workbench.ui.workers.base import TokenRelay, WorkerThread, user_message


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
        except Exception as err:
            self.modelFailed.emit(user_message(err))
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
        except Exception as err:
            self.runFailed.emit(user_message(err))
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
        except Exception as err:
            self.numericCheckFailed.emit(user_message(err))

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
