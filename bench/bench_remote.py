"""Grid throughput: the workbench in-process vs the same grid on an OpenAI-compatible server with K requests in
flight (`workbench compare --parallel K` against a server), same run, same machine.

Grid: sentiment-instruction-en and sentiment-3shot-en over the first N cases of sentiment-en (default 20:
40 cells), greedy, max 8 tokens, top-5 log-probabilities per token. Sides:
  local            experiments.run(parallel=4) in-process (exact batching)
  llama-server K   llama.cpp's own server built from the same sources (bench/llamacpp_tools.py), 4 slots with
                   continuous batching, in the reference numerics without repacking (-ctk f32 -ctv f32 -fa off
                   --no-repack), driven with K = 1 and K = 4 requests in flight
  llama-cpp-python K  its server (bench/serve_llama_cpp_python.py), one request at a time inside, K = 1 and 4
Every side's summary (accuracy per template) is printed, and whether it equals the local one.

    .venv/bin/python bench/bench_remote.py [--cases 20] [--skip-python-server]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llamacpp_tools import tool
from serve_llama_cpp_python import free_port, start_server, stop_server, wait_ready

from workbench import experiments, models
from workbench.engine.base import SamplingParams
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.library import files as library_files
from workbench.library.datasets import Dataset
from workbench.models.engines import Overrides, open_engine
from workbench.store import Store

TEMPLATES = ["sentiment-instruction-en", "sentiment-3shot-en"]


def run_grid(folder: Path, model: str, parallel: int, cases: int) -> tuple[float, int, list]:
    """(wall seconds, cells, [(template, accuracy)]) of the grid on `model` with `parallel`."""
    store = Store(folder / f"grid-{time.monotonic_ns()}.sqlite")
    library_files.ensure_starter_library(store)
    store.save_dataset(Dataset("bench", store.get_dataset("sentiment-en").cases[:cases]))
    spec = experiments.GridSpec(
        TEMPLATES, "bench", [experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=8)], models=[model]
    )
    experiment_id = experiments.plan(store, spec)

    def engine(path: str):
        return open_engine(path, Overrides(parallel=parallel))

    backend = engine(model)  # loaded (or contacted) before the clock starts, as a user's loaded model is
    started = time.perf_counter()
    status = experiments.run(store, experiment_id, lambda _path: backend, parallel=parallel)
    wall = time.perf_counter() - started
    backend.close()
    assert status == "done", status
    report = experiments.summarize(store, experiment_id)
    store.close()
    return wall, report["total"], [(row["template"], row["accuracy"]) for row in report["summary"]]


def start_llama_server(port: int) -> subprocess.Popen:
    binary = tool("llama-server")
    argv = [str(binary), "-m", str(models.default_model_path()), "--port", str(port), "-np", "4", "-c", "8192"]
    argv += ["-ctk", "f32", "-ctv", "f32", "-fa", "off", "--no-repack", "-t", "2"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(process, f"http://127.0.0.1:{port}", None)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--skip-python-server", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    rows = []
    wall, cells, local = run_grid(folder, models.DEFAULT_MODEL_NAME, 4, args.cases)
    rows.append(("local in-process, parallel 4", wall, cells, local))
    port = free_port()
    process = start_llama_server(port)
    try:
        ref = Endpoint(f"http://127.0.0.1:{port}/v1").ref()
        for k in (1, 4):
            wall, cells, summary = run_grid(folder, ref, k, args.cases)
            rows.append((f"llama-server, K = {k}", wall, cells, summary))
    finally:
        process.terminate()
        process.wait()
    if not args.skip_python_server:
        process, url = start_server({"gemma": str(models.default_model_path())}, folder)
        try:
            for k in (1, 4):
                wall, cells, summary = run_grid(folder, Endpoint(url, "gemma").ref(), k, args.cases)
                rows.append((f"llama-cpp-python server, K = {k}", wall, cells, summary))
        finally:
            stop_server(process)
    base = rows[0][2] / rows[0][1]
    print(f"{'side':<34} {'cells':>5} {'wall s':>8} {'cells/s':>8} {'vs local':>8}  summary equal")
    for name, wall, cells, summary in rows:
        rate = cells / wall
        print(f"{name:<34} {cells:>5} {wall:>8.1f} {rate:>8.2f} {rate / base:>7.2f}x  {summary == local}")
    print("local summary:", ", ".join(f"{t} {a:.3f}" for t, a in local))


if __name__ == "__main__":
    main()
