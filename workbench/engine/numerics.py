"""Numeric configurations of llama.cpp, and how far two of them disagree (the noise floor).

llama.cpp's probabilities depend on how it computes: the K/V cache type, the attention kernel,
whether weights are repacked, how rows are batched. None of them is exact arithmetic (see the
README's "How exact are these numbers?"). A run therefore names its configuration, and the
numeric check measures the spread between two configurations on the same tokens: differences
smaller than that spread are arithmetic noise, not a property of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InvalidParameterError

if TYPE_CHECKING:
    from workbench.engine.base import Backend

GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1


@dataclass(frozen=True)
class NumericMode:
    name: str
    kv_type: int  # ggml type of the K and V cache
    flash_attn: bool
    summary: str


NUMERICS: dict[str, NumericMode] = {
    "reference": NumericMode(
        "reference", GGML_TYPE_F32, False, "F32 K/V cache, flash attention off: closest to exact arithmetic"
    ),
    "fast": NumericMode("fast", GGML_TYPE_F16, True, "F16 K/V cache with flash attention: llama.cpp's usual setup"),
}
DEFAULT_NUMERICS = "reference"

BATCHING: dict[str, str] = {
    "exact": "a sample is bit-identical whether it ran alone or in a batch (at most 7 rows per decode, "
    "one KV stream per sequence, weights not repacked)",
    "fast": "llama.cpp's full batching (all rows at once, unified KV cache, repacked weights): "
    "results equal running alone only within the arithmetic noise floor",
}
DEFAULT_BATCHING = "exact"


def numeric_mode(name: str) -> NumericMode:
    try:
        return NUMERICS[name]
    except KeyError:
        raise InvalidParameterError(f"unknown numeric configuration {name!r}: choose {' or '.join(NUMERICS)}") from None


def check_batching(name: str) -> str:
    if name not in BATCHING:
        raise InvalidParameterError(f"unknown batching {name!r}: choose {' or '.join(BATCHING)}")
    return name


def other_numerics(name: str) -> str:
    return next(other for other in NUMERICS if other != numeric_mode(name).name)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Exact (float64) log-probabilities of a logit vector."""
    values = logits.astype(np.float64)
    top = values.max()
    return values - (top + math.log(np.exp(values - top).sum()))


@dataclass(frozen=True)
class TokenDelta:
    id: int
    logprob: float  # in the run's configuration
    logprob_other: float  # the same token in the other configuration

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "logprob": self.logprob, "logprob_other": self.logprob_other}


@dataclass(frozen=True)
class NumericCheck:
    """The same next-token distribution computed in two numeric configurations."""

    numerics: str
    other: str
    top_k: int
    max_abs_delta_logprob: float  # over the union of both configurations' top-K
    total_variation: float  # over the whole vocabulary
    top1: int
    top1_other: int
    tokens: tuple[TokenDelta, ...]

    @property
    def top1_changed(self) -> bool:
        return self.top1 != self.top1_other

    def summary(self) -> str:
        flip = "the top token changes" if self.top1_changed else "same top token"
        return (
            f"{self.numerics} vs {self.other}: max |Δ logprob| {self.max_abs_delta_logprob:.3f} nats over the "
            f"top-{self.top_k}, total variation {self.total_variation:.4f}, {flip}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "numerics": self.numerics,
            "other": self.other,
            "top_k": self.top_k,
            "max_abs_delta_logprob": self.max_abs_delta_logprob,
            "total_variation": self.total_variation,
            "top1": self.top1,
            "top1_other": self.top1_other,
            "top1_changed": self.top1_changed,
            "tokens": [t.to_dict() for t in self.tokens],
        }


def compare_logits(logits: np.ndarray, other: np.ndarray, top_k: int, numerics: str, other_name: str) -> NumericCheck:
    """How far two configurations' distributions over the same next token are apart."""
    if top_k < 1:
        raise InvalidParameterError(f"the numeric check needs top-k >= 1 (got {top_k})")
    mine, theirs = log_softmax(logits), log_softmax(other)
    k = min(top_k, mine.size)
    ids = np.union1d(np.argsort(-mine, kind="stable")[:k], np.argsort(-theirs, kind="stable")[:k])
    ids = ids[np.argsort(-mine[ids], kind="stable")]
    deltas = tuple(TokenDelta(int(i), float(mine[i]), float(theirs[i])) for i in ids)
    return NumericCheck(
        numerics=numerics,
        other=other_name,
        top_k=k,
        max_abs_delta_logprob=float(np.abs(mine[ids] - theirs[ids]).max()),
        total_variation=float(0.5 * np.abs(np.exp(mine) - np.exp(theirs)).sum()),
        top1=int(np.argmax(mine)),
        top1_other=int(np.argmax(theirs)),
        tokens=deltas,
    )


def numeric_check(backend: Backend, other: Backend, token_ids: list[int], top_k: int = 20) -> NumericCheck:
    """The next-token distribution after `token_ids` in `backend`'s configuration and in `other`'s
    (two loaded backends of the same model file)."""
    return compare_logits(
        backend.logits_after(token_ids),
        other.logits_after(token_ids),
        top_k,
        backend.options.numerics,
        other.options.numerics,
    )


def choice_spread(logprobs: list[float], other: list[float]) -> float:
    """The largest change of any choice's log-probability between two configurations."""
    return max(abs(a - b) for a, b in zip(logprobs, other, strict=True))


def decision_margin(logprobs: list[float]) -> float:
    """How far the best choice is ahead of the second best (inf with one choice)."""
    if len(logprobs) < 2:
        return math.inf
    best, second = sorted(logprobs, reverse=True)[:2]
    return best - second


def within_noise(logprobs: list[float], other: list[float]) -> bool:
    """A label-likelihood decision the arithmetic could flip: the margin between the two best
    choices is no larger than the spread between configurations, or the winner differs."""
    if len(logprobs) < 2:
        return False
    flipped = int(np.argmax(logprobs)) != int(np.argmax(other))
    return flipped or decision_margin(logprobs) <= choice_spread(logprobs, other)


NOISE_MARK = "≈"


def noise_note(spread: float | None, flagged: bool | int | None) -> str | None:
    """How a label-likelihood decision relates to the noise floor, in words (table tooltip, inspector, CLI)."""
    if spread is None:
        return None
    if flagged:
        return (
            f"{NOISE_MARK} within arithmetic noise: the two best choices are closer than the {spread:.3f} nats "
            "by which the other numeric configuration moves them"
        )
    return f"decision clear of the arithmetic noise (choices move by at most {spread:.3f} nats between configurations)"
