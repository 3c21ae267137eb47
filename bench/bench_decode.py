"""Decode speed: `workbench generate --top-logprobs 10` against llama.cpp's own llama-bench.

Both sides use the same model file, thread count and llama.cpp sources (llama-bench is built
from the llama-cpp-python sdist of the installed version, see llamacpp_tools.py). Runs are
interleaved (A, B, A, B, ...) so drift on a shared machine hits both sides alike.

    .venv/bin/python bench/bench_decode.py [--rounds 3] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llamacpp_tools import tool

from workbench.config import default_threads
from workbench.models import default_model_path

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def llama_bench_tg(binary: Path, model: Path, threads: int, tokens: int) -> float:
    out = subprocess.run(
        [str(binary), "-m", str(model), "-t", str(threads), "-p", "0", "-n", str(tokens), "-r", "1", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(out)[0]["avg_ts"])


def workbench_tg(model: Path, threads: int, tokens: int, extra: list[str]) -> tuple[float, int]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "generate",
            "--prompt",
            PROMPT,
            "--model",
            str(model),
            "--threads",
            str(threads),
            "--max-tokens",
            str(tokens),
            "--top-logprobs",
            "10",
            "--no-log",
            "--json",
            *extra,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    timings = json.loads(out)["samples"][0]["timings"]
    return float(timings["tokens_per_s"]), int(timings["generated_tokens"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    model = default_model_path()
    binary = tool("llama-bench")
    settings = {
        "greedy": ["--temperature", "0"],
        "default sampling (T 0.8, top-k 40, top-p 0.95, min-p 0.05)": ["--seed", "1"],
        "untruncated (T 0.8, top-k 0, top-p 1, min-p 0)": [
            "--seed",
            "1",
            "--top-k",
            "0",
            "--top-p",
            "1",
            "--min-p",
            "0",
        ],
    }
    reference: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name in settings}
    ratios: dict[str, list[float]] = {name: [] for name in settings}
    for _ in range(args.rounds):
        for name, extra in settings.items():
            reference.append(llama_bench_tg(binary, model, args.threads, args.tokens))
            rate, count = workbench_tg(model, args.threads, args.tokens, extra)
            ours[name].append(rate)
            ratios[name].append(rate / reference[-1])
            print(
                f"  llama-bench {reference[-1]:6.1f} tok/s | workbench {rate:6.1f} tok/s ({count} tokens) [{name}]",
                flush=True,
            )
    ref = statistics.median(reference)
    print(f"\nmodel {model.name}, {args.threads} threads, {args.tokens} tokens, {args.rounds} rounds (medians)")
    print("| side | tokens/s (median) | ratio to the llama-bench run just before it (median, min-max) |")
    print("|---|---|---|")
    print(f"| llama-bench tg{args.tokens} (llama.cpp, no probabilities) | {ref:.1f} | 1.00 |")
    for name, rates in ours.items():
        r = ratios[name]
        print(
            f"| workbench generate --top-logprobs 10, {name} | {statistics.median(rates):.1f} | "
            f"{statistics.median(r):.3f} ({min(r):.2f}-{max(r):.2f}) |"
        )


if __name__ == "__main__":
    main()
