"""llama.cpp's native handles as objects that own what they allocate, in the shape of llama-cpp-python's
`_internals.py`: a model, a context, its memory (the KV cache) and a batch. Each frees its handle once
(`close()`, idempotent) and refuses use after that, so no caller frees by hand or touches freed memory.
Token ids are checked against the vocabulary before a batch reaches llama.cpp, which aborts the process
on an id it does not have (an id from another model's vocabulary, say)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from workbench.engine.llama.options import quiet_llama_log
from workbench.errors import EngineError, InvalidParameterError, ModelLoadError


def _llama_cpp():
    import llama_cpp

    return llama_cpp


class LlamaModel:
    """A loaded GGUF: the weights (or, `vocab_only`, only the tokenizer: a few MB, no weights)."""

    def __init__(self, path: str, *, vocab_only: bool = False, n_gpu_layers: int = 0, repack: bool = True) -> None:
        self.llama_cpp = _llama_cpp()
        self.path = path
        log = quiet_llama_log()
        log.lines.clear()
        params = self.llama_cpp.llama_model_default_params()
        params.vocab_only = vocab_only
        params.n_gpu_layers = n_gpu_layers
        params.use_extra_bufts = repack
        self.ptr = self.llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self.ptr:
            what = "read the vocabulary of" if vocab_only else "load"
            raise ModelLoadError(f"llama.cpp could not {what} {path}: {log.errors() or 'unknown error'}")
        self.vocab = self.llama_cpp.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(self.llama_cpp.llama_vocab_n_tokens(self.vocab))

    def close(self) -> None:
        if self.ptr:
            self.llama_cpp.llama_model_free(self.ptr)
            self.ptr = None

    def __enter__(self) -> LlamaModel:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: llama_cpp may already be gone
            self.close()


class LlamaMemory:
    """A context's KV cache, by sequence. Valid while its context lives (the context hands it out)."""

    def __init__(self, context: LlamaContext) -> None:
        self.context = context

    def _ptr(self) -> Any:
        return self.context.llama_cpp.llama_get_memory(self.context.live())

    def remove(self, seq: int, start: int = -1, end: int = -1) -> bool:
        """Forget positions [start, end) of a sequence (-1: open end); False when llama.cpp cannot cut there."""
        return bool(self.context.llama_cpp.llama_memory_seq_rm(self._ptr(), seq, start, end))

    def copy(self, source: int, target: int, start: int = -1, end: int = -1) -> None:
        """Sequence `target` refers to `source`'s cells for positions [start, end): no re-evaluation."""
        self.context.llama_cpp.llama_memory_seq_cp(self._ptr(), source, target, start, end)

    def clear(self) -> None:
        self.context.llama_cpp.llama_memory_clear(self._ptr(), True)


class LlamaContext:
    """A context over a model: its KV cache, its logits and the threads it computes with."""

    def __init__(self, model: LlamaModel, params: Any) -> None:
        self.llama_cpp = model.llama_cpp
        self.model = model
        self.ptr = self.llama_cpp.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise ModelLoadError(f"llama.cpp could not create a context for {model.path}")
        self.memory = LlamaMemory(self)

    def live(self) -> Any:
        if not self.ptr:
            raise EngineError("the model was unloaded")
        return self.ptr

    @property
    def n_ctx(self) -> int:
        return int(self.llama_cpp.llama_n_ctx(self.live()))

    def decode(self, batch: LlamaBatch) -> int:
        return int(self.llama_cpp.llama_decode(self.live(), batch.ptr))

    def logits_pointer(self, row: int) -> Any:
        return self.llama_cpp.llama_get_logits_ith(self.live(), row)

    def close(self) -> None:
        if self.ptr:
            self.llama_cpp.llama_free(self.ptr)
            self.ptr = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class LlamaBatch:
    """A batch of (token, position, sequence) rows; ids are checked against the vocabulary here."""

    def __init__(self, capacity: int, n_vocab: int) -> None:
        self.llama_cpp = _llama_cpp()
        self.capacity = capacity
        self.n_vocab = n_vocab
        self.ptr = self.llama_cpp.llama_batch_init(capacity, 0, 1)

    def fill(self, rows: Sequence[tuple[int, int, int]], logits_for: str = "all") -> None:
        """`logits_for`: "all" rows, or only the "last" one."""
        if not self.ptr:
            raise EngineError("the model was unloaded")
        if len(rows) > self.capacity:
            raise EngineError(f"{len(rows)} rows do not fit a batch of {self.capacity}")
        check_token_ids([token for token, _, _ in rows], self.n_vocab)
        batch = self.ptr
        batch.n_tokens = len(rows)
        for i, (token, position, seq) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits_for == "all" or i == len(rows) - 1

    def close(self) -> None:
        if self.ptr is not None:
            self.llama_cpp.llama_batch_free(self.ptr)
            self.ptr = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def check_token_ids(ids: Sequence[int], n_vocab: int) -> None:
    """Every id within this vocabulary; llama.cpp itself aborts the process on one that is not."""
    for token in ids:
        if not 0 <= token < n_vocab:
            raise InvalidParameterError(
                f"token id {token} is not in this model's vocabulary of {n_vocab:,} tokens "
                "(it may come from another model's run)"
            )
