"""The token loop of one generation: sample, report, stop strings, UTF-8 assembly."""

from __future__ import annotations

import codecs
import math
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from workbench.engine.base import GenerationRequest, OnToken, TokenStep, TopToken
from workbench.engine.sampling import (
    SampledDistribution,
    StepBuffers,
    apply_repeat_penalty,
    distribution,
    top_indices,
)


class StepBackend(Protocol):
    """What the token loop needs from an engine (LlamaBackend provides it)."""

    n_ctx: int
    buffers: StepBuffers
    cancel_event: threading.Event

    def token_bytes(self, token_id: int) -> bytes: ...

    def is_end_of_generation(self, token_id: int) -> bool: ...

    def decode_tokens(self, tokens: Sequence[int], start_pos: int) -> None: ...

    def last_logits(self) -> np.ndarray: ...


class Utf8Text:
    """Turns token bytes into complete characters; partial UTF-8 sequences wait for the rest."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def preview(self, data: bytes, pending: bytes) -> str:
        """What feeding `data` would have returned with `pending` bytes waiting."""
        if not pending:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
        probe = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return probe.decode(pending + data)

    def pending(self) -> bytes:
        return self._decoder.getstate()[0]


class Run:
    """The state of one generation: the token loop, stop strings, UTF-8 assembly."""

    def __init__(self, backend: StepBackend, request: GenerationRequest, seed: int, prompt_ids: list[int]):
        self.backend = backend
        self.request = request
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history = list(prompt_ids)
        self.utf8 = Utf8Text()
        self.steps: list[TokenStep] = []
        self.text = ""
        self.sampled = 0
        self.stop_sequence: str | None = None

    def loop(self, logits: np.ndarray, on_token: OnToken | None) -> str:
        """The single-sequence path: sample, then let llama.cpp evaluate the token, until done."""
        backend = self.backend
        while True:
            if backend.cancel_event.is_set():
                return "cancelled"
            finish = self.advance(logits, on_token)
            if finish is not None:
                return finish
            backend.decode_tokens([self.history[-1]], len(self.history) - 1)
            logits = backend.last_logits()

    def advance(self, logits: np.ndarray, on_token: OnToken | None) -> str | None:
        """Sample one token from `logits` and record it; the finish reason, or None when the token
        must be evaluated and the run goes on (the batched path evaluates it with other sequences)."""
        step, is_end = self.step(logits)
        self.sampled += 1
        if is_end:
            return "stop"
        self.steps.append(step)
        if on_token is not None:
            on_token(step)
        if self.append_text(step.text):
            return "stop"
        if self.sampled >= self.request.max_tokens:
            return "length"
        if len(self.history) >= self.backend.n_ctx:
            return "context"  # the context is full before max tokens: said, not passed off as "length"
        return None

    def step(self, raw: np.ndarray) -> tuple[TokenStep, bool]:
        params, backend, k = self.request.params, self.backend, self.request.top_logprobs
        buffers = backend.buffers
        top, lse = buffers.log_normaliser(raw)
        penalised = params.repeat_penalty != 1.0 and params.repeat_last_n > 0
        if penalised:  # the penalty is not shift-invariant (it divides positive logits): apply it to raw
            work = apply_repeat_penalty(raw, self.history[-params.repeat_last_n :], params.repeat_penalty)
            dist = distribution(work, params)
            raw_top = top_indices(raw, k, top, buffers.mask)
        else:
            dist = distribution(raw, params, rank=k, buffers=buffers, top=top)
            raw_top = dist.ranked
        token = dist.draw(self.rng)
        self.history.append(token)
        if backend.is_end_of_generation(token):
            return TokenStep(token, b"", "", 0.0, 0.0), True
        pending = self.utf8.pending()  # alternatives complete what was pending before this token
        sampled_top = dist.top(k)[0]
        records = self.records(np.unique(np.concatenate((raw_top, sampled_top, [token]))), raw, lse, dist, pending)
        chosen = records[token]
        step = TokenStep(
            id=token,
            bytes=chosen.bytes,
            text=self.utf8.feed(chosen.bytes),
            logprob=chosen.logprob,
            logprob_sampled=-math.inf if chosen.logprob_sampled is None else chosen.logprob_sampled,
            top=tuple(records[i] for i in raw_top.tolist()),
            top_sampled=tuple(records[i] for i in sampled_top.tolist()),
            kept=dist.kept_count,
        )
        return step, False

    def records(
        self, ids: np.ndarray, raw: np.ndarray, lse: float, dist: SampledDistribution, pending: bytes
    ) -> dict[int, TopToken]:
        """One TopToken per id (raw and sampled log-probability, what removed it), built once even when
        the id is both in the raw top-K and the sampled top-K."""
        sampled = dist.prob_of(ids)
        removed = dist.removed_by_many(ids, sampled > 0)
        logprobs = (raw[ids].astype(np.float64) - lse).tolist()
        out = {}
        for token, prob, logprob, stage in zip(ids.tolist(), sampled.tolist(), logprobs, removed, strict=True):
            data = self.backend.token_bytes(token)
            sampled_logprob = math.log(prob) if prob > 0 else None
            out[token] = TopToken(token, self.utf8.preview(data, pending), data, logprob, sampled_logprob, stage)
        return out

    def append_text(self, new_text: str) -> bool:
        """Add text; True when a stop string now appears (the text is cut before it)."""
        if not new_text:
            return False
        scan_from = len(self.text)
        self.text += new_text
        hits = []
        for stop in self.request.stop:
            found = self.text.find(stop, max(0, scan_from - len(stop) + 1))
            if found >= 0:
                hits.append((found, stop))
        if not hits:
            return False
        position, self.stop_sequence = min(hits)
        self.text = self.text[:position]
        return True
