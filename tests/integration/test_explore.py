"""How surprising a text is: teacher forcing on the real default model, against the engine and llama.cpp."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.errors import ContextOverflowError, InvalidParameterError
from workbench.explore.surprise import score_text

PROMPTS = ["台湾最高的山是", "The tallest mountain in Taiwan is", "def fibonacci(n):\n    "]


def _logprob(logits: np.ndarray, token: int) -> float:
    top = float(logits.max())
    return float(logits[token]) - (top + math.log(float(np.exp(logits.astype(np.float64) - top).sum())))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_scores_equal_the_engines_own_logprobs_for_a_greedy_continuation(backend, prompt):
    generation = backend.generate(GenerationRequest(prompt, SamplingParams(temperature=0.0), max_tokens=8))
    prompt_ids = backend.tokenize(prompt)
    ids = prompt_ids + [step.id for step in generation.tokens]
    scores = backend.score_tokens(ids, top=3, stepwise_from=len(prompt_ids))
    assert len(scores) == len(ids) - 1
    for step, score in zip(generation.tokens, scores[len(prompt_ids) - 1 :], strict=True):
        assert score.id == step.id and score.rank == 1  # greedy took the top token
        assert score.logprob == pytest.approx(step.logprob, abs=1e-4)
        assert score.top[0][0] == step.id


def test_a_generated_text_scored_after_its_prompt_scores_like_the_generation(backend):
    prompt = "The tallest mountain in Taiwan is"
    generation = backend.generate(GenerationRequest(prompt, SamplingParams(temperature=0.0), max_tokens=10))
    result = score_text(backend, generation.text, prompt=prompt)
    assert [t.id for t in result.tokens] == [s.id for s in generation.tokens]  # no merge at this boundary
    for token, step in zip(result.tokens, generation.tokens, strict=True):
        assert token.logprob == pytest.approx(step.logprob, abs=1e-4) and token.rank == 1


def test_scores_equal_llama_cpp_logits_position_by_position(backend):
    ids = backend.tokenize("中文的字有时是一个 token,有时是几个字节 token。Sometimes English too, and 龘 is rare.")
    scores = backend.score_tokens(ids, top=5)
    assert len(ids) > 20
    # a context of >= 8 tokens: llama.cpp computes that row with the same kernels as in the scoring
    # block (prompt_plan); shorter contexts take the 2-7 row kernels, which differ by the noise floor
    for position in (8, 13, len(ids) // 2, len(ids) - 1):
        logits = backend.logits_after(ids[:position])
        expected = _logprob(logits, ids[position])
        assert scores[position - 1].logprob == pytest.approx(expected, abs=1e-4)
        assert scores[position - 1].rank == int(np.count_nonzero(logits > logits[ids[position]])) + 1
        assert [i for i, _ in scores[position - 1].top] == list(np.argsort(-logits, kind="stable")[:5])


def test_text_score_totals_and_byte_tokens(backend):
    result = score_text(backend, "龘龘 is a rare character.", top=3)
    assert result.add_bos and all(t.logprob is not None for t in result.tokens)
    assert "".join(t.text for t in result.tokens) == "龘龘 is a rare character."
    assert any(t.text == "" for t in result.tokens), "龘 must come as byte tokens"
    total = sum(t.logprob for t in result.tokens)
    assert result.total_logprob == pytest.approx(total)
    assert result.perplexity == pytest.approx(math.exp(-total / len(result.tokens)))
    size = len("龘龘 is a rare character.".encode())
    assert result.bits_per_byte == pytest.approx(-total / math.log(2) / size)
    no_bos = score_text(backend, "A plain sentence.", add_bos=False)
    assert no_bos.tokens[0].logprob is None and len(no_bos.scored) == len(no_bos.tokens) - 1


def test_bad_texts_are_clear_errors(backend):
    with pytest.raises(InvalidParameterError, match="the text to score is empty"):
        score_text(backend, "")
    with pytest.raises(InvalidParameterError, match="top must be between 1 and 20"):
        score_text(backend, "hello", top=0)
    with pytest.raises(ContextOverflowError, match=r"over the context of 2,048"):
        score_text(backend, "word " * 3000)


def test_score_cli(cli):
    result = cli("score", "--text", "台湾最高的山是玉山。", "--top", "3", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["scored_tokens"] == len(doc["tokens"]) and all(len(t["top"]) == 3 for t in doc["tokens"])
    assert doc["total_logprob"] == pytest.approx(sum(t["logprob"] for t in doc["tokens"]))
    assert doc["perplexity"] == pytest.approx(math.exp(-doc["total_logprob"] / doc["scored_tokens"]))
    continued = cli("score", "--prompt", "台湾最高的山是", "--text", "玉山。", "--json").json()
    assert "".join(t["text"] for t in continued["tokens"]) == "玉山。"
    empty = cli("score", "--text", "")
    assert empty.code == 1 and empty.stderr.strip() == "workbench: the text to score is empty"


BEAM_PROMPTS = ["The tallest mountain in Taiwan is", "台湾最高的山是", "def add(a, b):", "Once upon a time"]


@pytest.fixture(scope="module")
def wide_backend():
    from workbench import models
    from workbench.engine.llama import LlamaBackend, LoadOptions

    engine = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048, n_parallel=8))
    yield engine
    engine.close()


@pytest.mark.parametrize("prompt", BEAM_PROMPTS)
def test_one_beam_is_greedy_and_the_best_beam_is_at_least_as_probable(wide_backend, prompt):
    from workbench.engine.llama.beam import beam_search

    greedy = wide_backend.generate(GenerationRequest(prompt, SamplingParams(temperature=0.0), max_tokens=6))
    assert greedy.finish_reason == "length"
    greedy_total = sum(step.logprob for step in greedy.tokens)
    (one,) = beam_search(wide_backend, prompt, 1, 6).beams
    assert one.token_ids == tuple(step.id for step in greedy.tokens) and one.text == greedy.text
    assert one.total_logprob == pytest.approx(greedy_total, abs=1e-4)
    result = beam_search(wide_backend, prompt, 4, 6)
    totals = [beam.total_logprob for beam in result.beams]
    assert len(result.beams) == 4 and totals == sorted(totals, reverse=True)
    assert totals[0] >= greedy_total - 1e-4
    for beam in result.beams:  # each beam's total is its tokens' sum, and the tree leads to it
        assert beam.total_logprob == pytest.approx(sum(beam.logprobs))
        path, node = [], beam.node
        while node is not None:
            path.append(result.nodes[node].token)
            node = result.nodes[node].parent
        assert tuple(reversed(path))[: len(beam.token_ids)] == beam.token_ids


def test_a_beam_scores_like_the_same_text_decoded_alone(wide_backend):
    """Exact batching: a beam in its own KV stream, copied from its parent's, has the numbers of that
    text generated alone, token by token."""
    from workbench.engine.llama.beam import beam_search

    prompt = "The tallest mountain in Taiwan is"
    result = beam_search(wide_backend, prompt, 4, 6)
    for beam in result.beams[1:]:
        ids = wide_backend.tokenize(prompt)
        scores = wide_backend.score_tokens(ids + list(beam.token_ids), top=1, stepwise_from=len(ids))
        alone = [s.logprob for s in scores[len(ids) - 1 :]]
        assert alone == pytest.approx(list(beam.logprobs), abs=1e-4)


def test_beam_cli_and_its_bad_inputs(cli):
    result = cli("generate", "-p", "The tallest mountain in Taiwan is", "--beams", "3", "-n", "4", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert len(doc["beams"]) == 3 and doc["beams"][0]["total_logprob"] >= doc["beams"][2]["total_logprob"]
    bad = {
        ("--beams", "9"): "beams must be between 1 and 8 (got 9)",
        ("--beams", "0"): "beams must be between 1 and 8 (got 0)",
        ("--beams", "2", "-t", "0.7"): "--beams does not take --temperature 0.7",
        ("--beams", "2", "--samples", "3"): "--samples 3",
        ("--beams", "2", "--stop", "\\n"): "--stop",
    }
    for extra, message in bad.items():
        run = cli("generate", "-p", "x", *extra)
        assert run.code == 1 and message in run.stderr and run.stderr.count("\n") == 1, (extra, run.stderr)
