"""A comparison grid's thread (experiments.run with the engines of every model in the grid)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal, Slot

from workbench.engine.base import Backend
from workbench.ui.workers.base import WorkerThread, user_message


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
        except Exception as err:
            self.failed.emit(user_message(err))
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
