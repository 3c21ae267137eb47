"""Batched decoding vs one sequence at a time, both sides in one run on the same backend.

1. samples: 8 samples x 128 tokens of one prompt (seeded, no stop): sequential vs batched widths.
2. grid:    the comparison benchmark grid (4 sentiment templates x 30 cases x 1 sample, max 32
            tokens): naive (cache cleared per cell, one at a time) vs prefix reuse one at a time
            vs batched + prefix reuse.

    .venv/bin/python bench/bench_batched.py [--samples 8] [--tokens 128] [--widths 2,4,8] [--skip-grid]
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

from workbench import compare, library_files, models
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.batched import generate_many
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.store import Store

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def samples_benchmark(backend: LlamaBackend, samples: int, tokens: int, widths: list[int]) -> None:
    # top_k=0/top_p=1/min_p=0 and a high temperature keep every sample going for all its tokens
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    requests = [GenerationRequest(PROMPT, params.with_seed(i), max_tokens=tokens) for i in range(samples)]
    backend.reset_cache()
    start = time.perf_counter()
    sequential = [backend.generate(r) for r in requests]
    t_seq = time.perf_counter() - start
    n = sum(len(g.tokens) for g in sequential)
    print(f"{samples} samples x {tokens} tokens of one prompt ({n} tokens generated)")
    print(f"  sequential (--parallel 1): {t_seq:6.1f} s  {n / t_seq:6.1f} tokens/s")
    for width in widths:
        start = time.perf_counter()
        batched = generate_many(backend, requests, width)
        t_batch = time.perf_counter() - start
        same = all(a.text == b.text and a.tokens == b.tokens for a, b in zip(sequential, batched, strict=True))
        print(
            f"  batched width {width}:       {t_batch:6.1f} s  {n / t_batch:6.1f} tokens/s  "
            f"ratio {t_seq / t_batch:.2f}x  identical to sequential: {same}"
        )


def grid_benchmark(backend: LlamaBackend, width: int) -> None:
    store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
    library_files.ensure_starter_library(store)
    config = compare.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=32, stop=("\n",))
    results = {}
    for label, runner, parallel in (
        ("naive (cache cleared per cell)", NaiveBackend(backend), 1),
        ("prefix reuse, one at a time", backend, 1),
        (f"batched width {width} + prefix reuse", backend, width),
    ):
        experiment_id = compare.plan(store, compare.GridSpec(TEMPLATES, "sentiment-en", [config], name=label))
        backend.reset_cache()
        evaluated = backend.prompt_tokens_evaluated
        start = time.perf_counter()
        compare.run(store, experiment_id, lambda path, runner=runner: runner, parallel=parallel)
        wall = time.perf_counter() - start
        outputs = {(r["template"], r["case_id"]): r["output"] for r in store.experiment_runs(experiment_id)}
        results[label] = (wall, backend.prompt_tokens_evaluated - evaluated, outputs)
    naive_wall, _, naive_outputs = results["naive (cache cleared per cell)"]
    print(f"grid: {len(TEMPLATES)} templates x 30 cases x 1 sample, greedy, max 32 tokens")
    for label, (wall, evaluated, outputs) in results.items():
        print(
            f"  {label:<38} {wall:6.1f} s  prompt tokens evaluated {evaluated:6,}  "
            f"speed-up {naive_wall / wall:.2f}x  outputs identical to naive: {outputs == naive_outputs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--widths", default="2,4,8")
    parser.add_argument("--grid-width", type=int, default=4)
    parser.add_argument("--skip-grid", action="store_true")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    backend = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048, n_parallel=max([*widths, args.grid_width])))
    samples_benchmark(backend, args.samples, args.tokens, widths)
    if not args.skip_grid:
        grid_benchmark(backend, args.grid_width)


if __name__ == "__main__":
    main()
