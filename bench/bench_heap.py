"""Memory and speed with glibc's mmap threshold fixed (the engine's default, workbench/engine/llama/heap.py) and
left dynamic (glibc's default), each in a fresh process, one after the other in the same run: two batched
comparisons and some generations, RSS after each.

    .venv/bin/python bench/bench_heap.py [--cells 200] [--generations 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, tempfile, time
from pathlib import Path
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/bench"]
import bench_soak as soak
from workbench import models
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.library import files as library_files
from workbench.store import Store
store = Store(Path(tempfile.mkdtemp()) / "heap.sqlite")
library_files.ensure_starter_library(store)
backend = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=1024))
cells, generations = int(sys.argv[3]), int(sys.argv[4])
rows = [("start", soak.snapshot()["rss_mib"], 0.0)]
for name, work in (("comparison", lambda: soak.comparison(backend, store, cells)),
                   ("second comparison", lambda: soak.comparison(backend, store, cells + 1)),
                   ("generations", lambda: soak.generations(backend, store, generations))):
    started = time.perf_counter()
    work()
    rows.append((name, soak.snapshot()["rss_mib"], round(time.perf_counter() - started, 1)))
print(json.dumps(rows))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--order", default="fixed,dynamic", help="which process runs first")
    args = parser.parse_args()
    results = {}
    for mode in args.order.split(","):
        command = [sys.executable, "-c", CHILD, str(ROOT), mode, str(args.cells), str(args.generations)]
        env = {**os.environ, "WORKBENCH_MMAP_THRESHOLD": mode}  # "dynamic": glibc's own behaviour
        output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(), env=env)
        results[mode] = json.loads(output.stdout.strip().splitlines()[-1])
    print(f"{'point':<20} {'fixed MiB':>10} {'s':>6} {'dynamic MiB':>12} {'s':>6} {'time ratio':>10}")
    for (name, fixed_mib, fixed_s), (_, dynamic_mib, dynamic_s) in zip(
        results["fixed"], results["dynamic"], strict=True
    ):
        ratio = f"{fixed_s / dynamic_s:.2f}" if dynamic_s else "—"
        print(f"{name:<20} {fixed_mib:>10} {fixed_s:>6} {dynamic_mib:>12} {dynamic_s:>6} {ratio:>10}")


if __name__ == "__main__":
    main()
