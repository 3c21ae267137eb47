"""Teacher forcing on llama.cpp: the log-probability of every token of a given sequence, read a few
rows at a time (never the logits of the whole context at once)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np

from workbench.engine.base import PositionScore
from workbench.engine.llama.prompt_plan import PromptPlan, split_rows
from workbench.engine.sampling import StepBuffers, top_indices
from workbench.errors import ContextOverflowError, EngineError, InvalidParameterError


class TeacherBackend(Protocol):
    """What teacher forcing needs of the llama.cpp backend (its public per-call methods)."""

    n_ctx: int
    closed: bool
    info: Any
    lock: threading.Lock
    buffers: StepBuffers

    def forget_cache(self) -> None: ...

    def plan_prompt(self, cached: list[int], cached_reusable: int, prompt_ids: list[int]) -> PromptPlan: ...

    def decode_rows(self, entries: list[tuple[int, int, int]], last: bool = False) -> list[np.ndarray]: ...


SCORE_ROWS = 32  # rows per llama_decode whose logits are all read: 32 x the vocabulary in floats at a time


def score_positions(
    backend: TeacherBackend, token_ids: list[int], top: int = 5, stepwise_from: int | None = None
) -> list[PositionScore]:
    """For every position i >= 1: log P(token_ids[i] | token_ids[:i]) under the raw model, its rank
    among all tokens and the `top` most probable tokens there. Leaves the backend's cache empty.

    The first `stepwise_from` tokens (default: all) are evaluated like a prompt, cut as the engine cuts
    prompts; the rest one token per llama_decode, as generation computes them. llama.cpp's kernels
    round differently for a 1-row call than for a block (measured: up to ~0.02 nats), so scoring a
    generated text with its prompt as `stepwise_from` reproduces the generation's own log-probabilities."""
    if len(token_ids) < 2:
        raise InvalidParameterError("a text to score needs at least one token after the first")
    if len(token_ids) > backend.n_ctx:
        over = len(token_ids) - backend.n_ctx
        raise ContextOverflowError(
            f"the text is {len(token_ids):,} tokens, {over:,} over the context of {backend.n_ctx:,}"
        )
    scores: list[PositionScore] = []
    with backend.lock:
        if backend.closed:
            raise EngineError(f"{backend.info.name} was unloaded")
        backend.forget_cache()
        try:
            for start, end in _pieces(backend, token_ids, stepwise_from):
                rows = backend.decode_rows([(token_ids[i], i, 0) for i in range(start, end)])
                for offset, logits in enumerate(rows):
                    position = start + offset + 1
                    if position < len(token_ids):
                        scores.append(_position_score(backend, logits, token_ids[position], top))
        finally:
            backend.forget_cache()
    return scores


def _pieces(backend: TeacherBackend, token_ids: list[int], stepwise_from: int | None) -> list[tuple[int, int]]:
    """The prompt part as the engine cuts a prompt (any piece over SCORE_ROWS split again, which the
    prompt plan allows: >= 8-row calls in reference numerics, aligned 32-row chunks in fast), then single rows."""
    prompt_end = len(token_ids) if stepwise_from is None else max(1, min(stepwise_from, len(token_ids)))
    pieces: list[tuple[int, int]] = []
    for start, end in backend.plan_prompt([], 0, token_ids[:prompt_end]).pieces:
        pieces += split_rows(start, end, SCORE_ROWS) if end - start > SCORE_ROWS else [(start, end)]
    return pieces + [(i, i + 1) for i in range(prompt_end, len(token_ids))]


def _position_score(backend: TeacherBackend, logits: np.ndarray, token: int, top: int) -> PositionScore:
    buffers = backend.buffers
    highest, log_z = buffers.log_normaliser(logits)
    value = float(logits[token])
    rank = int(np.count_nonzero(logits > value)) + 1
    near = buffers.near if buffers.near_of is logits else None
    best = top_indices(logits, top, highest, buffers.mask, near)
    return PositionScore(token, value - log_z, rank, tuple((int(i), float(logits[i]) - log_z) for i in best))
