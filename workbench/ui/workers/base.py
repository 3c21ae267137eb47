"""The one mechanism that runs core work off the UI thread: `WorkerThread` owns a QThread and a worker
QObject moved onto it; requests go in as queued signals, plain core records come back as signals. Any
exception in a worker becomes a message in the window (`user_message`), never a silent dead thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.engine.base import TokenStep
from workbench.errors import WorkbenchError

FLUSH_INTERVAL_S = 1 / 30
log = logging.getLogger("workbench.ui")


def user_message(err: BaseException) -> str:
    """What the window says about a failure: a WorkbenchError's own sentence; anything else is a defect,
    said in one line with its type, and logged with its traceback."""
    if isinstance(err, WorkbenchError):
        return str(err)
    log.error("unexpected error in a background job", exc_info=err)
    return f"unexpected error ({type(err).__name__}: {err}); the details are in the log (Help > Open log folder)"


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


class JobWorker(QObject):
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
        except Exception as err:
            self.failed.emit(job_id, user_message(err))
            return
        self.done.emit(job_id, result)


class LatestJob(WorkerThread):
    """`submit(work)` runs `work()` in the worker thread; `finished(result)` or `failed(message)`
    arrive on the UI thread for the newest job only (older ones are skipped or ignored)."""

    finished = Signal(object)
    failed = Signal(str)
    _request = Signal(int, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(name, JobWorker(), parent)
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
