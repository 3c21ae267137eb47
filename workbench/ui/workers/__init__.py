"""Every background job of the window runs on one of these threads: the engine (model, generation, numeric
check), a comparison grid, the chat's turn, the tokenizer columns, and newest-only jobs (template preview,
benchmarks, server checks). `base.WorkerThread` is the one mechanism; `base.user_message` the one way a
failure reaches the window."""

from workbench.ui.workers.base import FLUSH_INTERVAL_S, LatestJob, TokenRelay, WorkerThread, user_message
from workbench.ui.workers.chat import ChatThread, ChatWorker
from workbench.ui.workers.engine import EngineThread, EngineWorker
from workbench.ui.workers.grid import GridThread, GridWorker
from workbench.ui.workers.tokenize import TokenizeJob, TokenizeThread, TokenizeWorker

__all__ = [
    "FLUSH_INTERVAL_S",
    "ChatThread",
    "ChatWorker",
    "EngineThread",
    "EngineWorker",
    "GridThread",
    "GridWorker",
    "LatestJob",
    "TokenRelay",
    "TokenizeJob",
    "TokenizeThread",
    "TokenizeWorker",
    "WorkerThread",
    "user_message",
]
