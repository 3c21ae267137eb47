"""The llama.cpp backend on the real default model: probabilities, UTF-8, seeds, cancel."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.errors import ContextOverflowError, InvalidParameterError

GREEDY = SamplingParams(temperature=0.0)


def request(prompt: str, max_tokens: int = 24, **params) -> GenerationRequest:
    """Only the truncations a test names are on."""
    chosen = {"top_k": 0, "top_p": 1.0, "min_p": 0.0, **params}
    return GenerationRequest(prompt, SamplingParams(**chosen), max_tokens=max_tokens, top_logprobs=10)


def assert_bytes_match_text(gen) -> None:
    """The tokens' bytes are exactly the text's bytes (a cut-off last character may stay pending)."""
    joined = b"".join(t.bytes for t in gen.tokens)
    text_bytes = gen.text.encode("utf-8")
    assert joined.startswith(text_bytes)
    pending = joined[len(text_bytes) :]
    assert len(pending) < 4 and pending.decode("utf-8", errors="ignore") == ""


def test_greedy_always_takes_the_raw_top_token(backend):
    gen = backend.generate(request("The capital of France is", temperature=0.0))
    assert gen.tokens
    for step in gen.tokens:
        assert step.id == step.top[0].id
        assert step.logprob == pytest.approx(step.top[0].logprob)
        assert step.logprob_sampled == 0.0  # greedy: probability 1
        assert [t.logprob for t in step.top] == sorted((t.logprob for t in step.top), reverse=True)


def test_token_bytes_concatenate_to_the_text(backend):
    gen = backend.generate(request("Write a short story about a robot:", max_tokens=40, seed=3))
    assert gen.finish_reason == "length"
    assert_bytes_match_text(gen)
    assert "".join(t.text for t in gen.tokens) == gen.text


def test_chinese_stays_valid_utf8(backend):
    gen = backend.generate(request("台湾最高的山是", max_tokens=40, temperature=0.7, seed=1))
    assert "\ufffd" not in gen.text
    assert_bytes_match_text(gen)
    prompt_ids = backend.tokenize("人工智慧真神奇!", add_bos=False)
    pieces = [backend.token_bytes(i) for i in prompt_ids]
    assert b"".join(pieces).decode("utf-8") == "人工智慧真神奇!"


def test_partial_utf8_tokens_complete_their_character(backend):
    """Byte tokens show their own bytes; the text appears once the character is whole."""
    gen = backend.generate(request("中文: 龘龘龘龘", max_tokens=60, temperature=1.0, seed=12))
    partial = [step for step in gen.tokens if step.text == ""]
    assert len(partial) >= 10, "this prompt and seed must produce byte tokens"
    for step in partial:
        assert step.bytes and not _is_complete_utf8(step.bytes)
    completing = [i for i, step in enumerate(gen.tokens) if i and step.text and gen.tokens[i - 1].text == ""]
    assert completing, "a byte token must complete a character"
    for i in completing:
        assert not _is_complete_utf8(gen.tokens[i].bytes)  # only whole together with the pending bytes
    assert "\ufffd" not in gen.text
    assert_bytes_match_text(gen)


def _is_complete_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_same_seed_same_output_at_temperature_0_8(backend):
    first = backend.generate(request("Once upon a time", max_tokens=30, temperature=0.8, seed=42))
    again = backend.generate(request("Once upon a time", max_tokens=30, temperature=0.8, seed=42))
    other = backend.generate(request("Once upon a time", max_tokens=30, temperature=0.8, seed=43))
    assert first.text == again.text
    assert [t.id for t in first.tokens] == [t.id for t in again.tokens]
    assert first.seed == 42
    assert [t.id for t in other.tokens] != [t.id for t in first.tokens]


def test_after_sampling_probabilities_are_the_renormalised_top_k(backend):
    gen = backend.generate(request("My favourite colour is", max_tokens=8, temperature=1.0, top_k=5, seed=9))
    for step in gen.tokens:
        raw = np.exp([t.logprob for t in step.top[:5]])
        expected = raw / raw.sum()
        got = [math.exp(t.logprob_sampled) for t in step.top[:5]]
        assert got == pytest.approx(expected, rel=1e-4)
        assert all(t.logprob_sampled is None and t.removed_by == "top_k" for t in step.top[5:])
        assert step.id in [t.id for t in step.top[:5]]
        assert step.kept == 5


def test_top_p_and_min_p_are_reported_per_token(backend):
    gen = backend.generate(
        request("The weather today is", max_tokens=12, temperature=1.0, top_p=0.5, min_p=0.1, seed=5)
    )
    assert any(step.kept > 1 for step in gen.tokens)
    for step in gen.tokens:
        assert step.logprob_sampled > -math.inf  # the drawn token was kept
        kept_in_top = [t for t in step.top if t.logprob_sampled is not None]
        if step.kept <= len(step.top):
            assert len(kept_in_top) == step.kept
            assert step.id in [t.id for t in kept_in_top]
            total = sum(math.exp(t.logprob_sampled) for t in step.top_sampled)
            assert total == pytest.approx(1.0, abs=1e-6)
        for t in step.top:
            if t.logprob_sampled is None:
                assert t.removed_by in ("top_p", "min_p")


def test_stop_string_cuts_the_text(backend):
    gen = backend.generate(GenerationRequest("1, 2, 3, 4,", GREEDY, max_tokens=30, stop=(" 7",)))
    assert gen.finish_reason == "stop"
    assert gen.stop_sequence == " 7"
    assert " 7" not in gen.text
    assert gen.text.startswith(" 5, 6,")


def test_max_tokens_gives_length(backend):
    gen = backend.generate(request("Hello", max_tokens=3, temperature=0.0))
    assert gen.finish_reason == "length"
    assert gen.timings.generated_tokens == 3
    assert gen.timings.tokens_per_s > 0


def test_cancel_from_another_thread_stops_within_one_token(backend):
    seen = []

    def on_token(step):
        seen.append(step)
        if len(seen) == 5:
            canceller = threading.Thread(target=backend.cancel)
            canceller.start()
            canceller.join()

    gen = backend.generate(request("Count to one hundred: 1, 2, 3,", max_tokens=200, temperature=0.0), on_token)
    assert gen.finish_reason == "cancelled"
    assert len(gen.tokens) <= 6
    follow_up = backend.generate(request("Hello", max_tokens=2, temperature=0.0))
    assert follow_up.finish_reason == "length"  # the flag does not leak into the next run


def test_prompt_over_the_context_says_by_how_much(backend):
    prompt = "word " * 3000
    with pytest.raises(ContextOverflowError, match=r"over the context of 2,048"):
        backend.generate(request(prompt))


def test_kv_cache_reuse_does_not_change_results(backend):
    base = backend.generate(request("The quick brown fox", max_tokens=12, temperature=0.0))
    backend.generate(request("The quick brown fox jumps over", max_tokens=5, temperature=0.0))
    again = backend.generate(request("The quick brown fox", max_tokens=12, temperature=0.0))
    assert again.text == base.text


def test_next_token_distribution(backend):
    dist = backend.next_token("The capital of France is", SamplingParams(temperature=1.0, top_k=3), top=10)
    probs = [c.prob for c in dist.candidates]
    assert probs == sorted(probs, reverse=True)
    assert [c.kept for c in dist.candidates] == [True] * 3 + [False] * 7
    assert sum(c.prob_sampled for c in dist.candidates[:3]) == pytest.approx(1.0)
    assert dist.kept_mass == pytest.approx(sum(probs[:3]), rel=1e-5)
    assert {c.removed_by for c in dist.candidates[3:]} == {"top_k"}
    greedy = backend.generate(request("The capital of France is", max_tokens=1, temperature=0.0))
    assert greedy.tokens[0].id == dist.candidates[0].id


def test_empty_prompt_is_refused(backend):
    with pytest.raises(InvalidParameterError, match="empty"):
        backend.generate(request(""))


def test_repeat_penalty_reports_raw_alternatives_and_samples_from_the_penalised(backend):
    plain = backend.generate(request("la la la la la la", max_tokens=6, temperature=0.0))
    penalised = backend.generate(request("la la la la la la", max_tokens=6, temperature=0.0, repeat_penalty=1.8))
    assert [t.id for t in plain.tokens] != [t.id for t in penalised.tokens]
    for step in penalised.tokens:
        raw = [t.logprob for t in step.top]
        assert raw == sorted(raw, reverse=True)  # alternatives stay the model's own distribution
        assert step.logprob_sampled == 0.0  # greedy over the penalised logits


def test_generation_stops_with_context_when_the_context_is_full():
    from workbench import models
    from workbench.engine.llama import LlamaBackend, LoadOptions

    small = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=256))
    try:
        prompt = "one two three four five six seven eight nine ten " * 20
        gen = small.generate(request(prompt, max_tokens=500, temperature=0.0))
        assert gen.finish_reason == "context"
        assert gen.timings.prompt_tokens + gen.timings.generated_tokens == small.n_ctx
        assert len(gen.tokens) < 500
    finally:
        small.close()


FEW_SHOT = "".join(f"Sentence: example number {i} is here.\nSentiment: positive\n\n" for i in range(12))


def test_a_shared_prefix_is_reused_and_changes_nothing(backend):
    request_a = GenerationRequest(FEW_SHOT + "Sentence: I hated it.\nSentiment:", SamplingParams(seed=5), max_tokens=8)
    request_b = GenerationRequest(FEW_SHOT + "Sentence: What a day!\nSentiment:", SamplingParams(seed=5), max_tokens=8)
    backend.reset_cache()
    fresh = backend.generate(request_b)
    backend.generate(request_a)
    evaluated, reused = backend.prompt_tokens_evaluated, backend.prompt_tokens_reused
    after_a = backend.generate(request_b)
    prompt_tokens = len(backend.tokenize(request_b.prompt))
    assert backend.prompt_tokens_reused - reused >= 96  # whole chunks of the examples came from the cache
    assert backend.prompt_tokens_evaluated - evaluated < prompt_tokens
    assert after_a.text == fresh.text
    assert [t.logprob for t in after_a.tokens] == [t.logprob for t in fresh.tokens]  # bit-identical


def test_continuation_logprobs_agree_with_the_next_token_distribution(backend):
    prompt = "Review: I loved this film.\nOverall, it was"
    scores = backend.continuation_logprobs(prompt, [" great", " terrible"])
    dist = backend.next_token(prompt, SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0), top=200)
    by_text = {c.text: c.logprob for c in dist.candidates}
    assert scores[0] == pytest.approx(by_text[" great"], abs=1e-4)
    assert scores[1] == pytest.approx(by_text[" terrible"], abs=1e-4)
    assert scores[0] > scores[1]
    two_tokens = backend.continuation_logprobs(prompt, [" great fun"])[0]
    assert two_tokens < scores[0]  # adding a token can only lower the joint probability
    with pytest.raises(InvalidParameterError):
        backend.continuation_logprobs(prompt, [""])


def test_the_llama_backend_is_a_backend_as_every_caller_types_it(backend):
    from workbench.engine.base import Backend, EngineOptions

    assert isinstance(backend, Backend) and isinstance(backend.options, EngineOptions)
    assert not hasattr(backend, "stream")  # the protocol declares only what exists


def test_a_held_backend_is_closed_only_after_its_run_releases_it():
    """Loading another model while a grid runs: close() waits for the grid's hold, and a later call
    raises a clear error instead of touching freed memory."""
    from workbench import models
    from workbench.engine.llama import LlamaBackend, LoadOptions
    from workbench.errors import EngineError

    own = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=256))
    closed = threading.Event()
    with own.hold():
        closer = threading.Thread(target=lambda: (own.close(), closed.set()))
        closer.start()
        assert not closed.wait(0.5)  # still held: not closed
        request = GenerationRequest("Hello", SamplingParams(temperature=0.0), max_tokens=2)
        assert own.generate(request).tokens  # the holder can still use it
    assert closed.wait(10)
    closer.join()
    with pytest.raises(EngineError, match="was unloaded"):
        own.generate(GenerationRequest("Hello", SamplingParams(temperature=0.0), max_tokens=2))
    with pytest.raises(EngineError, match="was unloaded"), own.hold():
        pass
    own.close()  # twice is harmless
