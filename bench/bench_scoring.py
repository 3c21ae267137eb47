"""Scoring speed (issue "Judge open-ended outputs"): reference metrics over 10,000 cells (target < 10 s), a
100-cell rubric judgement on the embedded instruct model as one batched grid (cells/s), and re-scoring a
2,000-cell experiment kept in SQLite with deterministic scorers (target < 5 s).

    .venv/bin/python bench/bench_scoring.py [--metric-cells 10000] [--judge-cells 100] [--rescore-cells 2000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import models
from workbench.experiments import rescoring
from workbench.experiments.grid import GridSpec, plan
from workbench.library import files as library_files
from workbench.library.assertions import AssertionSet
from workbench.library.datasets import Case, Dataset
from workbench.scoring import CellContext, ScoringJob, score_cells
from workbench.store import Store

WORDS = "the cat sat on a warm mat while rain fell over quiet city streets and bridges near old river banks"
WORDS = WORDS.split()
CHINESE = "猫在沙发上睡觉明天下午会下雨离开前请关上窗户图书馆延长开放时间"


def sentence(rng: random.Random, chinese: bool) -> str:
    if chinese:
        return "".join(rng.choice(CHINESE) for _ in range(rng.randint(8, 20))) + "。"
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) + "."


def cells(count: int, seed: int = 0) -> list[CellContext]:
    rng = random.Random(seed)
    found = []
    for index in range(count):
        chinese = index % 2 == 1
        reference = sentence(rng, chinese)
        found.append(CellContext(sentence(rng, chinese), Case(f"c{index}", {"reference": reference})))
    return found


def bench_metrics(count: int) -> None:
    contexts = cells(count)
    for names in ("bleu", "chrf", "ter", "rouge-l", "bleu,chrf,ter,rouge-l"):
        checks = AssertionSet.parse_names(names)
        score_cells(ScoringJob(contexts[:10], [checks] * 10))  # imports and the metric objects, before the clock
        started = time.perf_counter()
        scored = score_cells(ScoringJob(contexts, [checks] * len(contexts)))
        elapsed = time.perf_counter() - started
        assert all(s.score is not None for s in scored)
        rate = f"{count / elapsed:,.0f} cells/s"
        print(f"reference metrics {names:<22} {count:,} cells (half Chinese): {elapsed:.2f} s, {rate}")


def finished_experiment(store: Store, count: int) -> int:
    """An experiment of `count` cells whose outputs are written straight into the store (what a finished grid
    keeps), so the re-scoring is timed on its own."""
    rng = random.Random(1)
    cases = [Case(f"c{i}", {"text": f"text {i}", "reference": sentence(rng, i % 2 == 1)}) for i in range(count // 2)]
    store.save_dataset(Dataset("bench-rescore", cases))
    experiment_id = plan(store, GridSpec(["summarise-tldr-en", "summarise-instruction-en"], "bench-rescore"), True)
    for cell in store.pending_cells(experiment_id):
        output = sentence(rng, "\u4e00" <= cell["vars"]["reference"][0] <= "\u9fff")
        result = {"output": output, "answer": None, "score": None, "tokens": [], "finish_reason": "stop"}
        result.update(prompt_tokens=10, completion_tokens=12, latency_ms=100.0, error=None, grid_ms=1.0)
        store.finish_cell(cell["id"], result)
    store.set_experiment(experiment_id, status="done")
    return experiment_id


def bench_rescore(store: Store, count: int) -> None:
    experiment_id = finished_experiment(store, count)
    for names in ("contains:cat,length:200,regex:[a-z]+", "chrf", "chrf,rouge-l,levenshtein:the cat"):
        started = time.perf_counter()
        done = rescoring.rescore(store, experiment_id, AssertionSet.parse_names(names), name=names)
        summary = rescoring.scoring_summary(store, experiment_id, names)
        elapsed = time.perf_counter() - started
        assert done.cells == count and summary["summary"]
        print(f"re-score {count:,} kept cells with {names:<40} (incl. summary): {elapsed:.2f} s")


def bench_judge(store: Store, count: int, width: int) -> None:
    rng = random.Random(2)
    contexts = [CellContext(sentence(rng, False), Case(f"j{i}", {"text": "x"})) for i in range(count)]
    checks = AssertionSet.parse_names("llm-rubric:The output is one grammatical English sentence")
    engines = rescoring.judge_engines(None)
    engines(rescoring.DEFAULT_JUDGE)  # load the judge model before the clock starts
    try:
        started = time.perf_counter()
        scored = score_cells(ScoringJob(contexts, [checks] * count), engines, rescoring.judge_renderer(store), width)
        elapsed = time.perf_counter() - started
    finally:
        engines.close()
    errors = sum(s.score is None for s in scored)
    print(
        f"llm-rubric judge on {models.INSTRUCT_MODEL_NAME}, {count} cells, {width} decoded together: "
        f"{elapsed:.1f} s, {count / elapsed:.2f} cells/s ({errors} judge errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metric-cells", type=int, default=10_000)
    parser.add_argument("--judge-cells", type=int, default=100)
    parser.add_argument("--rescore-cells", type=int, default=2_000)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    store = Store(Path(tempfile.mkdtemp(prefix="bench-scoring-")) / "db.sqlite")
    library_files.ensure_starter_library(store)
    bench_metrics(args.metric_cells)
    bench_rescore(store, args.rescore_cells)
    bench_judge(store, args.judge_cells, args.width)


if __name__ == "__main__":
    main()
