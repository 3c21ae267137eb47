"""Engine records and the Backend protocol. The one shape of a token, everywhere.

Over 400 lines on purpose: every record a caller of an engine meets, and the protocol that names them, in
one place."""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from workbench.errors import InvalidParameterError, WorkbenchError

if TYPE_CHECKING:
    import numpy as np

    from workbench.engine.model_info import ModelInfo

MAX_TOP_LOGPROBS = 20
SEED_RANGE = 2**31  # seeds are 0 .. 2^31-1: what llama.cpp's uint32 seeds and every seed field share


def fresh_seed() -> int:
    """A new random seed, recorded with the run so it can be re-run."""
    return secrets.randbelow(SEED_RANGE)


def seed_or_fresh(seed: int | None) -> int:
    return seed if seed is not None else fresh_seed()


SEED_STRIDE = 1009  # a grid's seeds: case position p, sample s -> base + 1009 p + s


def sample_seed(base: int, sample: int, position: int = 0) -> int:
    """The seed of sample `sample` (of case `position` in a grid): distinct, reproducible, in range."""
    return (base + SEED_STRIDE * position + sample) % SEED_RANGE


def pin_seed(request: GenerationRequest) -> GenerationRequest:
    """The request with a seed drawn now when it has none, so the whole run (every sample) is recorded with
    one base seed and can be re-run exactly."""
    if request.params.seed is not None:
        return request
    return replace(request, params=request.params.with_seed(fresh_seed()))


def sample_requests(request: GenerationRequest, samples: int) -> list[GenerationRequest]:
    """`samples` draws of one request: with a seed, sample i uses sample_seed(seed, i); without, each
    gets a fresh seed when it runs (and reports it)."""
    seed = request.params.seed
    if seed is None:
        return [request] * samples
    return [replace(request, params=request.params.with_seed(sample_seed(seed, i))) for i in range(samples)]


FinishReason = Literal["stop", "length", "context", "cancelled"]  # context: the context filled up first

# Where a token record's probabilities come from. The local engine knows the raw distribution and the one
# sampled from; a server reports raw log-probabilities (no sampled split) or none at all.
RAW_AND_SAMPLED = "raw+sampled"
RAW_ONLY = "raw"
NO_PROBABILITIES = "none"
PROBABILITY_NOTES = {
    RAW_AND_SAMPLED: "",
    RAW_ONLY: "the server reports raw probabilities only (no after-sampling split)",
    NO_PROBABILITIES: "no probabilities from this server",
}


def _number(value: float | None) -> float | None:
    """JSON has no NaN: an unknown probability is stored as null."""
    return None if value is None or math.isnan(value) else value


def _float(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass(frozen=True)
class SamplingParams:
    """What shapes the draw. Defaults are llama.cpp's (and LM Studio's), repeat penalty off."""

    temperature: float = 0.8
    top_k: int = 40  # 0 disables
    top_p: float = 0.95  # 1 disables
    min_p: float = 0.05  # 0 disables
    repeat_penalty: float = 1.0  # 1 disables
    repeat_last_n: int = 64
    seed: int | None = None  # None: a fresh random seed, recorded in the result

    def validate(self) -> SamplingParams:
        checks = [
            (
                math.isfinite(self.temperature) and self.temperature >= 0,
                f"temperature must be >= 0 (got {self.temperature})",
            ),
            (self.top_k >= 0, f"top-k must be >= 0, 0 disables it (got {self.top_k})"),
            (0 < self.top_p <= 1, f"top-p must be in (0, 1] (got {self.top_p})"),
            (0 <= self.min_p <= 1, f"min-p must be in [0, 1] (got {self.min_p})"),
            (
                math.isfinite(self.repeat_penalty) and self.repeat_penalty > 0,
                f"repeat penalty must be > 0, 1 disables it (got {self.repeat_penalty})",
            ),
            (self.repeat_last_n >= 0, f"repeat-last-n must be >= 0 (got {self.repeat_last_n})"),
            (self.seed is None or 0 <= self.seed < SEED_RANGE, f"seed must be in [0, 2^31) (got {self.seed})"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidParameterError(message)
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def with_seed(self, seed: int) -> SamplingParams:
        return replace(self, seed=seed)

    def with_temperature(self, temperature: float) -> SamplingParams:
        return replace(self, temperature=temperature).validate()


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    params: SamplingParams = field(default_factory=SamplingParams)
    max_tokens: int = 128
    stop: tuple[str, ...] = ()
    top_logprobs: int = 10
    add_bos: bool = True
    special: bool = False  # parse control tokens written in the prompt (chat-formatted prompts)
    prompt_ids: tuple[int, ...] = ()  # the prompt as token ids (a branch of the Explorer); `prompt` is then its text

    def validate(self) -> GenerationRequest:
        self.params.validate()
        if not self.prompt:
            raise InvalidParameterError("the prompt is empty")
        if self.max_tokens < 1:
            raise InvalidParameterError(f"max tokens must be >= 1 (got {self.max_tokens})")
        if not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidParameterError(
                f"top logprobs must be between 0 and {MAX_TOP_LOGPROBS} (got {self.top_logprobs})"
            )
        if any(s == "" for s in self.stop):
            raise InvalidParameterError("a stop string is empty")
        return self

    def sampling_record(self) -> dict[str, Any]:
        """What decides the tokens drawn: the sampling parameters (with the seed), max tokens, stop strings."""
        return {**asdict(self.params), "max_tokens": self.max_tokens, "stop": list(self.stop)}

    def settings_record(self) -> dict[str, Any]:
        """Every setting of the request except the prompt: what a stored run records as its params."""
        record = {**self.sampling_record(), "top_logprobs": self.top_logprobs, "add_bos": self.add_bos}
        return {**record, "special": self.special} if self.special else record


@dataclass(frozen=True)
class TopToken:
    """One alternative at a step: raw model logprob and logprob after the sampling transforms."""

    id: int
    text: str  # the text it would complete at this position ("" for a partial UTF-8 byte)
    bytes: bytes
    logprob: float
    logprob_sampled: float | None  # None when the transforms removed it
    removed_by: str | None = None  # "top_k", "top_p", "min_p", "greedy", or None if kept

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "bytes_hex": self.bytes.hex(),
            "logprob": self.logprob,
            "logprob_sampled": self.logprob_sampled,
            "removed_by": self.removed_by,
        }


@dataclass(frozen=True)
class TokenStep:
    """One generated token, as the backend produced it; stored, shown and exported as-is."""

    id: int
    bytes: bytes
    text: str  # the characters this token completes (UTF-8 safe; "" while a character is partial)
    logprob: float  # under the raw model distribution
    logprob_sampled: float  # under the distribution actually sampled from
    top: tuple[TopToken, ...] = ()  # raw top-K, by logprob descending
    top_sampled: tuple[TopToken, ...] = ()  # top-K of the sampled distribution
    kept: int = 0  # how many tokens the transforms kept at this step
    probabilities: str = RAW_AND_SAMPLED  # or RAW_ONLY / NO_PROBABILITIES (a server's record); NaN marks unknown

    @property
    def has_probability(self) -> bool:
        return self.probabilities != NO_PROBABILITIES and math.isfinite(self.logprob)

    @property
    def has_sampled(self) -> bool:
        return self.probabilities == RAW_AND_SAMPLED

    def to_dict(self) -> dict[str, Any]:
        record = {
            "id": self.id,
            "text": self.text,
            "bytes_hex": self.bytes.hex(),
            "logprob": _number(self.logprob),
            "logprob_sampled": _number(self.logprob_sampled),
            "kept": self.kept,
            "top": [t.to_dict() for t in self.top],
            "top_sampled": [t.to_dict() for t in self.top_sampled],
        }
        return record if self.probabilities == RAW_AND_SAMPLED else {**record, "probabilities": self.probabilities}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenStep:
        def top(entries: list[dict[str, Any]]) -> tuple[TopToken, ...]:
            return tuple(
                TopToken(
                    e["id"],
                    e["text"],
                    bytes.fromhex(e["bytes_hex"]),
                    e["logprob"],
                    e["logprob_sampled"],
                    e.get("removed_by"),
                )
                for e in entries
            )

        return cls(
            id=data["id"],
            bytes=bytes.fromhex(data["bytes_hex"]),
            text=data["text"],
            logprob=_float(data["logprob"]),
            logprob_sampled=_float(data["logprob_sampled"]),
            top=top(data["top"]),
            top_sampled=top(data.get("top_sampled", [])),
            kept=data.get("kept", 0),
            probabilities=data.get("probabilities", RAW_AND_SAMPLED),
        )


@dataclass(frozen=True)
class Timings:
    prompt_ms: float
    gen_ms: float
    prompt_tokens: int
    generated_tokens: int

    @property
    def tokens_per_s(self) -> float:
        return self.generated_tokens / self.gen_ms * 1000 if self.gen_ms > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_s": round(self.tokens_per_s, 2)}


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: FinishReason
    tokens: tuple[TokenStep, ...]
    timings: Timings
    seed: int
    stop_sequence: str | None = None  # the stop string that ended it, if any
    notes: tuple[str, ...] = ()  # what the engine could not honour (a server ignoring a setting), said once

    def to_dict(self) -> dict[str, Any]:
        record = {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "stop_sequence": self.stop_sequence,
            "seed": self.seed,
            "tokens": [t.to_dict() for t in self.tokens],
            "timings": self.timings.to_dict(),
        }
        return {**record, "notes": list(self.notes)} if self.notes else record


@dataclass(frozen=True)
class Candidate:
    """One entry of a next-token distribution (the Explorer / `workbench next`)."""

    id: int
    text: str
    bytes: bytes
    logprob: float
    prob: float
    prob_sampled: float
    kept: bool
    removed_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "bytes_hex": self.bytes.hex(),
            "logprob": self.logprob,
            "prob": self.prob,
            "prob_sampled": self.prob_sampled,
            "kept": self.kept,
            "removed_by": self.removed_by,
        }


@dataclass(frozen=True)
class NextTokenDistribution:
    prompt_tokens: int
    candidates: tuple[Candidate, ...]
    kept_count: int  # how many vocabulary entries the transforms keep
    kept_mass: float  # raw probability mass of the kept tokens
    entropy_bits: float = math.nan  # of the raw distribution over the whole vocabulary

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "kept_count": self.kept_count,
            "kept_mass": self.kept_mass,
            "entropy_bits": self.entropy_bits,
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass(frozen=True)
class PositionScore:
    """One position of a text under teacher forcing: the token that is there, its raw log-probability
    given everything before it, its rank (1: the model's first choice) and the top alternatives."""

    id: int
    logprob: float
    rank: int
    top: tuple[tuple[int, float], ...]  # (token id, logprob), most probable first


OnToken = Callable[[TokenStep], None]
Outcome = Generation | WorkbenchError  # a request's result: its generation, or the error it met
OnSequenceToken = Callable[[int, TokenStep], None]  # request index, token
OnSequenceDone = Callable[[int, Outcome], None]


class Cancel:
    """Stop a group of generations, from any thread: all of them now (`cancel()`), one (`cancel(index)`), or
    `drain()`: start nothing new and let the running ones finish. Engines check it between tokens."""

    def __init__(self) -> None:
        self.all = threading.Event()
        self.draining = threading.Event()
        self._indices: set[int] = set()
        self.lock = threading.Lock()

    def cancel(self, index: int | None = None) -> None:
        if index is None:
            self.all.set()
            return
        with self.lock:
            self._indices.add(index)

    def drain(self) -> None:
        self.draining.set()

    def is_cancelled(self, index: int) -> bool:
        with self.lock:
            return self.all.is_set() or index in self._indices

    def starts_nothing_new(self) -> bool:
        return self.all.is_set() or self.draining.is_set()


@runtime_checkable
class EngineOptions(Protocol):
    """How a backend was loaded, as far as callers need to know (recorded with every run)."""

    numerics: str  # reference or fast
    batching: str  # exact or fast
    n_parallel: int  # sequences decoded together at most

    def describe(self) -> dict[str, str]: ...


@runtime_checkable
class Backend(Protocol):
    """What every engine offers (llama.cpp in-process; an OpenAI-compatible server), and the type every
    caller gives its engine. cancel() may be called from any thread; the rest run one at a time (the
    local backend serialises them; a remote one takes `options.n_parallel` requests at once). What an
    engine cannot do raises UnsupportedError with the reason."""

    remote: bool  # a server: raw probabilities at most, no whole-vocabulary views
    info: ModelInfo
    options: EngineOptions
    n_ctx: int

    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    def generate(self, request: GenerationRequest, on_token: OnToken | None = None) -> Generation: ...

    def generate_many(
        self,
        requests: Sequence[GenerationRequest],
        width: int | None = None,
        on_token: OnSequenceToken | None = None,
        on_done: OnSequenceDone | None = None,
        cancel: Cancel | None = None,
    ) -> list[Outcome | None]:
        """Every request, up to `width` at once (default `options.n_parallel`): the local engine decodes them
        together (exact batching: each equal to running alone), a server gets them in flight. A failure is
        that request's outcome; None: never started (cancelled, drained)."""
        ...

    def next_token(
        self, prompt: str, params: SamplingParams, top: int = 20, add_bos: bool = True, special: bool = False
    ) -> NextTokenDistribution: ...

    def continuation_logprobs(
        self, prompt: str, continuations: Sequence[str], add_bos: bool = True, special: bool = False
    ) -> list[float]: ...

    def logits_after(self, token_ids: list[int]) -> np.ndarray: ...

    def score_tokens(
        self, token_ids: list[int], top: int = 5, stepwise_from: int | None = None
    ) -> list[PositionScore]: ...

    def sibling(self, numerics: str) -> Backend: ...

    def hold(self) -> AbstractContextManager[Backend]: ...

    def runtime_info(self) -> dict[str, Any]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...
