"""Soak: one process runs many generations, a large comparison and many tokenizations of a 1 MB text, and reports
resident memory, open file handles and threads at the start, after each phase and at the end, so growth (a leak)
shows. Sizes default to the reliability issue's (500 generations, a 2,000-cell comparison, 200 tokenizations).

    .venv/bin/python bench/bench_soak.py [--generations 500] [--cells 2000] [--tokenizations 200]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import experiments, models
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.engine.llama.heap import keep_large_blocks_on_mmap
from workbench.library import files as library_files
from workbench.library.datasets import Case, Dataset
from workbench.runs.history import save_generation
from workbench.store import Store
from workbench.text import tokenizers


def snapshot() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {
        "rss_mib": round(rss_kb / 1024, 1),
        "open_files": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "os_threads": len(os.listdir("/proc/self/task")),
    }


def trimmed_snapshot() -> dict[str, float]:
    """Memory after glibc returns every free page it holds: what remains is live (or leaked)."""
    name = ctypes.util.find_library("c")
    if name and hasattr(ctypes.CDLL(name), "malloc_trim"):
        ctypes.CDLL(name).malloc_trim(0)
    return snapshot()


def generations(backend, store, count: int) -> None:
    for i in range(count):
        request = GenerationRequest(f"Story {i}: once upon a time", SamplingParams(seed=i), max_tokens=16)
        save_generation(store, backend, request, [backend.generate(request)], "generate")


def comparison(backend, store, cells: int) -> None:
    cases = [Case(f"s{i}", {"text": f"Review number {i}: it was fine."}, expected="neutral") for i in range(cells)]
    store.save_dataset(Dataset(f"soak-{cells}", cases))
    spec = experiments.GridSpec(
        ["sentiment-instruction-en"],
        f"soak-{cells}",
        [experiments.Config(SamplingParams(temperature=0.0), max_tokens=2)],
    )
    experiment_id = experiments.plan(store, spec, confirm_large=True)
    assert experiments.run(store, experiment_id, lambda _path: backend, parallel=4) == "done"


def tokenizations(count: int) -> None:
    text = ("The tallest mountain in Taiwan is Yushan. 台湾最高的山是玉山。\n" * 20_000)[:1_000_000]
    tokenizer = tokenizers.get_tokenizer(models.DEFAULT_MODEL_NAME)
    for _ in range(count):
        tokenizers.tokenize(tokenizer, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=500)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--tokenizations", type=int, default=200)
    args = parser.parse_args()
    store = Store(Path(tempfile.mkdtemp()) / "soak.sqlite")
    library_files.ensure_starter_library(store)
    backend = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=1024))
    rows = [("start (model loaded)", snapshot(), 0.0)]
    for name, phase in (
        (f"{args.generations} generations", lambda: generations(backend, store, args.generations)),
        (f"{args.cells}-cell comparison", lambda: comparison(backend, store, args.cells)),
        (f"a second {args.cells}-cell comparison", lambda: comparison(backend, store, args.cells + 1)),
        (f"{args.tokenizations} tokenizations of 1 MB", lambda: tokenizations(args.tokenizations)),
    ):
        started = time.perf_counter()
        phase()
        rows.append((f"after {name}", snapshot(), time.perf_counter() - started))
    rows.append(("after malloc_trim(0) (what the allocator held)", trimmed_snapshot(), 0.0))
    backend.close()
    store.close()
    print(f"glibc mmap threshold fixed: {keep_large_blocks_on_mmap()}")
    print(f"{'point':<40} {'RSS MiB':>8} {'files':>6} {'threads':>8} {'OS threads':>10} {'phase s':>8}")
    for name, snap, seconds in rows:
        print(
            f"{name:<40} {snap['rss_mib']:>8} {snap['open_files']:>6} {snap['threads']:>8} "
            f"{snap['os_threads']:>10} {seconds:>8.1f}"
        )


if __name__ == "__main__":
    main()
