"""The Backend over an OpenAI-compatible server: /v1/completions (streamed) for raw prompts, templates and
grids, /v1/chat/completions for chat, /v1/models to list, the server's own tokenize endpoint where it has one.

It is thread-safe and meant to be called from several threads at once (a grid keeps K requests in flight so
a server with continuous batching stays busy). What a server cannot do (a whole-vocabulary distribution,
logits, the other numeric configuration) raises UnsupportedError with the reason.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from workbench.engine.base import (
    Cancel,
    Generation,
    GenerationRequest,
    NextTokenDistribution,
    OnSequenceDone,
    OnSequenceToken,
    OnToken,
    Outcome,
    PositionScore,
    SamplingParams,
    Timings,
    TokenStep,
    seed_or_fresh,
)
from workbench.engine.many import one_at_a_time
from workbench.engine.openai_compat import server
from workbench.engine.openai_compat.endpoint import Endpoint, remote_info
from workbench.engine.openai_compat.records import prompt_logprobs, steps_from_logprobs
from workbench.errors import InvalidParameterError, RemoteError, UnsupportedError

ASSUMED_CONTEXT = 4096  # when the server does not say (only llama.cpp's /props does)
FINISH = {"stop": "stop", "length": "length", "eos": "stop", "stop_sequence": "stop"}


@dataclass(frozen=True)
class RemoteOptions:
    """EngineOptions of a server: its arithmetic and batching are its own, recorded as such."""

    endpoint: Endpoint
    kind: str
    n_parallel: int = 4
    numerics: str = "server"
    batching: str = "server"

    def describe(self) -> dict[str, str]:
        return {
            "numerics": self.numerics,
            "numerics_detail": f"the {self.kind} server's own configuration",
            "batching": self.batching,
            "batching_detail": "the server's (continuous batching where it has it)",
            **{k: str(v) for k, v in self.endpoint.describe().items()},
        }


class RemoteBackend:
    remote = True

    def __init__(self, endpoint: Endpoint, parallel: int = 4) -> None:
        if not 1 <= parallel <= 256:
            raise InvalidParameterError(f"requests in flight must be 1..256 (got {parallel})")
        self.endpoint = endpoint.validate()
        self.client = server.make_client(self.endpoint)
        listed = server.server_models(self.client, self.endpoint)
        self.model = server.check_model(self.endpoint, listed)
        self.profile = server.detect_profile(self.endpoint, listed)
        self.n_ctx, self.context_known = self._context()
        self.endpoint = replace(self.endpoint, model=self.model)
        self.options = RemoteOptions(self.endpoint, self.profile.kind, parallel)
        self.info = replace(remote_info(self.endpoint), context_length=self.n_ctx if self.context_known else None)
        self._streams: set[Any] = set()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._logprobs_refused = False
        self._bos_ids: list[int] | None = None
        self.closed = False

    def _context(self) -> tuple[int, bool]:
        if self.profile.kind != "llama.cpp":
            return ASSUMED_CONTEXT, False
        status, body = server.http_json(self.endpoint, "GET", "/props")
        settings = body.get("default_generation_settings", {}) if isinstance(body, dict) else {}
        n_ctx = settings.get("n_ctx") or (body or {}).get("n_ctx")
        return (int(n_ctx), True) if status == 200 and isinstance(n_ctx, int) else (ASSUMED_CONTEXT, False)

    # -- generation --------------------------------------------------------------------------
    def generate(self, request: GenerationRequest, on_token: OnToken | None = None) -> Generation:
        request.validate()
        if request.prompt_ids:
            raise UnsupportedError("a server takes text, not token ids: a branch of token ids cannot be sent")
        seed = seed_or_fresh(request.params.seed)
        settings, notes = server.sampling_settings(self.profile, request.params, seed)
        if not request.add_bos:
            notes.append("the server adds the model's BOS token itself (--no-bos not applied)")
        body = {"prompt": request.prompt, **self._common(request, settings)}
        return self._stream(self.client.completions.create, body, request, seed, notes, on_token, chat=False)

    def generate_many(
        self,
        requests: Sequence[GenerationRequest],
        width: int | None = None,
        on_token: OnSequenceToken | None = None,
        on_done: OnSequenceDone | None = None,
        cancel: Cancel | None = None,
    ) -> list[Outcome | None]:
        """Up to `width` requests in flight (default: this backend's), one at a time where the kind of server
        cuts concurrent streams (said once in each generation's notes)."""
        width = min(width or self.options.n_parallel, len(requests))
        if width <= 1 or not self.profile.serial:
            from workbench.engine.openai_compat.concurrent import generate_concurrently

            return generate_concurrently(self, requests, max(1, width), on_token, on_done, cancel)
        note = self.profile.serial

        def noted(index: int, outcome: Outcome) -> None:
            if isinstance(outcome, Generation) and note not in outcome.notes:
                outcome = replace(outcome, notes=(*outcome.notes, note))
            outcomes[index] = outcome
            if on_done is not None:
                on_done(index, outcome)

        outcomes: list[Outcome | None] = [None] * len(requests)
        one_at_a_time(self, requests, on_token, noted, cancel)
        return outcomes

    def chat(
        self, messages: list[dict[str, str]], request: GenerationRequest, on_token: OnToken | None = None
    ) -> Generation:
        """A conversation through /v1/chat/completions: the server applies its model's chat template."""
        request.validate()
        seed = seed_or_fresh(request.params.seed)
        settings, notes = server.sampling_settings(self.profile, request.params, seed)
        body = {"messages": messages, **self._common(request, settings, chat=True)}
        return self._stream(self.client.chat.completions.create, body, request, seed, notes, on_token, chat=True)

    def _common(self, request: GenerationRequest, settings: dict[str, Any], chat: bool = False) -> dict[str, Any]:
        standard = {k: settings.pop(k) for k in ("temperature", "top_p", "seed") if k in settings}
        body: dict[str, Any] = {"model": self.model, "max_tokens": request.max_tokens, "stream": True, **standard}
        if request.stop:
            body["stop"] = list(request.stop)
        if not self._logprobs_refused:
            top = min(request.top_logprobs, self.profile.max_top_logprobs)
            body.update({"logprobs": True, "top_logprobs": top} if chat else {"logprobs": top})
        if settings:
            body["extra_body"] = settings
        return body

    def _stream(self, create, body, request, seed, notes, on_token, chat: bool) -> Generation:
        try:
            return self._collect(create, body, request, seed, notes, on_token, chat)
        except RemoteError as err:
            if "logprobs" not in body or not _refuses_logprobs(err):
                raise
            self._logprobs_refused = True  # e.g. llama-cpp-python's server without --logits_all
            body = {k: v for k, v in body.items() if k not in ("logprobs", "top_logprobs")}
            return self._collect(create, body, request, seed, notes, on_token, chat)

    def _collect(self, create, body, request, seed, notes, on_token, chat: bool) -> Generation:
        with self._lock:
            if not self._streams:  # a new run after a cancelled one (requests in flight keep the flag)
                self._cancel.clear()
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        steps: list[TokenStep] = []
        finish, usage = None, None
        stream = None
        try:
            stream = create(**body)
            self._track(stream, add=True)
            for chunk in stream:
                if self._cancel.is_set():
                    finish = "cancelled"
                    break
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                piece, logprobs = _piece(choice, chat)
                first = first or time.perf_counter()
                pieces.append(piece)
                for step in steps_from_logprobs(logprobs, piece):
                    steps.append(step)
                    if on_token is not None:
                        on_token(step)
                finish = FINISH.get(choice.finish_reason or "", finish) if choice.finish_reason else finish
        except Exception as err:
            if not self._cancel.is_set():
                raise server.remote_error(err, self.endpoint) from None
            finish = "cancelled"
        finally:
            if stream is not None:
                self._track(stream, add=False)
                stream.close()
        if finish is None:
            raise RemoteError(f"{self.endpoint.base_url} ended the stream without a finish reason", transient=True)
        ended = time.perf_counter()
        first = first or ended
        prompt_tokens = self._prompt_tokens(usage, request, chat)
        timings = Timings((first - started) * 1000, (ended - first) * 1000, prompt_tokens, len(steps))
        if self._logprobs_refused:
            notes.append("no probabilities from this server")
        return Generation("".join(pieces), finish, tuple(steps), timings, seed, notes=tuple(notes))

    def _prompt_tokens(self, usage: Any, request: GenerationRequest, chat: bool) -> int:
        count = getattr(usage, "prompt_tokens", None)
        if isinstance(count, int):
            return count
        if chat or self.profile.tokenize_path is None:
            return 0
        try:
            return len(self.tokenize(request.prompt, request.add_bos, request.special))
        except RemoteError:
            return 0

    def _track(self, stream: Any, add: bool) -> None:
        with self._lock:
            (self._streams.add if add else self._streams.discard)(stream)

    # -- scoring -----------------------------------------------------------------------------
    def continuation_logprobs(
        self, prompt: str, continuations: Sequence[str], add_bos: bool = True, special: bool = False
    ) -> list[float]:
        """log P(continuation | prompt) from the server's echoed prompt log-probabilities."""
        if not self.profile.echo_logprobs:
            raise UnsupportedError(
                f"label-likelihood scoring needs prompt log-probabilities (echo), which this {self.profile.kind} "
                "server does not return; score by the generated answer instead"
            )
        if self.profile.kind == "llama-cpp-python" and not self._bos():
            raise UnsupportedError(
                "llama-cpp-python's server misaligns echoed log-probabilities for a model without a BOS token "
                "(each is paired with the wrong token): label-likelihood scoring is unavailable for this model"
            )
        scores = []
        for text in continuations:
            if not text:
                raise InvalidParameterError(f"cannot score the continuation {text!r}")
            body = {"model": self.model, "prompt": prompt + text, "max_tokens": 1, "temperature": 0.0}
            try:
                response = self.client.completions.create(**body, echo=True, logprobs=0)
                logprobs = response.choices[0].logprobs.model_dump()
            except Exception as err:
                raise server.remote_error(err, self.endpoint) from None
            total = prompt_logprobs(logprobs, len(prompt), len(prompt) + len(text))
            if total is None:
                raise RemoteError(f"{self.endpoint.base_url} echoed no prompt log-probabilities for {text!r}")
            scores.append(total)
        return scores

    def next_token(
        self, prompt: str, params: SamplingParams, top: int = 20, add_bos: bool = True, special: bool = False
    ) -> NextTokenDistribution:
        raise UnsupportedError(self._whole_vocabulary("the next-token view"))

    def logits_after(self, token_ids: list[int]):
        raise UnsupportedError(self._whole_vocabulary("raw logits"))

    def score_tokens(self, token_ids: list[int], top: int = 5, stepwise_from: int | None = None) -> list[PositionScore]:
        raise UnsupportedError(self._whole_vocabulary("scoring a text token by token"))

    def sibling(self, numerics: str) -> RemoteBackend:
        raise UnsupportedError("a server runs in its own numeric configuration: the noise check needs the local model")

    def _whole_vocabulary(self, what: str) -> str:
        return (
            f"{what} needs the whole vocabulary's probabilities; a server reports its top few only (use a local model)"
        )

    # -- vocabulary --------------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]:
        path = self.profile.tokenize_path
        if path is None:
            raise UnsupportedError(
                f"tokenizing is unavailable: this {self.profile.kind} server has no tokenize endpoint"
            )
        tokens = self._tokenize(path, text, add_bos, special)
        if not add_bos and self.profile.kind == "llama-cpp-python":  # its endpoint always adds BOS
            bos = self._bos()
            tokens = tokens[len(bos) :] if tokens[: len(bos)] == bos else tokens
        return tokens

    def _tokenize(self, path: str, text: str, add_bos: bool, special: bool) -> list[int]:
        body = server.tokenize_body(self.profile, self.model, text, add_bos, special)
        status, answer = server.http_json(self.endpoint, "POST", path, body)
        if status != 200:
            raise RemoteError(f"{self.endpoint.server_root}{path} failed with HTTP {status}")
        return server.tokens_of(answer)

    def _bos(self) -> list[int]:
        """What the server's tokenizer puts before any text (its BOS, or nothing)."""
        if self._bos_ids is None:
            self._bos_ids = self._tokenize(self.profile.tokenize_path or "", "", True, False)
        return self._bos_ids

    def token_bytes(self, token_id: int) -> bytes:
        return self.detokenize([token_id])

    def detokenize(self, token_ids: list[int]) -> bytes:
        """The bytes of whole characters the tokens spell (servers refuse or mangle a partial character)."""
        paths = {"llama.cpp": "/detokenize", "llama-cpp-python": "/extras/detokenize", "vllm": "/detokenize"}
        path = paths.get(self.profile.kind)
        if path is None:
            raise UnsupportedError(f"this {self.profile.kind} server has no detokenize endpoint")
        status, answer = server.http_json(self.endpoint, "POST", path, {"tokens": token_ids, "model": self.model})
        fields = ("content", "text", "prompt")
        text = next((answer[k] for k in fields if isinstance(answer, dict) and k in answer), None)
        if status != 200 or text is None:
            raise RemoteError(f"{self.endpoint.server_root}{path} failed with HTTP {status}")
        return str(text).encode("utf-8")

    # -- lifetime ----------------------------------------------------------------------------
    @contextmanager
    def hold(self) -> Iterator[RemoteBackend]:
        yield self

    def runtime_info(self) -> dict[str, Any]:
        return {
            "server": self.profile.kind,
            "server_model": self.model,
            "n_ctx": self.n_ctx,
            "n_ctx_known": self.context_known,
            "accepts": sorted(self.profile.accepts),
            "tokenize": self.profile.tokenize_path is not None,
            "in_flight": self.options.n_parallel,
            **self.options.describe(),
        }

    def cancel(self) -> None:
        """Stop every request in flight: the flag ends the loops, closing the streams ends waiting reads."""
        self._cancel.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()

    def close(self) -> None:
        self.cancel()
        self.client.close()
        self.closed = True


def _piece(choice: Any, chat: bool) -> tuple[str, dict[str, Any] | None]:
    logprobs = choice.logprobs.model_dump() if getattr(choice, "logprobs", None) is not None else None
    if chat:
        return (getattr(choice.delta, "content", None) or ""), logprobs
    return (choice.text or ""), logprobs


def _refuses_logprobs(err: RemoteError) -> bool:
    return "logprob" in str(err).lower() and not err.unreachable
