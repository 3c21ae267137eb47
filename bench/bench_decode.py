"""Decode speed with per-token probabilities vs llama.cpp's own generation speed, same flags.

For each numeric configuration, llama.cpp's `llama-batched-bench -npl 1` (built from the
llama-cpp-python sdist of the installed version, see llamacpp_tools.py) decodes 128 tokens with
the matching K/V type, flash-attention setting and no weight repacking (what exact batching uses);
the workbench generates 128 tokens in-process with `--top-logprobs 10` on the same model, prompt
length and threads. Only decode time counts on both sides (llama-batched-bench's S_TG; the
workbench's gen_ms). Rounds are interleaved so drift on a shared host hits both sides alike.

    .venv/bin/python bench/bench_decode.py [--rounds 3] [--tokens 128] [--numerics reference,fast]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llamacpp_tools import tool

from workbench import models
from workbench.config import default_threads
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions

PROMPT = "Count with me: 1, 2, 3, 4, 5, 6, 7, 8,"  # greedy keeps counting: all 128 tokens run
LLAMA_FLAGS = {
    "reference": ["-ctk", "f32", "-ctv", "f32", "-fa", "off", "-nr"],
    "fast": ["-ctk", "f16", "-ctv", "f16", "-fa", "on", "-nr"],
}
SETTINGS = {
    "greedy": SamplingParams(temperature=0.0),
    "default sampling": SamplingParams(seed=1),
    "untruncated T 1": SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=1),
}


def batched_bench(flags: list[str], prompt_tokens: int, tokens: int, threads: int, parallel: str = "1") -> list[float]:
    """S_TG (generation tokens/s) for each -npl value, from llama-batched-bench's jsonl output."""
    import json

    out = subprocess.run(
        [
            str(tool("llama-batched-bench")),
            "-m",
            str(models.resolve(None).path),
            "-t",
            str(threads),
            "-c",
            "4096",
            "-npp",
            str(prompt_tokens),
            "-ntg",
            str(tokens),
            "-npl",
            parallel,
            "--output-format",
            "jsonl",
            *flags,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [float(json.loads(line)["speed_tg"]) for line in out.splitlines() if line.startswith("{")]


def workbench_tokens_per_s(backend: LlamaBackend, params: SamplingParams, tokens: int) -> float:
    request = GenerationRequest(PROMPT, params, max_tokens=tokens, top_logprobs=10)
    generation = backend.generate(request)
    if len(generation.tokens) < tokens:
        raise SystemExit(f"the run stopped after {len(generation.tokens)} tokens; choose another prompt")
    return len(generation.tokens) / generation.timings.gen_ms * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--numerics", default="reference,fast")
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    for numerics in args.numerics.split(","):
        options = LoadOptions(n_ctx=4096, n_threads=args.threads, n_parallel=1, numerics=numerics)
        backend = LlamaBackend(models.resolve(None), options)
        prompt_tokens = len(backend.tokenize(PROMPT))
        ratios: dict[str, list[float]] = {name: [] for name in SETTINGS}
        speeds: dict[str, list[float]] = {name: [] for name in ["llama.cpp", *SETTINGS]}
        for _ in range(args.rounds):
            reference = batched_bench(LLAMA_FLAGS[numerics], prompt_tokens, args.tokens, args.threads)[0]
            speeds["llama.cpp"].append(reference)
            for name, params in SETTINGS.items():
                ours = workbench_tokens_per_s(backend, params, args.tokens)
                speeds[name].append(ours)
                ratios[name].append(ours / reference)
        backend.close()
        print(f"{numerics} numerics ({' '.join(LLAMA_FLAGS[numerics])}), {args.tokens} tokens, {args.rounds} rounds")
        print(f"  llama-batched-bench -npl 1: {statistics.median(speeds['llama.cpp']):6.1f} tok/s (median)")
        for name in SETTINGS:
            low, high = min(ratios[name]), max(ratios[name])
            print(
                f"  workbench --top-logprobs 10, {name:<17} {statistics.median(speeds[name]):6.1f} tok/s  "
                f"ratio {statistics.median(ratios[name]):.3f} (min {low:.3f}, max {high:.3f})"
            )


if __name__ == "__main__":
    main()
