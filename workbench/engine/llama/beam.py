"""Beam search: keep the B most probable partial texts instead of one.

Every step, each live beam proposes its B most probable next tokens (raw model log-probabilities,
no temperature: beam search ranks, it does not roll dice); of all proposals and the beams already
finished, the B with the highest total log-probability survive. Each beam has its own KV stream
(exact batching: a beam's numbers equal the same text decoded alone); a beam that branches copies
its parent's stream into a slot nobody needs any more, so no stream is overwritten while still read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.engine.llama.batched import MAX_EXACT_ROWS
from workbench.engine.sampling import top_indices
from workbench.errors import EngineError, InvalidParameterError

MAX_BEAMS = 8


@dataclass(frozen=True)
class BeamNode:
    """One kept candidate of one step: the search drawn as a tree."""

    id: int
    parent: int | None  # the node it extends (None: the prompt)
    step: int
    token: int
    text: str
    logprob: float
    total: float  # log-probability of the whole beam up to here
    finished: bool  # the model ended the text here (an end-of-generation token)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Beam:
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    total_logprob: float
    finish_reason: str  # "stop" (end of generation) or "length"
    node: int  # its last node in the tree

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "total_logprob": self.total_logprob,
            "token_ids": list(self.token_ids),
            "logprobs": list(self.logprobs),
            "finish_reason": self.finish_reason,
            "node": self.node,
        }


@dataclass
class BeamResult:
    beams: list[Beam]  # best first
    nodes: list[BeamNode]
    prompt_tokens: int
    elapsed_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "beams": [b.to_dict() for b in self.beams],
            "nodes": [n.to_dict() for n in self.nodes],
            "prompt_tokens": self.prompt_tokens,
            "elapsed_ms": self.elapsed_ms,
        }


@dataclass
class _State:
    slot: int
    node: int | None
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    total: float = 0.0
    finish: str | None = None


def check_beams(beams: int, n_parallel: int) -> None:
    if not 1 <= beams <= MAX_BEAMS:
        raise InvalidParameterError(f"beams must be between 1 and {MAX_BEAMS} (got {beams})")
    if beams > n_parallel:
        raise InvalidParameterError(f"{beams} beams need a model loaded with at least {beams} parallel sequences")


def beam_search(
    backend, prompt: str, beams: int, max_tokens: int, add_bos: bool = True, special: bool = False
) -> BeamResult:
    """The `beams` most probable continuations of `prompt` found by beam search, best first."""
    check_beams(beams, backend.options.n_parallel)
    if max_tokens < 1:
        raise InvalidParameterError(f"max tokens must be >= 1 (got {max_tokens})")
    started = time.perf_counter()
    with backend.lock:
        if backend.closed:
            raise EngineError(f"{backend.info.name} was unloaded")
        backend.forget_cache()
        try:
            prompt_ids = backend.prepare_prompt(prompt, add_bos, room=1, special=special)
            search = _Search(backend, beams, len(prompt_ids))
            logits = backend.evaluate_prompt_into(prompt_ids, 0, backend.plan_prompt([], 0, prompt_ids))
            search.run(logits, max_tokens)
        finally:
            backend.forget_cache()
    elapsed = (time.perf_counter() - started) * 1000
    return BeamResult(search.best(), search.nodes, len(prompt_ids), elapsed)


class _Search:
    def __init__(self, backend, width: int, prompt_length: int) -> None:
        self.backend = backend
        self.width = width
        self.prompt_length = prompt_length
        self.nodes: list[BeamNode] = []
        self.finished: list[_State] = []

    def run(self, logits: np.ndarray, max_tokens: int) -> None:
        live = [_State(slot=0, node=None)]
        logits_of = {0: logits}
        for step in range(max_tokens):
            kept = self.select(live, logits_of, step)
            live = [s for s in kept if s.finish is None]
            self.finished = [s for s in kept if s.finish is not None]
            if not live:
                return
            if step + 1 == max_tokens:
                break
            logits_of = self.decode(live)
        for state in live:
            state.finish = "length"
        self.finished += live

    def select(self, live: list[_State], logits_of: dict[int, np.ndarray], step: int) -> list[_State]:
        buffers = self.backend.buffers
        proposals: list[tuple[float, _State | None, int, float]] = [(s.total, s, -1, 0.0) for s in self.finished]
        for state in live:
            logits = logits_of[state.slot]
            highest, log_z = buffers.log_normaliser(logits)
            near = buffers.near if buffers.near_of is logits else None
            for token in top_indices(logits, self.width, highest, buffers.mask, near):
                logprob = float(logits[token]) - log_z
                proposals.append((state.total + logprob, state, int(token), logprob))
        proposals.sort(key=lambda p: -p[0])  # stable: ties keep the earlier beam and the lower id
        kept = []
        for total, parent, token, logprob in proposals[: self.width]:
            if token < 0:  # an already finished beam stays as it is
                kept.append(parent)
                continue
            end = self.backend.is_end_of_generation(token)
            data = b"" if end else self.backend.token_bytes(token)
            node = BeamNode(
                len(self.nodes), parent.node, step, token, data.decode("utf-8", "replace"), logprob, total, end
            )
            self.nodes.append(node)
            child = _State(
                parent.slot, node.id, [*parent.ids, token], [*parent.logprobs, logprob], total, "stop" if end else None
            )
            kept.append(child)
        self.place([s for s in kept if s.finish is None])
        return kept

    def place(self, children: list[_State]) -> None:
        """Give each live child a KV stream: the first child of a parent keeps the parent's stream, the
        others get a copy of it in a stream whose beam has no child (so nothing still needed is overwritten)."""
        memory = self.backend.memory
        parents = {c.slot for c in children}
        free = [slot for slot in range(self.width) if slot not in parents]
        staying: set[int] = set()
        for child in children:
            if child.slot not in staying:
                staying.add(child.slot)
                continue
            target = free.pop(0)
            memory.remove(target)
            memory.copy(child.slot, target)
            child.slot = target
        for slot in free:
            memory.remove(slot)

    def decode(self, live: list[_State]) -> dict[int, np.ndarray]:
        """Each live beam's newest token, one row per beam (at most 7 rows per call when exact)."""
        limit = MAX_EXACT_ROWS if self.backend.options.exact_batching else len(live)
        groups = -(-len(live) // limit)
        size = -(-len(live) // groups)
        logits_of = {}
        for start in range(0, len(live), size):
            part = live[start : start + size]
            rows = self.backend.decode_rows([(s.ids[-1], self.prompt_length + len(s.ids) - 1, s.slot) for s in part])
            for state, row in zip(part, rows, strict=True):
                logits_of[state.slot] = row
        return logits_of

    def best(self) -> list[Beam]:
        ranked = sorted(self.finished, key=lambda s: -s.total)[: self.width]
        beams = []
        for state in ranked:
            ids = state.ids[:-1] if state.finish == "stop" else state.ids
            text = b"".join(self.backend.token_bytes(t) for t in ids).decode("utf-8", "replace")
            beams.append(
                Beam(tuple(ids), tuple(state.logprobs), text, state.total, state.finish or "length", state.node)
            )
        return beams
