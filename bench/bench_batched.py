"""Batched decoding vs one sequence at a time, both sides in one run on the same backend, for each
numeric configuration and batching mode.

1. samples: 8 samples x 128 tokens of one prompt (seeded, no stop): sequential vs batched, and that
            speed-up next to llama.cpp's own (`llama-batched-bench`, generation tokens/s at B rows vs 1,
            same K/V type, flash attention, repacking and KV layout: exact batching runs at most 7 rows
            per decode on per-sequence KV streams without repacking; fast batching all rows, unified KV,
            repacked weights).
2. grid:    the comparison benchmark grid (4 sentiment templates x 30 cases x 1 sample, max 32
            tokens): naive (cache cleared per cell, one at a time) vs prefix reuse one at a time
            vs batched + prefix reuse.

    .venv/bin/python bench/bench_batched.py [--samples 8] [--tokens 128] [--configs reference/exact,...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_compare import TEMPLATES, NaiveBackend
from bench_decode import LLAMA_FLAGS, batched_bench

from workbench import experiments, models
from workbench.config import default_threads
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.engine.llama.batched import generate_many
from workbench.library import files as library_files
from workbench.store import Store

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def llama_scaling(numerics: str, batching: str, prompt_tokens: int, tokens: int, rows: int, threads: int) -> float:
    """llama-batched-bench's generation speed-up at `rows` sequences over one, same constraints."""
    flags = [f for f in LLAMA_FLAGS[numerics] if f != "-nr"]
    flags += ["-nr"] if batching == "exact" else ["-kvu"]
    one, many = batched_bench(flags, prompt_tokens, tokens, threads, parallel=f"1,{rows}")
    return many / one


def samples_benchmark(backend: LlamaBackend, samples: int, tokens: int, threads: int) -> None:
    # top_k=0/top_p=1/min_p=0 and a high temperature keep every sample going for all its tokens
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    requests = [GenerationRequest(PROMPT, params.with_seed(i), max_tokens=tokens) for i in range(samples)]
    options = backend.options
    backend.reset_cache()
    start = time.perf_counter()
    sequential = [backend.generate(r) for r in requests]
    t_seq = time.perf_counter() - start
    start = time.perf_counter()
    batched = generate_many(backend, requests, samples)
    t_batch = time.perf_counter() - start
    n = sum(len(g.tokens) for g in sequential)
    ours = t_seq / t_batch
    rows = min(samples, 7) if options.exact_batching else samples
    theirs = llama_scaling(options.numerics, options.batching, len(backend.tokenize(PROMPT)), tokens, rows, threads)
    identical = sum(a.tokens == b.tokens for a, b in zip(sequential, batched, strict=True))
    print(f"{options.numerics} numerics, {options.batching} batching: {samples} samples x {tokens} tokens ({n} tokens)")
    print(f"  sequential {t_seq:6.1f} s ({n / t_seq:5.1f} tok/s) | batched {t_batch:6.1f} s ({n / t_batch:5.1f} tok/s)")
    print(
        f"  speed-up {ours:.2f}x | llama-batched-bench at {rows} rows vs 1: {theirs:.2f}x | "
        f"ratio {ours / theirs:.2f} | samples identical to sequential: {identical}/{samples}"
    )


def grid_benchmark(backend: LlamaBackend, width: int) -> None:
    store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
    library_files.ensure_starter_library(store)
    config = experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=32, stop=("\n",))
    results = {}
    for label, runner, parallel in (
        ("naive (cache cleared per cell)", NaiveBackend(backend), 1),
        ("prefix reuse, one at a time", backend, 1),
        (f"batched width {width} + prefix reuse", backend, width),
    ):
        experiment_id = experiments.plan(store, experiments.GridSpec(TEMPLATES, "sentiment-en", [config], name=label))
        backend.reset_cache()
        evaluated = backend.prompt_tokens_evaluated
        start = time.perf_counter()
        experiments.run(store, experiment_id, lambda path, runner=runner: runner, parallel=parallel)
        wall = time.perf_counter() - start
        outputs = {(r["template"], r["case_id"]): r["output"] for r in store.experiment_runs(experiment_id)}
        results[label] = (wall, backend.prompt_tokens_evaluated - evaluated, outputs)
    naive_wall, _, naive_outputs = results["naive (cache cleared per cell)"]
    options = backend.options
    print(
        f"grid ({options.numerics} numerics, {options.batching} batching): {len(TEMPLATES)} templates x 30 cases "
        "x 1 sample, greedy, max 32 tokens"
    )
    for label, (wall, evaluated, outputs) in results.items():
        print(
            f"  {label:<38} {wall:6.1f} s  prompt tokens evaluated {evaluated:6,}  "
            f"speed-up {naive_wall / wall:.2f}x  outputs identical to naive: {outputs == naive_outputs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--grid-width", type=int, default=4)
    parser.add_argument("--configs", default="reference/exact,fast/exact,reference/fast,fast/fast")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-samples", action="store_true")
    args = parser.parse_args()
    threads = default_threads()
    for config in args.configs.split(","):
        numerics, batching = config.split("/")
        options = LoadOptions(
            n_ctx=2048, n_parallel=max(args.samples, args.grid_width), numerics=numerics, batching=batching
        )
        backend = LlamaBackend(models.resolve(None), options)
        if not args.skip_samples:
            samples_benchmark(backend, args.samples, args.tokens, threads)
        if not args.skip_grid:
            grid_benchmark(backend, args.grid_width)
        backend.close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
