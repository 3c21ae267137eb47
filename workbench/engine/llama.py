"""In-process llama.cpp backend (single sequence) with per-token probabilities.

llama.cpp evaluates; numpy samples (workbench.engine.sampling), so the probabilities
reported for each step are exactly those the token was drawn from. Only the last
position's logits are read (no `logits_all`: that would hold n_ctx x vocab floats).
"""

from __future__ import annotations

import codecs
import ctypes
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workbench.config import default_threads
from workbench.engine.base import (
    Candidate,
    Generation,
    GenerationRequest,
    NextTokenDistribution,
    OnToken,
    SamplingParams,
    Timings,
    TokenStep,
    TopToken,
)
from workbench.engine.sampling import SampledDistribution, apply_repeat_penalty, distribution, logsumexp, top_indices
from workbench.errors import ContextOverflowError, EngineError, InvalidParameterError, ModelLoadError
from workbench.models import ModelInfo, inspect

SEED_RANGE = 2**31


@dataclass(frozen=True)
class LoadOptions:
    n_ctx: int = 4096
    n_threads: int = 0  # 0: workbench.config.default_threads()
    n_gpu_layers: int = 0  # -1 offloads every layer where the build supports a GPU
    n_batch: int = 512
    flash_attn: bool = True  # llama.cpp's own tools default to it ("auto"); faster decode here

    def validate(self) -> LoadOptions:
        if self.n_ctx < 16:
            raise InvalidParameterError(f"context size must be >= 16 (got {self.n_ctx})")
        if self.n_threads < 0:
            raise InvalidParameterError(f"threads must be >= 0 (got {self.n_threads})")
        return self


class _LlamaLog:
    """Routes llama.cpp's log into memory: quiet terminals, and load errors can quote it."""

    def __init__(self) -> None:
        import llama_cpp

        self.lines: deque[str] = deque(maxlen=50)

        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            self.lines.append(text.decode("utf-8", errors="replace"))

        self._callback = callback  # keep a reference: llama.cpp holds only the pointer
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))

    def errors(self) -> str:
        wanted = [line.strip() for line in self.lines if "error" in line.lower() or "failed" in line.lower()]
        return "; ".join(wanted[-3:])


_log: _LlamaLog | None = None


def _quiet_llama_log() -> _LlamaLog:
    global _log
    if _log is None:
        _log = _LlamaLog()
    return _log


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class _Utf8Text:
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


class LlamaBackend:
    """One loaded GGUF model and one context. Thread-safe: one generation at a time."""

    def __init__(self, model: ModelInfo | str, options: LoadOptions | None = None) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        log = _quiet_llama_log()
        log.lines.clear()
        self.info = model if isinstance(model, ModelInfo) else inspect(model)
        self.options = (options or LoadOptions()).validate()
        self.n_threads = self.options.n_threads or default_threads()
        try:
            self._llm = llama_cpp.Llama(
                model_path=self.info.path,
                n_ctx=self.options.n_ctx,
                n_batch=self.options.n_batch,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_gpu_layers=self.options.n_gpu_layers,
                logits_all=False,
                flash_attn=self.options.flash_attn,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as err:
            detail = log.errors() or str(err)
            raise ModelLoadError(f"llama.cpp could not load {self.info.path}: {detail}") from None
        self.n_ctx = self._llm.n_ctx()
        self.n_vocab = self._llm.n_vocab()
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._memory = llama_cpp.llama_get_memory(self._llm.ctx)
        self._batch = llama_cpp.llama_batch_init(self.options.n_batch, 0, 1)
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._bytes_cache: dict[int, bytes] = {}
        self._scratch = np.empty(self.n_vocab, dtype=np.float32)
        self._cached_tokens: list[int] = []  # what the KV cache holds for sequence 0
        self._prompt_ids: list[int] = []  # the last prompt evaluated, and its logits
        self._prompt_logits = np.empty(0, dtype=np.float32)
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def runtime_info(self) -> dict[str, object]:
        """How the model runs: context, threads, and whether GPU offload really happens."""
        supported = gpu_offload_supported()
        return {
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_gpu_layers": self.options.n_gpu_layers,
            "gpu_offload_supported": supported,
            "gpu_offload_active": supported and self.options.n_gpu_layers != 0,
        }

    # -- vocabulary ------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def token_bytes(self, token_id: int) -> bytes:
        cached = self._bytes_cache.get(token_id)
        if cached is None:
            size = self._llama_cpp.llama_token_to_piece(
                self._vocab, token_id, self._piece_buffer, len(self._piece_buffer), 0, False
            )
            cached = self._piece_buffer.raw[: max(size, 0)]
            self._bytes_cache[token_id] = cached
        return cached

    def is_end_of_generation(self, token_id: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token_id))

    # -- evaluation ------------------------------------------------------------------
    def _decode(self, tokens: Sequence[int], start_pos: int) -> None:
        batch = self._batch
        for offset in range(0, len(tokens), self.options.n_batch):
            chunk = tokens[offset : offset + self.options.n_batch]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = start_pos + offset + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = False
            batch.logits[len(chunk) - 1] = True
            code = self._llama_cpp.llama_decode(self._llm.ctx, batch)
            if code != 0:
                self._cached_tokens = []
                self._llama_cpp.llama_memory_clear(self._memory, True)
                raise EngineError(f"llama.cpp could not evaluate the batch (llama_decode returned {code})")
        self._cached_tokens.extend(tokens)

    def _eval_prompt(self, prompt_ids: list[int]) -> np.ndarray:
        """Evaluate the prompt; return the logits for the first generated token.

        The prompt is always evaluated from position 0 in the same chunks: llama.cpp's
        kernels round differently for different batch sizes, so reusing a prefix that was
        evaluated in other chunks would make a seeded run irreproducible. The one reuse is
        exact: the same prompt again (N samples, a re-run) restores its saved logits.
        """
        same = self._prompt_ids == prompt_ids and self._cached_tokens[: len(prompt_ids)] == prompt_ids
        if same and self._llama_cpp.llama_memory_seq_rm(self._memory, 0, len(prompt_ids), -1):
            del self._cached_tokens[len(prompt_ids) :]
            return self._prompt_logits
        self._llama_cpp.llama_memory_clear(self._memory, True)
        self._cached_tokens = []
        self._prompt_ids = []
        self._decode(prompt_ids, 0)
        self._prompt_ids = list(prompt_ids)
        self._prompt_logits = self._last_logits().copy()
        return self._prompt_logits

    def _last_logits(self) -> np.ndarray:
        pointer = self._llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def _prepare(self, prompt: str, add_bos: bool, room: int) -> list[int]:
        prompt_ids = self.tokenize(prompt, add_bos=add_bos)
        if not prompt_ids:
            raise InvalidParameterError("the prompt is empty")
        limit = self.n_ctx - room
        if len(prompt_ids) > limit:
            raise ContextOverflowError(
                f"the prompt is {len(prompt_ids):,} tokens, {len(prompt_ids) - limit:,} over the "
                f"context of {self.n_ctx:,} (which must leave room for {room} generated token(s))"
            )
        return prompt_ids

    # -- generation ------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the running generation after the token in progress (any thread)."""
        self._cancel.set()

    def generate(self, request: GenerationRequest, on_token: OnToken | None = None) -> Generation:
        request.validate()
        seed = request.params.seed if request.params.seed is not None else secrets.randbelow(SEED_RANGE)
        with self._lock:
            self._cancel.clear()
            prompt_ids = self._prepare(request.prompt, request.add_bos, room=1)
            started = time.perf_counter()
            first_logits = self._eval_prompt(prompt_ids)
            prompt_ms = (time.perf_counter() - started) * 1000
            run = _Run(self, request, seed, prompt_ids)
            finish = run.loop(first_logits, on_token)
            gen_ms = (time.perf_counter() - started) * 1000 - prompt_ms
        timings = Timings(prompt_ms, gen_ms, len(prompt_ids), run.sampled)
        return Generation(run.text, finish, tuple(run.steps), timings, seed, run.stop_sequence)

    def next_token(
        self, prompt: str, params: SamplingParams, top: int = 20, add_bos: bool = True
    ) -> NextTokenDistribution:
        """The distribution over the next token after `prompt`, before and after the transforms."""
        params.validate()
        if top < 1:
            raise InvalidParameterError(f"top must be >= 1 (got {top})")
        with self._lock:
            prompt_ids = self._prepare(prompt, add_bos, room=0)
            raw = self._eval_prompt(prompt_ids)
            work = (
                apply_repeat_penalty(raw, prompt_ids[-params.repeat_last_n :], params.repeat_penalty)
                if params.repeat_penalty != 1.0 and params.repeat_last_n
                else raw
            )
            dist = distribution(work, params)
            ids = top_indices(raw, top)
            lse = logsumexp(raw, self._scratch)
            sampled = dist.prob_of(ids)
            kept_mass = float(np.exp(logsumexp(raw[dist.ids]) - lse)) if dist.truncated else 1.0
            text = _Utf8Text()
            candidates = tuple(
                Candidate(
                    int(t),
                    text.preview(self.token_bytes(int(t)), b""),
                    self.token_bytes(int(t)),
                    float(raw[t]) - lse,
                    math.exp(float(raw[t]) - lse),
                    float(p),
                    bool(p > 0),
                    dist.removed_by(int(t)),
                )
                for t, p in zip(ids, sampled, strict=True)
            )
        return NextTokenDistribution(len(prompt_ids), candidates, dist.kept_count, kept_mass)

    def close(self) -> None:
        if self._batch is not None:
            self._llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        self._llm.close()


class _Run:
    """The state of one generation: the token loop, stop strings, UTF-8 assembly."""

    def __init__(self, backend: LlamaBackend, request: GenerationRequest, seed: int, prompt_ids: list[int]):
        self.backend = backend
        self.request = request
        self.rng = np.random.default_rng(seed)
        self.history = list(prompt_ids)
        self.utf8 = _Utf8Text()
        self.steps: list[TokenStep] = []
        self.text = ""
        self.sampled = 0
        self.stop_sequence: str | None = None

    def loop(self, logits: np.ndarray, on_token: OnToken | None) -> str:
        backend, request = self.backend, self.request
        for index in range(request.max_tokens):
            if backend._cancel.is_set():
                return "cancelled"
            if index:
                logits = backend._last_logits()
            step, is_end = self.step(logits)
            self.sampled += 1
            if is_end:
                return "stop"
            self.steps.append(step)
            if on_token is not None:
                on_token(step)
            if self.append_text(step.text):
                return "stop"
            last = index == request.max_tokens - 1
            if last or len(self.history) >= backend.n_ctx:
                return "length"
            backend._decode([step.id], len(self.history) - 1)
        return "length"

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
