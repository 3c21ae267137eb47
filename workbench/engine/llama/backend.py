"""In-process llama.cpp backend (single sequence) with per-token probabilities.

llama.cpp evaluates; numpy samples (workbench.engine.sampling), so the probabilities
reported for each step are exactly those the token was drawn from. Only the last
position's logits are read (no `logits_all`: that would hold n_ctx x vocab floats).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from workbench.config import default_threads
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
    seed_or_fresh,
)
from workbench.engine.llama.decode_loop import Run
from workbench.engine.llama.handles import LlamaBatch, LlamaContext, LlamaModel
from workbench.engine.llama.heap import keep_large_blocks_on_mmap
from workbench.engine.llama.options import LlamaLog, LoadOptions, quiet_llama_log
from workbench.engine.llama.prompt_plan import PromptPlan, common_prefix, plan_prompt
from workbench.engine.llama.teacher import score_positions
from workbench.engine.llama.vocab import Vocabulary
from workbench.engine.many import one_at_a_time
from workbench.engine.model_info import ModelInfo, inspect
from workbench.engine.next_token import describe_next
from workbench.engine.numerics import numeric_mode
from workbench.engine.sampling import StepBuffers
from workbench.errors import ContextOverflowError, EngineError, InvalidParameterError, ModelLoadError


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


class LlamaBackend:
    """One loaded GGUF model and one context. Thread-safe: one generation at a time."""

    remote = False

    def __init__(self, model: ModelInfo | str, options: LoadOptions | None = None) -> None:
        import llama_cpp

        self.llama_cpp = llama_cpp
        log = quiet_llama_log()
        keep_large_blocks_on_mmap()
        log.lines.clear()
        self.info = model if isinstance(model, ModelInfo) else inspect(model)
        self.options = (options or LoadOptions()).validate()
        trained = self.info.trained_context
        if trained and self.options.n_ctx > trained:  # llama.cpp would try to allocate it (1e9: minutes, bad_alloc)
            raise InvalidParameterError(
                f"context size {self.options.n_ctx:,} is over the {trained:,} tokens {self.info.name} was trained for"
            )
        self.n_threads = self.options.n_threads or default_threads()
        self.model, self.context = self._load(llama_cpp, log)
        self.n_ctx = self.context.n_ctx // self.options.n_parallel
        self.vocabulary = Vocabulary(llama_cpp, self.model.vocab)
        self.n_vocab = self.vocabulary.size
        self.memory = self.context.memory
        self.batch = LlamaBatch(max(self.options.n_batch, self.options.n_parallel), self.n_vocab)
        self.buffers = StepBuffers(self.n_vocab)  # per-token scratch, shared by every sequence's step
        self._cached_tokens: list[int] = []  # what the KV cache holds for sequence 0
        self._prompt_ids: list[int] = []  # the last prompt evaluated, and its logits
        self._prompt_logits = np.empty(0, dtype=np.float32)
        self._prompt_reusable = 0  # leading rows of that prompt a later one may reuse (prompt_plan)
        self.lock = threading.Lock()  # one llama.cpp call sequence at a time
        self.cancel_event = threading.Event()
        self.closed = self._closing = False
        self._holders = 0  # runs holding the backend (hold()); close() waits for them
        self._holders_changed = threading.Condition()
        self.prompt_tokens_evaluated = 0  # prompt tokens llama.cpp computed, and those a cached prefix saved
        self.prompt_tokens_reused = 0

    def _load(self, llama_cpp, log: LlamaLog):
        """Model and context through llama.cpp's C API, in the chosen numeric configuration.

        Exact batching: repacked CPU weights (`use_extra_bufts`) off and one KV stream per
        sequence, because with either llama.cpp computes a row of a multi-sequence batch
        differently from the same row alone. Fast batching: both on (llama.cpp's defaults).
        """
        mode = numeric_mode(self.options.numerics)
        exact = self.options.exact_batching
        model = LlamaModel(self.info.path, n_gpu_layers=self.options.n_gpu_layers, repack=not exact)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.options.n_ctx * self.options.n_parallel  # each sequence its own full context
        params.n_batch = params.n_ubatch = self.options.n_batch
        params.n_seq_max = self.options.n_parallel
        params.kv_unified = not exact
        params.n_threads = params.n_threads_batch = self.n_threads
        params.type_k = params.type_v = mode.kv_type
        params.flash_attn_type = 1 if mode.flash_attn else 0
        params.swa_full = True  # a reused prefix needs the whole sliding-window cache
        try:
            context = LlamaContext(model, params)
        except ModelLoadError:
            model.close()
            raise ModelLoadError(
                f"llama.cpp could not create a context for {self.info.path} with {mode.name} numerics "
                f"({mode.summary}): {log.errors() or 'this build cannot run that configuration'}"
            ) from None
        return model, context

    def runtime_info(self) -> dict[str, object]:
        """How the model runs: context, threads, and whether GPU offload really happens."""
        supported = gpu_offload_supported()
        return {
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "n_gpu_layers": self.options.n_gpu_layers,
            "gpu_offload_supported": supported,
            "gpu_offload_active": supported and self.options.n_gpu_layers != 0,
            **self.options.describe(),
        }

    # -- vocabulary ------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True, special: bool = False) -> list[int]:
        if self.closed:
            raise EngineError(f"{self.info.name} was unloaded")
        return self.vocabulary.tokenize(text, add_bos, special)

    # -- lifetime --------------------------------------------------------------------
    @contextmanager
    def hold(self) -> Iterator[LlamaBackend]:
        """Keep the model loaded for a run of many calls (a grid): close() waits until it is released."""
        with self._holders_changed:
            if self.closed or self._closing:
                raise EngineError(f"{self.info.name} was unloaded")
            self._holders += 1
        try:
            yield self
        finally:
            with self._holders_changed:
                self._holders -= 1
                self._holders_changed.notify_all()

    def token_bytes(self, token_id: int) -> bytes:
        return self.vocabulary.piece(token_id, special=False)

    def is_end_of_generation(self, token_id: int) -> bool:
        return self.vocabulary.is_end_of_generation(token_id)

    # -- evaluation ------------------------------------------------------------------
    def decode_tokens(self, tokens: Sequence[int], start_pos: int) -> None:
        """Generated tokens of sequence 0 from `start_pos` (one call); the last token's logits are kept."""
        self.decode_rows([(t, start_pos + i, 0) for i, t in enumerate(tokens)], last=True)
        self._cached_tokens.extend(tokens)

    def plan_prompt(self, cached: list[int], cached_reusable: int, prompt_ids: list[int]) -> PromptPlan:
        """How to evaluate a prompt given what a KV stream holds, bit-identical to a fresh evaluation."""
        any_boundary = self.options.numerics == "reference" and self.options.exact_batching
        return plan_prompt(
            cached, cached_reusable, prompt_ids, any_boundary, self.options.prompt_chunk, self.options.n_batch
        )

    def _eval_prompt(self, prompt_ids: list[int]) -> np.ndarray:
        """Evaluate the prompt; return the logits for the first generated token.

        llama.cpp's kernels round differently for different batch shapes, so a cached prefix
        is reused only where the result is what a fresh evaluation computes (prompt_plan:
        at any token boundary in the reference configuration, at fixed aligned chunks in the
        fast one). The same prompt again (N samples, a re-run) restores its saved logits.
        """
        intact = self._cached_tokens[: len(self._prompt_ids)] == self._prompt_ids
        same = intact and self._prompt_ids == prompt_ids
        if same and self.memory.remove(0, len(prompt_ids)):
            del self._cached_tokens[len(prompt_ids) :]
            return self._prompt_logits
        plan = self.plan_prompt(self._prompt_ids if intact else [], self._prompt_reusable if intact else 0, prompt_ids)
        if plan.keep == 0 or not self.memory.remove(0, plan.keep):
            self.memory.clear()
            plan = self.plan_prompt([], 0, prompt_ids)
        self._cached_tokens, self._prompt_ids = list(prompt_ids[: plan.keep]), []
        self._evaluate_pieces(prompt_ids, plan, 0)
        self._cached_tokens = list(prompt_ids)
        self._prompt_ids, self._prompt_reusable = list(prompt_ids), plan.reusable
        self._prompt_logits = self.last_logits().copy()
        return self._prompt_logits

    def _evaluate_pieces(self, prompt_ids: list[int], plan: PromptPlan, seq: int) -> None:
        for start, end in plan.pieces:
            self.decode_rows([(prompt_ids[i], i, seq) for i in range(start, end)], last=True)
        self.prompt_tokens_evaluated += len(prompt_ids) - plan.keep
        self.prompt_tokens_reused += plan.keep

    def reset_cache(self) -> None:
        """Forget every cached prompt (the naive baseline of the comparison benchmark)."""
        with self.lock:
            self.forget_cache()

    def forget_cache(self) -> None:
        self.memory.clear()
        self._cached_tokens, self._prompt_ids = [], []

    def evaluate_prompt_into(self, prompt_ids: list[int], seq: int, plan: PromptPlan) -> np.ndarray:
        """A prompt into sequence `seq`, whose stream already holds `plan.keep` of its tokens; its last logits."""
        self._evaluate_pieces(prompt_ids, plan, seq)
        return self.last_logits().copy()

    def decode_rows(self, entries: list[tuple[int, int, int]], last: bool = False) -> list[np.ndarray]:
        """One llama_decode of (token, position, sequence) rows; the logits of every row (copies),
        or with `last` only of the final row (left in llama.cpp's buffer)."""
        self.batch.fill(entries, "last" if last else "all")
        code = self.context.decode(self.batch)
        if code != 0:
            self.forget_cache()
            raise EngineError(f"llama.cpp could not evaluate the batch (llama_decode returned {code})")
        if last:
            return []
        return [
            np.ctypeslib.as_array(self.context.logits_pointer(i), shape=(self.n_vocab,)).copy()
            for i in range(len(entries))
        ]

    def last_logits(self) -> np.ndarray:
        return np.ctypeslib.as_array(self.context.logits_pointer(-1), shape=(self.n_vocab,))

    def request_ids(self, request: GenerationRequest) -> list[int]:
        """A request's prompt as token ids (given, or tokenized), checked to leave room for one token."""
        if not request.prompt_ids:
            return self.prepare_prompt(request.prompt, request.add_bos, room=1, special=request.special)
        self.check_fits(len(request.prompt_ids), room=1)
        return list(request.prompt_ids)

    def check_fits(self, count: int, room: int) -> None:
        limit = self.n_ctx - room
        if count > limit:
            raise ContextOverflowError(
                f"the prompt is {count:,} tokens, {count - limit:,} over the "
                f"context of {self.n_ctx:,} (which must leave room for {room} generated token(s))"
            )

    def prepare_prompt(self, prompt: str, add_bos: bool, room: int, special: bool = False) -> list[int]:
        """Token ids of a prompt that must fit the context with `room` tokens to spare; `special`: control
        tokens written in the text (a chat format's <start_of_turn>) are parsed as such."""
        prompt_ids = self.tokenize(prompt, add_bos=add_bos, special=special)
        if not prompt_ids:
            raise InvalidParameterError("the prompt is empty")
        self.check_fits(len(prompt_ids), room)
        return prompt_ids

    # -- generation ------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop the running generation after the token in progress (any thread)."""
        self.cancel_event.set()

    def generate_many(
        self,
        requests: Sequence[GenerationRequest],
        width: int | None = None,
        on_token: OnSequenceToken | None = None,
        on_done: OnSequenceDone | None = None,
        cancel: Cancel | None = None,
    ) -> list[Outcome | None]:
        """Batched over up to `width` sequences (default: all this context has); one request, or a width of
        one, goes through the single path (which also reuses the previous prompt's cached prefix)."""
        width = min(width or self.options.n_parallel, self.options.n_parallel, len(requests))
        if width > 1:
            from workbench.engine.llama.batched import generate_many

            return generate_many(self, list(requests), width, on_token, on_done, cancel)
        return one_at_a_time(self, requests, on_token, on_done, cancel)

    def generate(self, request: GenerationRequest, on_token: OnToken | None = None) -> Generation:
        request.validate()
        seed = seed_or_fresh(request.params.seed)
        with self.lock:
            self.cancel_event.clear()
            prompt_ids = self.request_ids(request)
            started = time.perf_counter()
            first_logits = self._eval_prompt(prompt_ids)
            prompt_ms = (time.perf_counter() - started) * 1000
            run = Run(self, request, seed, prompt_ids)
            finish = run.loop(first_logits, on_token)
            gen_ms = (time.perf_counter() - started) * 1000 - prompt_ms
        timings = Timings(prompt_ms, gen_ms, len(prompt_ids), run.sampled)
        return Generation(run.text, finish, tuple(run.steps), timings, seed, run.stop_sequence)

    def logits_after(self, token_ids: list[int]) -> np.ndarray:
        """The raw next-token logits after exactly these token ids (a copy), e.g. a prompt and the
        tokens generated so far; evaluated like a prompt, so a cached prefix is reused when exact."""
        if not token_ids:
            raise InvalidParameterError("no tokens to evaluate")
        if len(token_ids) > self.n_ctx:
            raise ContextOverflowError(f"{len(token_ids):,} tokens do not fit the context of {self.n_ctx:,}")
        with self.lock:
            if self.closed:
                raise EngineError(f"{self.info.name} was unloaded")
            return self._eval_prompt(list(token_ids)).copy()

    def next_token(
        self, prompt: str, params: SamplingParams, top: int = 20, add_bos: bool = True, special: bool = False
    ) -> NextTokenDistribution:
        """The distribution over the next token after `prompt`, before and after the transforms."""
        with self.lock:
            prompt_ids = self.prepare_prompt(prompt, add_bos, room=0, special=special)
            raw = self._eval_prompt(prompt_ids)
            return describe_next(raw, prompt_ids, params, top, self.token_bytes, self.buffers)

    def continuation_logprobs(
        self, prompt: str, continuations: Sequence[str], add_bos: bool = True, special: bool = False
    ) -> list[float]:
        """log P(continuation | prompt) for each continuation, from the model alone (no sampling).

        Each continuation is tokenized together with the prompt (a boundary may merge, as
        "it was" + " great"), the shared tokens are the context, and the continuation's
        tokens are scored one by one: the sum of their log-probabilities.
        """
        with self.lock:
            prompt_ids = self.prepare_prompt(prompt, add_bos, room=0, special=special)
            scores = []
            for text in continuations:
                full = self.tokenize(prompt + text, add_bos=add_bos, special=special)
                shared = min(common_prefix(full, prompt_ids), len(full) - 1)
                context, tokens = full[:shared], full[shared:]
                if not text or not context:
                    raise InvalidParameterError(f"cannot score the continuation {text!r}")
                if len(full) > self.n_ctx:
                    raise ContextOverflowError(f"the prompt and {text!r} are {len(full):,} tokens, over {self.n_ctx:,}")
                logits = self._eval_prompt(context)
                total = 0.0
                for index, token in enumerate(tokens):
                    if index:
                        self.decode_tokens([tokens[index - 1]], len(context) + index - 1)
                        logits = self.last_logits()
                    total += float(logits[token]) - self.buffers.log_normaliser(logits)[1]
                scores.append(total)
        return scores

    def score_tokens(self, token_ids: list[int], top: int = 5, stepwise_from: int | None = None) -> list[PositionScore]:
        """Teacher forcing: each position's log-probability, rank and top alternatives (teacher.py)."""
        return score_positions(self, token_ids, top, stepwise_from)

    def sibling(self, numerics: str) -> LlamaBackend:
        """The same model loaded again in another numeric configuration (one sequence)."""
        return LlamaBackend(self.info, replace(self.options, numerics=numerics, n_parallel=1))

    def close(self) -> None:
        """Free llama.cpp's model and context, after every run holding the backend has released it and
        the call in progress has returned; any later call raises EngineError instead of touching freed memory."""
        with self._holders_changed:
            self._closing = True  # no new hold() from now on
            self._holders_changed.wait_for(lambda: self._holders == 0)
            with self.lock:
                self.closed = True
                self._free()

    def _free(self) -> None:
        for handle in (self.batch, self.context, self.model):
            handle.close()
