"""Run a function off the UI thread and get its result back on it; only the newest job's answer counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from workbench.errors import WorkbenchError


class _Worker(QObject):
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


class LatestJob(QObject):
    """`submit(work)` runs `work()` in a worker thread; `finished(result)` or `failed(message)`
    arrive on the UI thread for the newest job only."""

    finished = Signal(object)
    failed = Signal(str)
    _request = Signal(int, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job_id = 0
        self._pending = False
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.worker = _Worker()
        self.worker.moveToThread(self.thread)
        self._request.connect(self.worker.run)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.thread.start()

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

    def shutdown(self) -> None:
        self.worker.latest = -1
        self.thread.quit()
        self.thread.wait(10_000)
