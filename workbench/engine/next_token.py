"""The next-token distribution for a context, from its raw logits: the raw probability of the top
tokens, their probability after the sampling transforms (and which transform removed each), the kept
count and mass, and the entropy. Pure numpy on logits already computed, so the Explorer can re-shape
the chart as a slider moves without asking the model again; `workbench next` uses the same function."""

from __future__ import annotations

import codecs
import math
from collections.abc import Callable, Sequence

import numpy as np

from workbench.engine.base import Candidate, NextTokenDistribution, SamplingParams
from workbench.engine.sampling import StepBuffers, apply_repeat_penalty, distribution, logsumexp, top_indices
from workbench.errors import InvalidParameterError

MAX_TOP = 50  # bars the Explorer's chart shows at most


def describe_next(
    raw: np.ndarray,
    context_ids: Sequence[int],
    params: SamplingParams,
    top: int,
    token_bytes: Callable[[int], bytes],
    buffers: StepBuffers | None = None,
) -> NextTokenDistribution:
    """The distribution after `context_ids` whose raw next-token logits are `raw` (not modified)."""
    params.validate()
    if top < 1:
        raise InvalidParameterError(f"top must be >= 1 (got {top})")
    buffers = buffers or StepBuffers(raw.size)
    recent = list(context_ids)[-params.repeat_last_n :] if params.repeat_last_n else []
    work = apply_repeat_penalty(raw, recent, params.repeat_penalty) if params.repeat_penalty != 1.0 and recent else raw
    dist = distribution(work, params)
    ids = top_indices(raw, top)
    lse = buffers.log_normaliser(raw)[1]
    sampled = dist.prob_of(ids)
    kept_mass = float(np.exp(logsumexp(raw[dist.ids]) - lse)) if dist.truncated else 1.0
    candidates = tuple(
        Candidate(
            int(t),
            piece_text(token_bytes(int(t))),
            token_bytes(int(t)),
            float(raw[t]) - lse,
            math.exp(float(raw[t]) - lse),
            float(p),
            bool(p > 0),
            dist.removed_by(int(t)),
        )
        for t, p in zip(ids, sampled, strict=True)
    )
    return NextTokenDistribution(len(context_ids), candidates, dist.kept_count, kept_mass, entropy_bits(raw, lse))


def raw_logprob(raw: np.ndarray, token: int, buffers: StepBuffers | None = None) -> float:
    """A token's raw log-probability, normalised exactly as the chart's (`describe_next`)."""
    return float(raw[token]) - (buffers or StepBuffers(raw.size)).log_normaliser(raw)[1]


def piece_text(data: bytes) -> str:
    """The characters a token spells on its own ("" for a fragment of a UTF-8 character)."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data)


def entropy_bits(raw: np.ndarray, lse: float) -> float:
    """Entropy of the raw next-token distribution over the whole vocabulary, in bits."""
    logp = raw.astype(np.float64) - lse
    return float(-(np.exp(logp) * logp).sum() / math.log(2))
