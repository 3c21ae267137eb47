"""How a model is loaded (LoadOptions: context, threads, GPU layers, numeric configuration, batching)
and llama.cpp's log, kept in memory so terminals stay quiet and load errors can quote it."""

from __future__ import annotations

import ctypes
from collections import deque
from dataclasses import dataclass

from workbench.engine.numerics import BATCHING, DEFAULT_BATCHING, DEFAULT_NUMERICS, check_batching, numeric_mode
from workbench.errors import InvalidParameterError


@dataclass(frozen=True)
class LoadOptions:
    n_ctx: int = 4096
    n_threads: int = 0  # 0: workbench.config.default_threads()
    n_gpu_layers: int = 0  # -1 offloads every layer where the build supports a GPU
    n_batch: int = 512
    n_parallel: int = 4  # sequences decoded together at most; each has its own KV stream (exact batching)
    prompt_chunk: int = 32  # fast numerics: prompts are cut at multiples of this (see prompt_plan)
    numerics: str = DEFAULT_NUMERICS  # "reference" or "fast" (workbench.engine.numerics)
    batching: str = DEFAULT_BATCHING  # "exact" or "fast"

    def validate(self) -> LoadOptions:
        if self.n_ctx < 16:
            raise InvalidParameterError(f"context size must be >= 16 (got {self.n_ctx})")
        if not 1 <= self.n_parallel <= 64:
            raise InvalidParameterError(f"parallel sequences must be 1..64 (got {self.n_parallel})")
        if self.n_threads < 0:
            raise InvalidParameterError(f"threads must be >= 0 (got {self.n_threads})")
        if self.n_batch < 16:
            raise InvalidParameterError(f"batch size must be >= 16 (got {self.n_batch})")
        numeric_mode(self.numerics)
        check_batching(self.batching)
        return self

    @property
    def exact_batching(self) -> bool:
        return self.batching == "exact"

    def describe(self) -> dict[str, str]:
        return {
            "numerics": self.numerics,
            "numerics_detail": numeric_mode(self.numerics).summary,
            "batching": self.batching,
            "batching_detail": BATCHING[self.batching],
        }


class LlamaLog:
    """Routes llama.cpp's log into memory: quiet terminals, and load errors can quote it."""

    def __init__(self) -> None:
        import llama_cpp

        self.lines: deque[str] = deque(maxlen=50)

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            self.lines.append(text.decode("utf-8", errors="replace"))

        self._callback = callback  # keep a reference: llama.cpp holds only the pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    def errors(self) -> str:
        wanted = [line.strip() for line in self.lines if "error" in line.lower() or "failed" in line.lower()]
        return "; ".join(wanted[-3:])


_log: LlamaLog | None = None


def quiet_llama_log() -> LlamaLog:
    global _log
    if _log is None:
        _log = LlamaLog()
    return _log
