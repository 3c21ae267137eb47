"""Tokenizing and laying out columns off the UI thread; stale jobs are dropped, not finished."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from workbench.text import display, tokenizers
from workbench.ui.workers.base import WorkerThread, user_message


@dataclass(frozen=True)
class TokenizeJob:
    job_id: int
    text: str
    names: tuple[str, ...]
    special: bool
    bos: bool
    show_ids: bool
    show_bytes: bool


@contextlib.contextmanager
def paused_gc():
    """No automatic cyclic collection while a large batch of objects is built (reference counting
    still frees everything; the collector runs again afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class TokenizeWorker(QObject):
    columnReady = Signal(int, int, object, object)  # job id, column, Tokenization, ColumnLayout
    columnFailed = Signal(int, int, str)
    jobDone = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.latest = 0  # written by the UI thread; a job older than this is abandoned
        self._cache: dict[tuple[str, bool, bool], tokenizers.Tokenization] = {}

    @Slot(object)
    def run(self, job: TokenizeJob) -> None:
        # A megabyte of tokens is hundreds of thousands of new objects: left on, the cyclic GC runs
        # full collections that hold the GIL for a third of a second, which freezes the UI thread.
        with paused_gc():
            self._run(job)

    def _run(self, job: TokenizeJob) -> None:
        for column, name in enumerate(job.names):
            if job.job_id != self.latest:
                return
            try:
                tokenization = self._tokenize(name, job)
                layout = display.layout_column(tokenization, job.show_ids, job.show_bytes)
            except Exception as err:
                self.columnFailed.emit(job.job_id, column, user_message(err))
                continue
            self.columnReady.emit(job.job_id, column, tokenization, layout)
        self.jobDone.emit(job.job_id)

    def _tokenize(self, name: str, job: TokenizeJob) -> tokenizers.Tokenization:
        key = (name, job.special, job.bos)
        cached = self._cache.get(key)
        if cached is not None and cached.text is job.text:  # same string object: only a toggle changed
            return cached
        tokenization = tokenizers.tokenize(
            tokenizers.get_tokenizer(name), tokenizers.check_text(job.text), job.special, job.bos
        )
        self._cache[key] = tokenization
        return tokenization


class TokenizeThread(WorkerThread):
    requestRun = Signal(object)

    def __init__(self) -> None:
        super().__init__("tokenizer", TokenizeWorker())
        self.requestRun.connect(self.worker.run)

    def submit(self, job: TokenizeJob) -> None:
        self.worker.latest = job.job_id
        self.requestRun.emit(job)

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.worker.latest = -1
        super().shutdown(wait_ms)
