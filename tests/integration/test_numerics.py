"""The workbench's probabilities are llama.cpp's, in the numeric configuration it names.

Each configuration is checked against llama.cpp driven through llama-cpp-python's own `Llama`
class with the matching settings: the whole prompt evaluated by `Llama.eval`, then greedy decoding
one token at a time, log-probabilities computed in float64 from its logits. Repacked weights are
off on both sides (llama-cpp-python has no argument for it, so its default model parameters are
wrapped): with them llama.cpp's numbers move by up to ~1.9 nats (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench import models
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.engine.numerics import GGML_TYPE_F16, GGML_TYPE_F32, log_softmax

TOLERANCE = 1e-4  # nats; the two sides differ only in how the float64 normaliser is summed
LONG = " ".join(
    f"Paragraph {i}: the lighthouse keeper counted the ships that passed the rocks at night, and wrote each "
    "name in a book that nobody else ever read."
    for i in range(22)
)
PROMPTS = {
    "chinese": "判断这句话的情感：我带女朋友去了一家餐厅，她吃的很开心。答案：",
    "english": "The tallest mountain in Taiwan is",
    "code": "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "emoji": "My favourite foods: 🍕 pizza, 🍣 sushi, and",
    "long": LONG,
}
# llama-cpp-python settings that match each workbench configuration
MATCHING = {
    "reference": {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32, "flash_attn": False, "n_batch": 1024},
    "fast": {"type_k": GGML_TYPE_F16, "type_v": GGML_TYPE_F16, "flash_attn": True, "n_batch": 32},
}


class Reference:
    """llama.cpp through llama-cpp-python's high-level class."""

    def __init__(self, numerics: str, monkeypatch: pytest.MonkeyPatch) -> None:
        import llama_cpp
        from llama_cpp import llama_cpp as low

        original = low.llama_model_default_params

        def without_repack():
            params = original()
            params.use_extra_bufts = False
            return params

        monkeypatch.setattr(low, "llama_model_default_params", without_repack)
        settings = MATCHING[numerics]
        self.llama_cpp = llama_cpp
        self.llm = llama_cpp.Llama(
            model_path=str(models.resolve(None).path),
            n_ctx=2048,
            n_threads=2,
            n_ubatch=settings["n_batch"],
            verbose=False,
            **settings,
        )

    def greedy(self, prompt: str, steps: int) -> list[np.ndarray]:
        """log-probabilities before each of `steps` greedy tokens."""
        llm = self.llm
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode(), add_bos=True))
        out = []
        for _ in range(steps):
            logits = np.ctypeslib.as_array(self.llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            out.append(log_softmax(logits.copy()))
            llm.eval([int(np.argmax(out[-1]))])
        return out

    def close(self) -> None:
        self.llm.close()


@pytest.fixture(scope="module", params=["reference", "fast"])
def pair(request):
    numerics = request.param
    monkeypatch = pytest.MonkeyPatch()
    reference = Reference(numerics, monkeypatch)
    ours = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048, n_threads=2, numerics=numerics))
    yield numerics, ours, reference
    ours.close()
    reference.close()
    monkeypatch.undo()


@pytest.mark.parametrize("name", list(PROMPTS))
def test_next_and_greedy_generation_equal_llama_cpp(pair, name):
    numerics, ours, reference = pair
    prompt = PROMPTS[name]
    if name == "long":
        assert len(ours.tokenize(prompt)) == 673  # past the 512-token sliding window
    steps = 6
    expected = reference.greedy(prompt, steps)
    distribution = ours.next_token(prompt, SamplingParams(temperature=0), top=20)
    for candidate in distribution.candidates:
        assert abs(candidate.logprob - expected[0][candidate.id]) < TOLERANCE, (numerics, candidate)
    generated = ours.generate(GenerationRequest(prompt, SamplingParams(temperature=0), max_tokens=steps))
    assert len(generated.tokens) == steps
    for step, logprobs in zip(generated.tokens, expected, strict=True):
        assert step.id == int(np.argmax(logprobs))  # the same greedy path
        assert abs(step.logprob - logprobs[step.id]) < TOLERANCE
        assert len(step.top) == 10
        for alternative in step.top:
            assert abs(alternative.logprob - logprobs[alternative.id]) < TOLERANCE


def test_runtime_reports_the_configuration(pair):
    numerics, ours, _ = pair
    runtime = ours.runtime_info()
    assert runtime["numerics"] == numerics
    assert runtime["batching"] == "exact"


FEW_SHOT = (
    "Review: The soup was cold.\nSentiment: negative\n\nReview: A wonderful evening, great wine.\n"
    "Sentiment: positive\n\nReview: The staff ignored us for an hour.\nSentiment: negative\n\nReview: "
)


@pytest.mark.parametrize("suffix", ["Lovely.", "Nice view, awful food, slow service.", "好吃", "ok"])
def test_reference_reuses_a_prefix_at_any_token_boundary_bit_identically(backend, suffix):
    """A cached few-shot prefix is reused up to the case's own tokens, even a short suffix,
    and the distribution is bit-identical to evaluating the prompt fresh."""
    assert backend.options.numerics == "reference"
    backend.reset_cache()
    fresh = backend.logits_after(backend.tokenize(FEW_SHOT + suffix + "\nSentiment:"))
    backend.reset_cache()
    backend.logits_after(backend.tokenize(FEW_SHOT + "Something else entirely, said at length.\nSentiment:"))
    reused_before = backend.prompt_tokens_reused
    ids = backend.tokenize(FEW_SHOT + suffix + "\nSentiment:")
    again = backend.logits_after(ids)
    shared = len(backend.tokenize(FEW_SHOT))  # at least the examples' tokens are shared
    assert backend.prompt_tokens_reused - reused_before >= min(shared - 1, len(ids) - 8)
    assert np.array_equal(fresh, again)


@pytest.mark.parametrize("numerics", ["reference", "fast"])
def test_exact_batching_is_bit_identical_in_both_configurations(numerics):
    from workbench.engine.llama.batched import generate_many

    engine = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=512, n_parallel=4, numerics=numerics))
    try:
        requests = [
            GenerationRequest(FEW_SHOT + text, SamplingParams(temperature=0.8, seed=seed), max_tokens=12)
            for seed, text in enumerate(["Great.", "Terrible service.", "Great.", "我很喜欢"])
        ]
        batched = generate_many(engine, requests, width=4)
        alone = [engine.generate(r) for r in requests]
    finally:
        engine.close()
    for x, y in zip(batched, alone, strict=True):
        assert [t.to_dict() for t in x.tokens] == [t.to_dict() for t in y.tokens]


def test_fast_batching_stays_within_the_noise_floor():
    """All 8 rows in one decode, unified KV, repacked weights: not bit-identical, but each step's
    top-10 log-probabilities stay as close to the alone-run as llama.cpp's configurations are to each
    other (docs/BENCHMARKS.md: 99th percentile 0.46-0.57 nats, mean 0.09)."""
    from workbench.engine.llama.batched import generate_many

    engine = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=512, n_parallel=8, batching="fast"))
    prompts = ["Once upon a time", "The tallest mountain in Taiwan is", "def add(a, b):", "台湾最高的山是"] * 2
    requests = [GenerationRequest(p, SamplingParams(temperature=0), max_tokens=16) for p in prompts]
    try:
        assert engine.runtime_info()["batching"] == "fast"
        batched = generate_many(engine, requests, width=8)
        alone = [engine.generate(r) for r in requests]
    finally:
        engine.close()
    deltas = []
    for x, y in zip(batched, alone, strict=True):
        for s, t in zip(x.tokens, y.tokens, strict=False):  # teacher-forced by the shared path, until it diverges
            theirs = {a.id: a.logprob for a in t.top}
            deltas += [abs(a.logprob - theirs[a.id]) for a in s.top if a.id in theirs]
            if s.id != t.id:
                break
    deltas = np.array(deltas)
    assert deltas.size > 200
    assert deltas.max() > 0  # really the fast path: not bit-identical
    assert deltas.mean() < 0.2
    assert np.quantile(deltas, 0.99) < 0.8


def test_numeric_check_measures_the_spread_between_configurations(backend):
    from workbench.engine.numerics import numeric_check

    prompt_ids = backend.tokenize(PROMPTS["chinese"])
    other = backend.sibling("fast")
    try:
        check = numeric_check(backend, other, prompt_ids, top_k=20)
        same = numeric_check(backend, backend, prompt_ids, top_k=20)
        direct = log_softmax(other.logits_after(prompt_ids))
    finally:
        other.close()
    assert (check.numerics, check.other) == ("reference", "fast")
    assert 0 < check.max_abs_delta_logprob < 1.0
    assert 0 < check.total_variation < 0.2
    for token in check.tokens:
        assert token.logprob_other == pytest.approx(direct[token.id], abs=1e-9)
    assert len(check.tokens) >= 20
    assert same.max_abs_delta_logprob == 0 and same.total_variation == 0 and not same.top1_changed
