"""Human review: unrated pairs of outputs for one case (the blind A/B panel and `workbench rate --pairs`)
and the ratings themselves."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from typing import Any

from workbench.errors import InputError


def review_pairs(store, experiment_id: int, rng: random.Random) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Unrated pairs of outputs for the same case (different templates, configs or samples), shuffled,
    each in random left/right order."""
    rated = {
        frozenset((r["left_run_id"], r["right_run_id"]))
        for r in store.ratings(experiment_id)
        if not r["rater"].startswith("judge:")  # a model judge's verdict does not stand for yours
    }
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in store.experiment_runs(experiment_id, with_tokens=False):
        if run["output"] and not run["error"] and run["finish_reason"] != "likelihood":
            by_case[run["case_id"]].append(run)
    pairs = []
    for runs in by_case.values():
        for a, b in itertools.combinations(runs, 2):
            if frozenset((a["id"], b["id"])) not in rated and a["output"] != b["output"]:
                pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    rng.shuffle(pairs)
    return pairs


RATING_CHOICES = ("left", "right", "tie", "skip")


def rate(store, experiment_id: int, left_id: int, right_id: int, choice: str, rater: str) -> int:
    """A human judgement of two outputs for the same case of one experiment (the A/B review and
    `workbench rate`): left or right is better, a tie, or skipped. Returns the rating id."""
    if choice not in RATING_CHOICES:
        raise InputError(f"a rating is {', '.join(RATING_CHOICES[:-1])} or {RATING_CHOICES[-1]} (got {choice!r})")
    if left_id == right_id:
        raise InputError("rate two different runs")
    left, right = store.grid_run(left_id), store.grid_run(right_id)
    for run in (left, right):
        if run["experiment_id"] != experiment_id:
            raise InputError(f"run {run['id']} belongs to experiment {run['experiment_id']}, not {experiment_id}")
        if run["status"] != "done":
            raise InputError(f"run {run['id']} has not run yet")
    if left["case_id"] != right["case_id"]:
        raise InputError(
            f"runs {left_id} and {right_id} answer different cases ({left['case_id']}, {right['case_id']})"
        )
    return store.add_rating(experiment_id, left["case_id"], left_id, right_id, choice, rater)
