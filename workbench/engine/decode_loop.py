"""The token loop of one generation: sample, report, stop strings, UTF-8 assembly."""

from __future__ import annotations

import codecs
import math
from typing import TYPE_CHECKING

import numpy as np

from workbench.engine.base import GenerationRequest, OnToken, TokenStep, TopToken
from workbench.engine.sampling import SampledDistribution, apply_repeat_penalty, distribution, logsumexp, top_indices

if TYPE_CHECKING:
    from workbench.engine.llama import LlamaBackend


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

    def __init__(self, backend: LlamaBackend, request: GenerationRequest, seed: int, prompt_ids: list[int]):
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
            if backend._cancel.is_set():
                return "cancelled"
            finish = self.advance(logits, on_token)
            if finish is not None:
                return finish
            backend._decode([self.history[-1]], len(self.history) - 1)
            logits = backend._last_logits()

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
        if self.sampled >= self.request.max_tokens or len(self.history) >= self.backend.n_ctx:
            return "length"
        return None

    def step(self, raw: np.ndarray) -> tuple[TokenStep, bool]:
        params, backend, k = self.request.params, self.backend, self.request.top_logprobs
        penalised = params.repeat_penalty != 1.0 and params.repeat_last_n > 0
        work = (
            apply_repeat_penalty(raw, self.history[-params.repeat_last_n :], params.repeat_penalty)
            if penalised
            else raw
        )
        dist = distribution(work, params, rank=0 if penalised else k)
        token = dist.draw(self.rng)
        self.history.append(token)
        if backend.is_end_of_generation(token):
            return TokenStep(token, b"", "", 0.0, 0.0), True
        lse = logsumexp(raw, backend._scratch)
        raw_top = top_indices(raw, k) if penalised else dist.ranked
        pending = self.utf8.pending()  # alternatives complete what was pending before this token
        data = backend.token_bytes(token)
        chosen_sampled = float(dist.prob_of(np.array([token]))[0])
        step = TokenStep(
            id=token,
            bytes=data,
            text=self.utf8.feed(data),
            logprob=float(raw[token]) - lse,
            logprob_sampled=math.log(chosen_sampled) if chosen_sampled > 0 else -math.inf,
            top=self.alternatives(raw_top, raw, lse, dist, pending),
            top_sampled=self.alternatives(dist.top(k)[0], raw, lse, dist, pending),
            kept=dist.kept_count,
        )
        return step, False

    def alternatives(
        self, ids: np.ndarray, raw: np.ndarray, lse: float, dist: SampledDistribution, pending: bytes
    ) -> tuple[TopToken, ...]:
        if ids.size == 0:
            return ()
        sampled = dist.prob_of(ids).tolist()
        removed = dist.removed_by_many(ids, np.array(sampled) > 0)
        logprobs = (raw[ids].astype(np.float64) - lse).tolist()
        out = []
        for token, prob, logprob, stage in zip(ids.tolist(), sampled, logprobs, removed, strict=True):
            data = self.backend.token_bytes(token)
            sampled_logprob = math.log(prob) if prob > 0 else None
            out.append(TopToken(token, self.utf8.preview(data, pending), data, logprob, sampled_logprob, stage))
        return tuple(out)

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
