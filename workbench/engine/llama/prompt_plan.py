"""Which part of a cached prompt can be reused, and how the rest is cut into llama_decode calls,
so that the result is bit-identical to evaluating the prompt fresh.

Measured with llama-cpp-python 0.3.36 on CPU (bench/measure_splits.py, docs/BENCHMARKS.md):
- reference numerics (F32 K/V, no flash attention, weights not repacked): a row's values do not
  depend on how the prompt was cut *as long as every llama_decode call has at least 8 rows*
  (a 2-7 row call takes other kernels). So a cached prefix can be reused at any token boundary,
  provided the prefix rows were computed in calls of >= 8 rows and >= 8 rows are left to evaluate.
- fast numerics (F16 K/V, flash attention): the flash kernel's tiling over the KV cache changes
  results whenever the prompt is cut differently, so prompts are always cut at the same absolute
  positions (multiples of `chunk` from 0) and only whole chunks are reused.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_EXACT_ROWS = 8


@dataclass(frozen=True)
class PromptPlan:
    keep: int  # leading tokens taken from the cache
    pieces: tuple[tuple[int, int], ...]  # [start, end) rows, one llama_decode call each
    reusable: int  # leading rows of this prompt a later prompt may reuse


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def split_rows(start: int, end: int, size: int, min_rows: int = MIN_EXACT_ROWS) -> tuple[tuple[int, int], ...]:
    """[start, end) in calls of at most `size` rows, none shorter than `min_rows` unless the whole
    range is (then it is one call)."""
    size = max(size, 2 * min_rows)
    pieces = [(offset, min(offset + size, end)) for offset in range(start, end, size)]
    if len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < min_rows:
        cut = end - min_rows  # the last call takes rows from the one before it
        pieces[-2:] = [(pieces[-2][0], cut), (cut, end)]
    return tuple(pieces)


def plan_prompt(
    cached: list[int], cached_reusable: int, prompt: list[int], any_boundary: bool, chunk: int, batch: int
) -> PromptPlan:
    """How to evaluate `prompt` when the cache holds `cached` (its first `cached_reusable` rows reusable)."""
    n = len(prompt)
    shared = common_prefix(cached, prompt)
    if any_boundary:
        keep = min(shared, cached_reusable, n - MIN_EXACT_ROWS)
        keep = keep if keep >= MIN_EXACT_ROWS else 0
        return PromptPlan(keep, split_rows(keep, n, batch), n if n >= MIN_EXACT_ROWS else 0)
    keep = min(shared, n - 1) // chunk * chunk  # whole chunks only; the last one is always run
    pieces = tuple((offset, min(offset + chunk, n)) for offset in range(keep, n, chunk))
    return PromptPlan(keep, pieces, n)
