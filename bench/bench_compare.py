"""Comparison grid: prefix reuse (ordered cells, aligned KV chunks kept) against the naive loop
(the KV cache cleared before every cell), both in one run, same grid, same model.

    .venv/bin/python bench/bench_compare.py [--max-tokens 32]

Grid: 4 sentiment templates (instruction, 1-shot, 3-shot, 5-shot) x 30 cases x 1 sample, greedy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import experiments, models
from workbench.engine.base import SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.library import files as library_files
from workbench.store import Store

TEMPLATES = ["sentiment-instruction-en", "sentiment-1shot-en", "sentiment-3shot-en", "sentiment-5shot-en"]


class NaiveBackend:
    """The same backend, but every cell starts from an empty KV cache."""

    def __init__(self, backend: LlamaBackend) -> None:
        self.backend = backend
        self.info = backend.info

    def generate(self, request, on_token=None):
        self.backend.reset_cache()
        return self.backend.generate(request, on_token)

    def __getattr__(self, name):
        return getattr(self.backend, name)


def measure(store: Store, backend, label: str, max_tokens: int, real: LlamaBackend) -> dict:
    config = experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=max_tokens, stop=("\n",))
    experiment_id = experiments.plan(store, experiments.GridSpec(TEMPLATES, "sentiment-en", [config], name=label))
    real.reset_cache()
    evaluated, reused = real.prompt_tokens_evaluated, real.prompt_tokens_reused
    start = time.perf_counter()
    experiments.run(store, experiment_id, lambda path: backend)
    wall = time.perf_counter() - start
    runs = store.experiment_runs(experiment_id)
    per_template = {}
    for template in TEMPLATES:
        per_template[template] = sum(1 for r in runs if r["template"] == template)
    return {
        "label": label,
        "wall_s": wall,
        "evaluated": real.prompt_tokens_evaluated - evaluated,
        "reused": real.prompt_tokens_reused - reused,
        "prompt_tokens": sum(r["prompt_tokens"] for r in runs),
        "outputs": {(r["template"], r["case_id"]): r["output"] for r in runs},
        "by_template": _by_template(runs),
    }


def _by_template(runs: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for run in runs:
        totals[run["template"]] = totals.get(run["template"], 0) + run["prompt_tokens"]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=LoadOptions().prompt_chunk, help="prompt chunk (KV reuse unit)")
    args = parser.parse_args()
    store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
    library_files.ensure_starter_library(store)
    real = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048, prompt_chunk=args.chunk))
    # template-level prompt tokens evaluated, from the engine counters per template pass
    results = []
    for label, backend in (("naive (cache cleared per cell)", NaiveBackend(real)), ("prefix reuse", real)):
        counts = {}
        for template in TEMPLATES:
            config = experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=1, stop=("\n",))
            eid = experiments.plan(store, experiments.GridSpec([template], "sentiment-en", [config], name="count"))
            real.reset_cache()
            before = real.prompt_tokens_evaluated
            experiments.run(store, eid, lambda path, backend=backend: backend)
            counts[template] = real.prompt_tokens_evaluated - before
        result = measure(store, backend, label, args.max_tokens, real)
        result["evaluated_by_template"] = counts
        results.append(result)
    naive, reuse = results
    same = naive["outputs"] == reuse["outputs"]
    print(
        f"grid: {len(TEMPLATES)} templates x 30 cases x 1 sample, greedy, max {args.max_tokens} tokens, "
        f"prompt chunk {args.chunk}"
    )
    print(f"{'side':<32} {'wall s':>8} {'prompt tokens':>14} {'evaluated':>10} {'from cache':>11}")
    for r in results:
        print(f"{r['label']:<32} {r['wall_s']:8.1f} {r['prompt_tokens']:14,} {r['evaluated']:10,} {r['reused']:11,}")
    print(
        f"ratio naive/reuse: wall {naive['wall_s'] / reuse['wall_s']:.2f}x, "
        f"prompt tokens evaluated {naive['evaluated'] / max(reuse['evaluated'], 1):.2f}x; outputs identical: {same}"
    )
    print("prompt tokens evaluated per template (1-token runs):")
    for template in TEMPLATES:
        n, r = naive["evaluated_by_template"][template], reuse["evaluated_by_template"][template]
        print(f"  {template:<28} naive {n:6,}  reuse {r:6,}  ratio {n / max(r, 1):.2f}x")


if __name__ == "__main__":
    main()
