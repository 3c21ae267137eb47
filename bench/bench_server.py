"""The comparison grid through llama.cpp's own server vs the workbench in-process, same run.

llama-server is built from the llama.cpp sources inside the installed llama-cpp-python sdist
(bench/llamacpp_tools.py; nothing of it is committed) and started with parallel slots and
continuous batching. The grid's 120 prompts go to its OpenAI-compatible /v1/completions
(greedy, max 32 tokens, stop at a newline, logprobs 5) from as many client threads as slots.
The workbench runs the same grid with `experiments.run(parallel=K)`, collecting top-5 per token too.

    .venv/bin/python bench/bench_server.py [--slots 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_compare import TEMPLATES
from llamacpp_tools import tool

from workbench import experiments, models
from workbench.config import default_threads
from workbench.engine.base import SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.library import files as library_files
from workbench.library.templates import render
from workbench.store import Store

MAX_TOKENS = 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_FLAGS = {  # the workbench's numeric configurations (exact batching: weights not repacked)
    "reference": ["-ctk", "f32", "-ctv", "f32", "-fa", "off", "-nr"],
    "fast": ["-ctk", "f16", "-ctv", "f16", "-fa", "on", "-nr"],
}


def start_server(model: str, slots: int, threads: int, numerics: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        str(tool("llama-server")),
        "-m",
        model,
        "-np",
        str(slots),
        "-c",
        str(2048 * slots),
        "-t",
        str(threads),
        "-cb",
        *SERVER_FLAGS[numerics],
        "--port",
        str(port),
        "--no-webui",
        "--log-disable",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("llama-server did not start")


def complete(url: str, prompt: str) -> int:
    body = {"prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "stop": ["\n"], "logprobs": 5, "seed": 1}
    request = urllib.request.Request(
        url + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        reply = json.load(response)
    return int(reply["usage"]["completion_tokens"])


def server_side(url: str, prompts: list[str], slots: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        tokens = sum(pool.map(lambda p: complete(url, p), prompts))
    return time.perf_counter() - start, tokens


def workbench_side(store: Store, backend: LlamaBackend, slots: int) -> tuple[float, int]:
    config = experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=MAX_TOKENS, stop=("\n",))
    experiment_id = experiments.plan(store, experiments.GridSpec(TEMPLATES, "sentiment-en", [config], top_logprobs=5))
    backend.reset_cache()
    start = time.perf_counter()
    experiments.run(store, experiment_id, lambda path: backend, parallel=slots)
    wall = time.perf_counter() - start
    return wall, sum(r["completion_tokens"] for r in store.experiment_runs(experiment_id))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--numerics", default="reference", choices=sorted(SERVER_FLAGS))
    args = parser.parse_args()
    store = Store(Path(tempfile.mkdtemp()) / "bench.sqlite")
    library_files.ensure_starter_library(store)
    dataset = store.get_dataset("sentiment-en")
    prompts = [render(store.get_template(t), c.vars).text for t in TEMPLATES for c in dataset.cases]
    model = models.resolve(None).path
    threads = default_threads()
    backend = LlamaBackend(
        models.resolve(None), LoadOptions(n_ctx=2048, n_parallel=args.slots, n_threads=threads, numerics=args.numerics)
    )
    server, url = start_server(model, args.slots, threads, args.numerics)
    try:
        complete(url, "warm up")
        print(
            f"grid: {len(prompts)} prompts ({len(TEMPLATES)} templates x 30 cases), greedy, max {MAX_TOKENS} tokens, "
            f"logprobs 5, {args.slots} slots / sequences, {threads} threads, {args.numerics} numerics "
            f"({' '.join(SERVER_FLAGS[args.numerics])})"
        )
        for round_number in range(1, args.rounds + 1):  # interleaved: the host is noisy
            s_wall, s_tokens = server_side(url, prompts, args.slots)
            w_wall, w_tokens = workbench_side(store, backend, args.slots)
            print(
                f"  round {round_number}: llama-server {s_wall:6.1f} s ({s_tokens} completion tokens, "
                f"{s_tokens / s_wall:5.1f} tok/s, {len(prompts) / s_wall:4.2f} prompts/s) | workbench {w_wall:6.1f} s "
                f"({w_tokens} tokens, {w_tokens / w_wall:5.1f} tok/s, {len(prompts) / w_wall:4.2f} prompts/s) | "
                f"workbench/server prompts/s ratio {s_wall / w_wall:.2f}"
            )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
