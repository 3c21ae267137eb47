"""Where one generated token's time goes: llama.cpp's decode vs each part of the Python step.

Generates 128 tokens (default sampling, --top-logprobs 10) in-process and times, per token,
`llama_decode`, the log-normaliser pass, the sampling transforms, the alternatives' records and
the rest of the step, by wrapping those functions (the wrappers add a few microseconds each).

    .venv/bin/python bench/bench_step.py [--rounds 3] [--numerics reference]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import models
from workbench.engine import sampling
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions, decode_loop

PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
spent: dict[str, float] = {}


def timed(owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--numerics", default="reference")
    args = parser.parse_args()
    backend = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048, n_parallel=1, numerics=args.numerics))
    import llama_cpp

    timed(llama_cpp, "llama_decode", "llama_decode")
    timed(sampling.StepBuffers, "log_normaliser", "log-normaliser")
    timed(decode_loop, "distribution", "sampling transforms")
    timed(decode_loop.Run, "records", "alternatives' records")
    timed(decode_loop.Run, "step", "whole step")
    request = GenerationRequest(PROMPT, SamplingParams(seed=1), max_tokens=128, top_logprobs=10)
    backend.generate(request)  # warm up
    for _ in range(args.rounds):
        spent.clear()
        start = time.perf_counter()
        generation = backend.generate(request)
        total = time.perf_counter() - start
        n = len(generation.tokens)
        parts = "  ".join(f"{label} {seconds * 1000 / n:.2f}" for label, seconds in spent.items())
        print(f"{args.numerics}: {n} tokens, {total * 1000 / n:.2f} ms per token: {parts} (ms per token)")


if __name__ == "__main__":
    main()
