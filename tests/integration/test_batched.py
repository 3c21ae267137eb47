"""Batched multi-sequence generation equals the single-sequence path, token for token."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from workbench import models
from workbench.engine.base import Cancel, Generation, GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.engine.llama.batched import generate_many
from workbench.errors import ContextOverflowError

PROMPTS = [
    "Once upon a time",
    "台湾最高的山是",
    "def fibonacci(n):\n    ",
    "The three most important inventions in history are the printing press, the steam engine and",
]


def same(a, b) -> bool:
    return (a.text, a.finish_reason, a.seed, [(t.id, t.logprob, t.top) for t in a.tokens]) == (
        b.text,
        b.finish_reason,
        b.seed,
        [(t.id, t.logprob, t.top) for t in b.tokens],
    )


def requests_mix() -> list[GenerationRequest]:
    greedy = [
        GenerationRequest(p, SamplingParams(temperature=0.0, seed=1), max_tokens=12 + 3 * i)
        for i, p in enumerate(PROMPTS)
    ]
    seeded = [GenerationRequest(PROMPTS[0], SamplingParams(seed=100 + i), max_tokens=16) for i in range(3)]
    stopped = [GenerationRequest(PROMPTS[2], SamplingParams(temperature=0.0, seed=1), max_tokens=40, stop=("\n",))]
    return greedy + seeded + stopped


def test_batched_equals_single_for_greedy_seeded_stops_and_lengths(backend):
    requests = requests_mix()
    alone = [backend.generate(r) for r in requests]
    together = generate_many(backend, requests, width=4)
    for single, batched in zip(alone, together, strict=True):
        assert same(single, batched)
    assert together[-1].finish_reason == "stop" and together[-1].stop_sequence == "\n"  # the stop string met
    assert [g.timings.generated_tokens for g in together] == [g.timings.generated_tokens for g in alone]


def test_a_sequence_does_not_change_when_its_neighbours_do(backend):
    target = GenerationRequest(PROMPTS[3], SamplingParams(seed=42), max_tokens=20)
    first = generate_many(backend, [target, *requests_mix()[:3]], width=4)[0]
    second = generate_many(backend, [GenerationRequest("Zzz", SamplingParams(seed=9), max_tokens=5), target], width=2)[
        1
    ]
    assert same(first, second)
    assert same(first, backend.generate(target))


def test_cancelling_one_sequence_leaves_the_others_running(backend):
    requests = [GenerationRequest(PROMPTS[0], SamplingParams(seed=i), max_tokens=24) for i in range(3)]
    cancel = Cancel()
    seen: dict[int, int] = {}

    def on_token(index: int, step) -> None:
        seen[index] = seen.get(index, 0) + 1
        if index == 1 and seen[index] == 3:
            cancel.cancel(1)

    results = generate_many(backend, requests, width=3, on_token=on_token, cancel=cancel)
    assert results[1].finish_reason == "cancelled" and len(results[1].tokens) == 3
    assert results[0].finish_reason == results[2].finish_reason == "length"
    assert same(results[2], backend.generate(requests[2]))


def test_more_requests_than_slots_queue_and_one_over_the_context_errors():
    small = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=256, n_parallel=2))
    try:
        prompt = "word " * 100  # each request fills most of its sequence's context
        requests = [
            GenerationRequest(prompt, SamplingParams(seed=i, temperature=0.9), max_tokens=120) for i in range(3)
        ]
        requests.insert(1, GenerationRequest("word " * 400, SamplingParams(seed=1), max_tokens=4))
        results = generate_many(small, requests, width=2)
        assert isinstance(results[1], ContextOverflowError) and "over the context" in str(results[1])
        assert all(isinstance(r, Generation) and r.tokens for r in results[:1] + results[2:])  # the others ran
        assert same(results[3], small.generate(requests[3]))
    finally:
        small.close()


def test_a_stop_string_across_two_tokens_and_a_partial_character_at_the_end(backend):
    base = backend.generate(GenerationRequest(PROMPTS[1], SamplingParams(temperature=0.0, seed=1), max_tokens=12))
    pieces = [t.text for t in base.tokens if t.text]
    stop = pieces[1][-1] + pieces[2][0]  # the end of one token and the start of the next
    requests = [
        GenerationRequest(PROMPTS[1], SamplingParams(temperature=0.0, seed=1), max_tokens=12, stop=(stop,)),
        GenerationRequest("人工智慧真神奇", SamplingParams(temperature=1.0, seed=5, top_k=0, min_p=0.0), max_tokens=3),
    ]
    for single, batched in zip(
        [backend.generate(r) for r in requests], generate_many(backend, requests, 2), strict=True
    ):
        assert same(single, batched)
    assert generate_many(backend, requests[:1], 2)[0].stop_sequence == stop


@pytest.mark.parametrize("width", [1, 2, 4])
def test_width_never_changes_results(backend, width):
    requests = [GenerationRequest(PROMPTS[0], SamplingParams(seed=7 + i), max_tokens=10) for i in range(4)]
    reference = [backend.generate(r) for r in requests]
    for single, batched in zip(reference, generate_many(backend, requests, width), strict=True):
        assert same(single, batched)


def test_prompts_sharing_a_prefix_reuse_whole_chunks_and_stay_equal(backend):
    prefix = "".join(f"Sentence: example {i} is here.\nSentiment: positive\n\n" for i in range(8))
    requests = [
        GenerationRequest(prefix + f"Sentence: {text}\nSentiment:", SamplingParams(seed=3), max_tokens=6)
        for text in ("I hated it.", "What a day!", "It is blue.")
    ]
    reused = backend.prompt_tokens_reused
    together = generate_many(backend, requests, width=3)
    assert backend.prompt_tokens_reused - reused >= 2 * 64  # the 2nd and 3rd copy whole chunks of the 1st
    for single, batched in zip([backend.generate(r) for r in requests], together, strict=True):
        assert same(single, batched)


def test_cli_samples_and_compare_give_the_same_results_with_and_without_parallel(cli):
    def run(parallel: str) -> list:
        result = cli(
            "generate",
            "-p",
            "Once upon a time",
            "--samples",
            "3",
            "--seed",
            "5",
            "-n",
            "12",
            "--parallel",
            parallel,
            "--no-log",
            "--json",
        )
        assert result.code == 0, result.stderr
        return [(s["text"], [t["logprob"] for t in s["tokens"]]) for s in result.json()["samples"]]

    assert run("3") == run("1")
    cases = ROOT / "tests" / "data" / "sentiment-zh-10.jsonl"  # 10 cases: 20 cells, 5 batches of 4

    def grid(parallel: str) -> list:
        result = cli(
            "compare",
            "--templates",
            "sentiment-instruction-en,sentiment-3shot-en",
            "--dataset",
            str(cases),
            "--seed",
            "2",
            "--max-tokens",
            "4",
            "--parallel",
            parallel,
            "--json",
        )
        assert result.code == 0, result.stderr
        rows = cli("export", "--experiment", str(result.json()["experiment_id"])).stdout.splitlines()
        return [(r["template"], r["case_id"], r["output"], r["seed"]) for r in map(json.loads, rows)]

    assert grid("4") == grid("1")
    bad = cli("generate", "-p", "x", "--parallel", "0")
    assert bad.code == 1 and "--parallel must be >= 1" in bad.stderr
