"""Prompt reuse rules (pure): which cached rows are reused and how the rest is cut."""

from __future__ import annotations

import itertools

import pytest

from workbench.engine.llama.prompt_plan import MIN_EXACT_ROWS, plan_prompt, split_rows


def rows(pieces):
    return [end - start for start, end in pieces]


@pytest.mark.parametrize("n", [1, 7, 8, 9, 100, 512, 513, 519, 520, 1030])
def test_split_rows_covers_the_range_with_calls_of_at_least_8_rows(n):
    pieces = split_rows(0, n, 512)
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert max(rows(pieces)) <= 512
    if n >= MIN_EXACT_ROWS:
        assert min(rows(pieces)) >= MIN_EXACT_ROWS
    else:
        assert rows(pieces) == [n]


def test_reference_reuses_any_boundary_but_leaves_8_rows():
    cached = list(range(100))
    prompt = [*range(50), 999, *range(20)]  # shares 50 tokens
    plan = plan_prompt(cached, len(cached), prompt, any_boundary=True, chunk=32, batch=512)
    assert plan.keep == 50
    assert plan.pieces == ((50, 71),)
    short_suffix = [*range(50), 999, 998]  # only 2 new tokens: reuse stops 8 before the end
    plan = plan_prompt(cached, len(cached), short_suffix, any_boundary=True, chunk=32, batch=512)
    assert plan.keep == len(short_suffix) - MIN_EXACT_ROWS
    assert rows(plan.pieces) == [MIN_EXACT_ROWS]


def test_reference_never_reuses_rows_computed_in_short_calls():
    prompt = list(range(40))
    assert plan_prompt(list(range(6)), 0, prompt, True, 32, 512).keep == 0  # a 6-token prompt is not reusable
    assert plan_prompt(list(range(40)), 5, prompt + [1] * 20, True, 32, 512).keep == 0  # below 8 rows
    assert plan_prompt(list(range(6)), 6, [*range(6), 7], True, 32, 512).reusable == 0


def test_fast_reuses_whole_aligned_chunks_only():
    cached = list(range(100))
    prompt = [*range(70), 999]
    plan = plan_prompt(cached, len(cached), prompt, any_boundary=False, chunk=32, batch=512)
    assert plan.keep == 64
    assert plan.pieces == ((64, 71),)
    fresh = plan_prompt([], 0, prompt, any_boundary=False, chunk=32, batch=512)
    assert fresh.pieces == ((0, 32), (32, 64), (64, 71))
