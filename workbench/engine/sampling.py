"""The one definition of what the sampling settings do to a next-token distribution.

Order and semantics follow llama.cpp's sampler chain (penalties -> top-k -> top-p ->
min-p -> temperature -> draw): temperature is applied after the truncations, top-p
keeps the smallest prefix whose probability reaches p, min-p keeps logits >=
max_logit + ln(min_p), and at least one token always survives. Temperature 0 is
greedy: only the arg-max survives.

Each truncation keeps a prefix of the tokens sorted by logit, so the result is the
kept prefix plus, per stage, the lowest logit that stage kept; `removed_by` answers
for any token without sorting the 262,144-entry vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from workbench.engine.base import SamplingParams

STAGES = ("top_k", "top_p", "min_p")
_THRESHOLD_START = 8.0  # logit distance below the max scanned first when looking for the top-K


def logsumexp(logits: np.ndarray) -> float:
    """log(sum(exp(logits))), stable, summed in float64 (for small arrays; the vocabulary-sized
    normaliser of the per-token path is StepBuffers.log_normaliser)."""
    top = float(logits.max())
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(logits.astype(np.float64) - top).sum()))


class StepBuffers:
    """Per-token scratch space for a vocabulary, kept small so that one token's passes over the
    fresh logits stay in cache: exp() and the near-the-top scan run a cache-sized chunk at a time."""

    CHUNK = 32_768

    def __init__(self, size: int) -> None:
        self.mask = np.empty(size, dtype=bool)
        self.chunk = np.empty(min(size, self.CHUNK), dtype=np.float32)
        self.near: np.ndarray = np.empty(0, dtype=np.int64)  # ids within _THRESHOLD_START of the max...
        self.near_of: np.ndarray | None = None  # ...of this logit array

    def log_normaliser(self, logits: np.ndarray) -> tuple[float, float]:
        """(max, log(sum(exp(logits)))) of a logit vector. Each chunk is summed pairwise in float32
        (relative error ~1e-7, the precision of the float32 logits themselves), the chunks in float64.
        The same pass notes which tokens lie near the max, for the top-K scan (`top_indices`)."""
        top = float(logits.max())
        self.near_of = None
        if not math.isfinite(top):
            return top, top
        total, near, floor = 0.0, [], top - _THRESHOLD_START
        for start in range(0, logits.size, self.chunk.size):
            size = min(self.chunk.size, logits.size - start)
            part, values, mask = self.chunk[:size], logits[start : start + size], self.mask[:size]
            near.append(np.flatnonzero(np.greater_equal(values, floor, out=mask)) + start)
            np.subtract(values, top, out=part)
            np.exp(part, out=part)
            total += float(np.add.reduce(part))
        self.near, self.near_of = np.concatenate(near), logits
        return top, top + math.log(total)


def top_indices(
    logits: np.ndarray,
    k: int,
    top: float | None = None,
    mask: np.ndarray | None = None,
    near: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the k largest logits, largest first (ties by lower id).

    Scans only tokens within a growing distance of the max, which is far cheaper than
    an argpartition over the full vocabulary when, as usual, few tokens are close.
    `top` (the max) and `mask` (a bool buffer of the same size) save a pass and an allocation;
    `near` (the ids within the first scan distance of `top`, from StepBuffers) saves the first scan.
    """
    k = min(k, logits.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    top = float(logits.max()) if top is None else top
    mask = mask if mask is not None and mask.shape == logits.shape else np.empty(logits.shape, dtype=bool)
    delta = _THRESHOLD_START
    while True:
        if delta == _THRESHOLD_START and near is not None:
            ids = near
        else:
            ids = np.flatnonzero(np.greater_equal(logits, top - delta, out=mask))
        if ids.size >= k or not math.isfinite(delta):
            break
        # widen gently: one more comparison pass is cheaper than partitioning most of the vocabulary
        delta = delta + _THRESHOLD_START / 2 if delta < 64 else (delta * 4 if delta < 1e6 else math.inf)
    if ids.size < k:  # -inf logits: fall back to the whole vocabulary
        ids = np.arange(logits.size)
    values = logits[ids]
    if ids.size > k:
        part = np.argpartition(-values, k - 1)[:k]
        ids, values = ids[part], values[part]
    order = np.lexsort((ids, -values))
    return ids[order]


def apply_repeat_penalty(logits: np.ndarray, recent: Sequence[int], penalty: float) -> np.ndarray:
    """llama.cpp's repeat penalty: positive logits divided, negative multiplied. Returns a copy."""
    out = logits.copy()
    if penalty == 1.0 or not recent:
        return out
    ids = np.unique(np.asarray(recent, dtype=np.int64))
    values = out[ids]
    out[ids] = np.where(values <= 0, values * penalty, values / penalty)
    return out


@dataclass(frozen=True)
class SampledDistribution:
    """The distribution actually drawn from, over the (penalised) `logits` it was built from.

    `ids` are the kept tokens, by logit descending, with `probs` summing to 1; when
    nothing was truncated, `ids` is the whole vocabulary in id order instead.
    `thresholds[stage]` is the lowest logit that stage kept (absent if it was off).
    `ranked` holds the best tokens by logit when asked for (see `distribution`).
    `logits` is referenced, not copied: query it before the buffer changes.
    """

    logits: np.ndarray
    ids: np.ndarray
    probs: np.ndarray
    thresholds: dict[str, float]
    temperature: float
    truncated: bool
    ranked: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def kept_count(self) -> int:
        return int(self.ids.size)

    @cached_property
    def _log_norm(self) -> float:
        return logsumexp(self.logits[self.ids].astype(np.float64) / self.temperature)

    def is_kept(self, token_ids: np.ndarray) -> np.ndarray:
        token_ids = np.asarray(token_ids, dtype=np.int64)
        if not self.truncated:
            return np.ones(token_ids.size, dtype=bool)
        values = self.logits[token_ids]
        floor = float(self.logits[self.ids[-1]])
        kept = values > floor
        ties = values == floor
        if ties.any():  # the border logit is shared: only the ids actually kept count
            border = self.ids[self.logits[self.ids] == floor]
            kept |= ties & np.isin(token_ids, border)
        return kept

    def prob_of(self, token_ids: np.ndarray) -> np.ndarray:
        """Sampled probability of each token (0 for removed tokens)."""
        token_ids = np.asarray(token_ids, dtype=np.int64)
        if not self.truncated:
            return self.probs[token_ids].astype(np.float64)
        kept = self.is_kept(token_ids)
        if self.temperature == 0:
            return (token_ids == self.ids[0]).astype(np.float64)
        scaled = self.logits[token_ids].astype(np.float64) / self.temperature
        return np.where(kept, np.exp(scaled - self._log_norm), 0.0)

    def removed_by(self, token_id: int) -> str | None:
        """The first stage that dropped this token; None if it was kept."""
        return self.removed_by_many(np.array([token_id]))[0]

    def removed_by_many(self, token_ids: np.ndarray, kept: np.ndarray | None = None) -> list[str | None]:
        """`removed_by` for several tokens at once (pass `kept` if already known)."""
        kept = self.is_kept(token_ids) if kept is None else kept
        active = [(stage, self.thresholds[stage]) for stage in ("greedy", *STAGES) if stage in self.thresholds]
        out: list[str | None] = []
        for value, is_kept in zip(self.logits[token_ids].tolist(), kept.tolist(), strict=True):
            if is_kept:
                out.append(None)
                continue
            stage = next((s for s, floor in active if value < floor), None)
            # equal to a stage's lowest kept logit, yet cut by the prefix rule: a tie at the border
            out.append(stage or next((s for s, floor in active if value <= floor), None))
        return out

    def top(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k most probable kept tokens and their sampled probabilities."""
        if self.truncated:
            return self.ids[:k], self.probs[:k]
        ids = top_indices(self.logits, k)
        return ids, self.probs[ids]

    def draw(self, rng: np.random.Generator) -> int:
        """Inverse-CDF draw; deterministic for a given generator state."""
        if self.ids.size == 1:
            return int(self.ids[0])
        cdf = np.cumsum(self.probs, dtype=np.float64)
        index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        return int(self.ids[min(index, self.ids.size - 1)])


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) in float32 (the vocabulary-sized case) with a float64 total."""
    scaled = np.subtract(logits, logits.max(), dtype=np.float32)
    if temperature != 1.0:
        np.multiply(scaled, np.float32(1.0 / temperature), out=scaled)
    np.exp(scaled, out=scaled)
    return scaled / np.float32(scaled.sum(dtype=np.float64))


def _top_p_prefix(logits: np.ndarray, ids: np.ndarray | None, p: float) -> np.ndarray:
    """Smallest prefix (by logit) whose softmax mass over the current candidates reaches p."""
    pool = logits if ids is None else logits[ids]
    lse = logsumexp(pool)
    want = 64
    while True:
        order = top_indices(pool, want)
        cum = np.cumsum(np.exp(pool[order].astype(np.float64) - lse))
        reached = np.flatnonzero(cum >= p)
        if reached.size or order.size == pool.size:
            cut = int(reached[0]) + 1 if reached.size else order.size
            chosen = order[:cut]
            return chosen if ids is None else ids[chosen]
        want *= 8


def distribution(
    logits: np.ndarray,
    params: SamplingParams,
    rank: int = 0,
    buffers: StepBuffers | None = None,
    top: float | None = None,
) -> SampledDistribution:
    """Apply top-k, top-p, min-p and temperature (in llama.cpp's order) to penalised logits.

    `rank` asks for the `rank` best tokens by logit as well (`SampledDistribution.ranked`);
    they come from the same pass over the vocabulary as top-k and greedy, so a caller that
    reports alternatives does not scan the 262,144 logits twice. `top` is the max logit when known
    (0 for shifted logits) and `buffers` lends a mask: both save work on the per-token path.
    """
    wanted = max(rank, params.top_k, 1)
    mask = buffers.mask if buffers is not None else None
    near = buffers.near if buffers is not None and buffers.near_of is logits else None
    ranked = top_indices(logits, wanted, top, mask, near) if (params.greedy or params.top_k or rank) else None
    if params.greedy:
        best = ranked[:1]
        return SampledDistribution(
            logits, best, np.ones(1), {"greedy": float(logits[best[0]])}, 0.0, True, ranked[:rank]
        )
    ids: np.ndarray | None = None  # None: the whole vocabulary, unsorted
    thresholds: dict[str, float] = {}
    if params.top_k > 0:
        ids = ranked[: params.top_k]
        thresholds["top_k"] = float(logits[ids[-1]])
    if params.top_p < 1.0:
        ids = _top_p_prefix(logits, ids, params.top_p)
        thresholds["top_p"] = float(logits[ids[-1]])
    if params.min_p > 0.0:
        floor = float(logits[ranked[0]] if ranked is not None else logits.max()) + math.log(params.min_p)
        if ids is None:
            above = np.flatnonzero(logits >= floor)
            ids = above[np.lexsort((above, -logits[above]))]
        else:
            ids = ids[logits[ids] >= floor]
        ids = ids if ids.size else top_indices(logits, 1)
        thresholds["min_p"] = float(logits[ids[-1]])
    ranked = ranked[:rank] if ranked is not None else np.empty(0, dtype=np.int64)
    if ids is None:
        everything = np.arange(logits.size)
        probs = _softmax(logits, params.temperature)
        return SampledDistribution(logits, everything, probs, thresholds, params.temperature, False, ranked)
    probs = _softmax(logits[ids], params.temperature)
    return SampledDistribution(logits, ids, probs, thresholds, params.temperature, True, ranked)
