"""Batched multi-sequence generation: many requests decoded together, one token each per step.

Each request gets a sequence. A prompt is evaluated once, cut as the single path cuts it
(prompt_plan), and copied to every other sequence with the same prompt or a reusable shared
prefix (`llama_memory_seq_cp`, no re-evaluation). Then each step puts the last token of every
live sequence into one `llama_batch`; each sequence samples from its own row with its own
settings and its own seed's RNG. A finished sequence frees its slot for the next request
(continuous batching); requests beyond the width wait in the queue.

Exact batching (the default): every sequence has its own KV stream, weights are not repacked and
at most 7 rows go into one decode, so a sample is bit-identical to the single path's. Fast
batching: one unified KV cache, repacked weights and every live row in one decode; results then
equal running alone only within the arithmetic noise floor (workbench.engine.numerics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from workbench.engine.base import (
    Cancel,
    Generation,
    GenerationRequest,
    OnSequenceDone,
    OnSequenceToken,
    Outcome,
    Timings,
    seed_or_fresh,
)
from workbench.engine.llama.decode_loop import Run
from workbench.engine.llama.prompt_plan import PromptPlan
from workbench.errors import WorkbenchError

# llama.cpp's CPU flash attention switches to a tiled kernel for 8 or more query rows
# (GGML_FA_TILE_Q), which rounds differently from the one-row kernel of the single path;
# decoding at most 7 rows per llama_decode keeps every row bit-identical to running alone.
MAX_EXACT_ROWS = 7


@dataclass
class _Slot:
    index: int  # which request
    seq: int
    run: Run
    prompt_ids: list[int]
    started: float
    prompt_ms: float
    reusable: int  # leading prompt rows another sequence may copy (prompt_plan)
    logits: np.ndarray | None = None  # for the next sample (from the prompt, or the last step's row)


def generate_many(
    backend,
    requests: list[GenerationRequest],
    width: int,
    on_token: OnSequenceToken | None = None,
    on_done: OnSequenceDone | None = None,
    cancel: Cancel | None = None,
) -> list[Outcome | None]:
    """Generate every request, `width` at a time; each result is a Generation or the error it met."""
    width = max(1, min(width, backend.options.n_parallel))
    cancel = cancel or Cancel()
    results: list[Generation | WorkbenchError | None] = [None] * len(requests)
    seeds = [seed_or_fresh(r.params.seed) for r in requests]
    with backend.lock:
        backend.cancel_event.clear()
        backend.forget_cache()
        try:
            _Batch(backend, requests, seeds, width, on_token, on_done, cancel, results).run()
        finally:
            backend.forget_cache()
    return results


class _Batch:
    def __init__(self, backend, requests, seeds, width, on_token, on_done, cancel, results) -> None:
        self.backend = backend
        self.llama_cpp = backend.llama_cpp
        self.requests = requests
        self.seeds = seeds
        self.width = width
        self.on_token = on_token
        self.on_done = on_done
        self.cancel = cancel
        self.results = results
        self.queue = list(range(len(requests)))
        self.slots: dict[int, _Slot] = {}  # seq id -> slot
        self.prompt_logits: dict[tuple[int, ...], np.ndarray] = {}

    # -- admission -------------------------------------------------------------------------
    def admit(self) -> None:
        while self.queue and len(self.slots) < self.width and not self.cancel.starts_nothing_new():
            index = self.queue[0]
            request = self.requests[index]
            try:
                request.validate()
                prompt_ids = self.backend.request_ids(request)
            except WorkbenchError as err:
                self.queue.pop(0)
                self.finish_error(index, err)
                continue
            self.queue.pop(0)
            seq = next(s for s in range(self.width) if s not in self.slots)
            self.start(index, seq, prompt_ids)

    def start(self, index: int, seq: int, prompt_ids: list[int]) -> None:
        request = replace(self.requests[index], params=self.requests[index].params.with_seed(self.seeds[index]))
        started = time.perf_counter()
        logits, reusable = self.load_prompt(seq, prompt_ids)
        prompt_ms = (time.perf_counter() - started) * 1000
        run = Run(self.backend, request, self.seeds[index], prompt_ids)
        self.slots[seq] = _Slot(index, seq, run, prompt_ids, started, prompt_ms, reusable, logits)

    def load_prompt(self, seq: int, prompt_ids: list[int]) -> tuple[np.ndarray, int]:
        """The prompt's KV from a running sequence that shares it (all of it, or the part of a common
        prefix that prompt_plan says is exact to reuse), the rest evaluated; its logits and reusable rows."""
        key = tuple(prompt_ids)
        best, plan = None, self.backend.plan_prompt([], 0, prompt_ids)
        for other in self.slots.values():
            if other.prompt_ids == prompt_ids and key in self.prompt_logits:
                best, plan = other, PromptPlan(len(prompt_ids), (), other.reusable)
                break
            candidate = self.backend.plan_prompt(other.prompt_ids, other.reusable, prompt_ids)
            if candidate.keep > plan.keep:
                best, plan = other, candidate
        if best is not None:
            # llama.cpp copies a sequence's cells whole; everything after the shared part
            # (the other's own prompt end and generated tokens) is then dropped
            self.backend.memory.copy(best.seq, seq)
            self.backend.memory.remove(seq, plan.keep)
            if plan.keep == len(prompt_ids):
                self.backend.prompt_tokens_reused += plan.keep
                return self.prompt_logits[key], plan.reusable
        logits = self.backend.evaluate_prompt_into(prompt_ids, seq, plan)
        self.prompt_logits[key] = logits
        return logits, plan.reusable

    # -- stepping --------------------------------------------------------------------------
    def run(self) -> None:
        self.admit()
        while self.slots:
            ready = []
            for slot in list(self.slots.values()):
                if self.cancel.is_cancelled(slot.index):
                    self.finish(slot, "cancelled")
                    continue
                callback = (lambda step, i=slot.index: self.on_token(i, step)) if self.on_token else None
                finish = slot.run.advance(slot.logits, callback)
                if finish is not None:
                    self.finish(slot, finish)
                else:
                    ready.append(slot)
            if ready:
                self.step(ready)
            self.admit()

    def step(self, slots: list[_Slot]) -> None:
        limit = MAX_EXACT_ROWS if self.backend.options.exact_batching else len(slots)
        groups = -(-len(slots) // limit)
        size = -(-len(slots) // groups)  # balanced: 8 rows run as 4 + 4, not 7 + 1
        for start in range(0, len(slots), size):
            part = slots[start : start + size]
            rows = self.backend.decode_rows([(s.run.history[-1], len(s.run.history) - 1, s.seq) for s in part])
            for slot, row in zip(part, rows, strict=True):
                slot.logits = row

    def finish(self, slot: _Slot, reason: str) -> None:
        del self.slots[slot.seq]
        self.backend.memory.remove(slot.seq)
        run = slot.run
        gen_ms = (time.perf_counter() - slot.started) * 1000 - slot.prompt_ms
        timings = Timings(slot.prompt_ms, gen_ms, len(slot.prompt_ids), run.sampled)
        generation = Generation(run.text, reason, tuple(run.steps), timings, run.seed, run.stop_sequence)
        self.results[slot.index] = generation
        if self.on_done is not None:
            self.on_done(slot.index, generation)

    def finish_error(self, index: int, err: WorkbenchError) -> None:
        self.results[index] = err
        if self.on_done is not None:
            self.on_done(index, err)
