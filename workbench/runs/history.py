"""The history of runs: keeping every generation, reopening one exactly, and comparing two token by token.
Searching and filtering is `store.RunQuery`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from workbench import models
from workbench.engine.base import Backend, Generation, GenerationRequest, SamplingParams
from workbench.errors import InputError
from workbench.store import Store

SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n")


KINDS = ("generate", "playground", "explorer", "chat")  # "generate": the CLI


def save_generation(
    store: Store,
    backend: Backend,
    request: GenerationRequest,
    samples: list[Generation],
    kind: str,
    source: str = "",
) -> int | None:
    """Keep one generation (all its samples) as a run: the prompt, every setting, each sample's seed, the
    model (name, path, hash prefix), the context, the numeric mode and every token record. None: the app's
    "keep every run" setting is off (the CLI decides with --no-log)."""
    if kind != "generate" and not keeps_history(store):
        return None
    options = getattr(backend, "options", None)
    return store.save_run(
        kind,
        backend.info.name,
        backend.info.path,
        request,
        samples[0].timings.prompt_tokens if samples else 0,
        samples,
        numerics=getattr(options, "numerics", None),
        batching=getattr(options, "batching", None),
        source=source,
        model_sha256=models.model_sha256(backend.info.path),
        n_ctx=getattr(backend, "n_ctx", None),
    )


KEEP_HISTORY = "keep_history"


def keeps_history(store: Store) -> bool:
    return store.meta(KEEP_HISTORY) != "0"


def set_keep_history(store: Store, on: bool) -> None:
    store.set_meta(KEEP_HISTORY, "1" if on else "0")


def reproduce_request(run: dict[str, Any], sample: int = 0) -> GenerationRequest:
    """The request that reproduces sample `sample` of a stored run token for token: its prompt, every
    setting, and the seed that sample actually used."""
    params = run["params"]
    samples = run.get("samples") or []
    if samples and not 0 <= sample < len(samples):
        raise InputError(f"run {run['id']} has {len(samples)} sample(s); there is no sample {sample + 1}")
    seed = samples[sample]["seed"] if samples else params.get("seed")
    sampling = SamplingParams(**{k: params[k] for k in SAMPLING_KEYS if k in params}, seed=seed)
    return GenerationRequest(
        prompt=run["prompt"],
        params=sampling,
        max_tokens=params.get("max_tokens", 128),
        stop=tuple(params.get("stop") or ()),
        top_logprobs=params.get("top_logprobs", 10),
        add_bos=params.get("add_bos", True),
        special=params.get("special", False),
    ).validate()


@dataclass(frozen=True)
class SideAt:
    """One run's token where the two runs part, and how likely each run found the other's choice."""

    token_id: int | None
    text: str
    prob: float | None
    prob_of_other: float | None  # None: the other token is not among this step's stored alternatives


@dataclass(frozen=True)
class Divergence:
    common_tokens: int
    common_text: str
    left: SideAt | None = None  # None on both sides: identical
    right: SideAt | None = None
    same_prompt: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.left is None and self.right is None

    def to_dict(self) -> dict[str, Any]:
        def side(value: SideAt | None) -> dict[str, Any] | None:
            return None if value is None else value.__dict__.copy()

        return {
            "identical": self.identical,
            "common_tokens": self.common_tokens,
            "common_text": self.common_text,
            "left": side(self.left),
            "right": side(self.right),
            "same_prompt": self.same_prompt,
            "notes": self.notes,
        }


def _prob(logprob: float | None) -> float | None:
    return math.exp(logprob) if logprob is not None and math.isfinite(logprob) else None


def _side(steps: list[dict[str, Any]], index: int, other_id: int | None) -> SideAt | None:
    if index >= len(steps):
        return SideAt(None, "(ended)", None, None)
    step = steps[index]
    other = next((t for t in step.get("top", []) if t["id"] == other_id), None)
    return SideAt(step["id"], step["text"], _prob(step["logprob"]), _prob(other["logprob"]) if other else None)


def diff_runs(left: dict[str, Any], right: dict[str, Any], left_sample: int = 0, right_sample: int = 0) -> Divergence:
    """Where two runs' token streams first differ, and each side's probabilities at that point."""
    a = left["samples"][left_sample]["tokens"]
    b = right["samples"][right_sample]["tokens"]
    common = 0
    while common < min(len(a), len(b)) and a[common]["id"] == b[common]["id"]:
        common += 1
    text = "".join(step["text"] for step in a[:common])
    notes = []
    same_prompt = left["prompt"] == right["prompt"]
    if not same_prompt:
        notes.append("the prompts differ: the probabilities are conditioned on different texts")
    if left.get("model_path") != right.get("model_path"):
        notes.append("the models differ")
    if common == len(a) == len(b):
        return Divergence(common, text, same_prompt=same_prompt, notes=notes)
    a_id = a[common]["id"] if common < len(a) else None
    b_id = b[common]["id"] if common < len(b) else None
    return Divergence(common, text, _side(a, common, b_id), _side(b, common, a_id), same_prompt, notes)
