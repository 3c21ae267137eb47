"""The Explorer's speed: re-shaping the next-token chart from cached logits (a slider moving), one
step by hand (Greedy: the branch's logits from llama.cpp), and Auto N against a plain generation of
the same tokens, measured in the same run.

    .venv/bin/python bench/bench_explorer.py [--rounds 3] [--steps 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import models
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.engine.next_token import describe_next
from workbench.explore import tree as trees
from workbench.store import Store

PREFIX = "The tallest mountain in Taiwan is"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    backend = LlamaBackend(models.resolve(None), LoadOptions())
    store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
    tree = trees.new_tree(store, backend, PREFIX)
    raw, _ = trees.next_at(backend, tree, None, SamplingParams(), top=20)
    ids = trees.context_ids(backend, tree, None)
    reshapes = []
    for round_ in range(args.rounds * 20):
        params = SamplingParams(temperature=0.1 + (round_ % 20) / 10, top_k=round_ % 50, top_p=0.9, min_p=0.02)
        start = time.perf_counter()
        describe_next(raw, ids, params, 20, backend.token_bytes, backend.buffers)
        reshapes.append((time.perf_counter() - start) * 1000)
    print(
        f"re-shape (20 bars, 262,144 logits): median {statistics.median(reshapes):.2f} ms, "
        f"max {max(reshapes):.2f} ms over {len(reshapes)} slider moves"
    )
    steps = []
    node = None
    for _ in range(args.rounds * 5):  # what the Explorer does on a click: the chart's cached logits give the
        start = time.perf_counter()  # chosen token's log-probability, then the new node's chart is evaluated
        tree = trees.pick(store, backend, tree, node, int(raw.argmax()), "greedy", raw)
        node = max(tree.nodes)
        raw, _ = trees.next_at(backend, tree, node, SamplingParams(), top=20)
        steps.append((time.perf_counter() - start) * 1000)
    print(f"one Greedy click (append + the new chart's logits): median {statistics.median(steps):.0f} ms")
    auto_rates, plain_rates = [], []
    for _ in range(args.rounds):
        fresh = trees.new_tree(store, backend, PREFIX)
        start = time.perf_counter()
        fresh, last = trees.auto(store, backend, fresh, None, args.steps, SamplingParams(temperature=0.0))
        auto_rates.append(len(fresh.path(last)) / (time.perf_counter() - start))
        backend.reset_cache()
        start = time.perf_counter()
        plain = backend.generate(GenerationRequest(PREFIX, SamplingParams(temperature=0.0), args.steps, (), 0))
        plain_rates.append(len(plain.tokens) / (time.perf_counter() - start))
        backend.reset_cache()
    auto, plain = statistics.median(auto_rates), statistics.median(plain_rates)
    print(
        f"Auto {args.steps} (greedy, each token saved as a node): {auto:.1f} tok/s; plain generate "
        f"{plain:.1f} tok/s; ratio {auto / plain:.2f}"
    )
    backend.close()


if __name__ == "__main__":
    main()
