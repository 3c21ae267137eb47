"""What an experiment found: accuracy with Wilson intervals, majority vote, paired McNemar tests,
human win rates; review pairs for A/B rating; exports (runs, preferences, summary) as JSONL or CSV."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from workbench.datasets import Case
from workbench.errors import InputError
from workbench.scoring import agreement, compare, majority
from workbench.stats import paired_test, wilson, win_rate
from workbench.templates import AnswerRule

RUN_KEYS = (
    "experiment_id",
    "template",
    "template_version",
    "case_id",
    "vars",
    "expected",
    "output",
    "answer",
    "score",
    "params",
    "seed",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "error",
)


def group_label(run: dict[str, Any], spec: dict[str, Any]) -> str:
    """The template, plus the config and model when the grid has several."""
    label = run["template"]
    if len(spec["configs"]) > 1:
        params = spec["configs"][run["config_index"]]["params"]
        label += f" · config {run['config_index'] + 1} (T{params['temperature']:g})"
    if len(spec["models"]) > 1:
        label += f" · {spec['models'][run['model_index']]['name']}"
    return label


def _groups(runs: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[group_label(run, spec)].append(run)
    return dict(groups)


def _case_correct(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """Per case: is the majority-vote answer right (one sample: that sample)."""
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_case[row["case_id"]].append(row)
    correct = {}
    for case_id, samples in by_case.items():
        scored = _majority_score(samples)
        if scored is not None:
            correct[case_id] = scored >= 1.0
    return correct


@dataclass(frozen=True)
class CellVerdict:
    """What the table shows for one case x template: the majority answer and whether it is right,
    by the same rule as the accuracy and the paired tests (`_case_correct`)."""

    answer: str | None  # the majority answer (no-answer samples do not vote; ties: the one seen first)
    correct: bool | None  # None: the case has no expected answer
    votes: int  # samples that gave that answer
    samples: int
    errors: int


def cell_verdict(samples: list[dict[str, Any]]) -> CellVerdict:
    answers = [s["answer"] for s in samples]
    answer = majority(answers)
    scored = _majority_score(samples)
    return CellVerdict(
        answer=answer,
        correct=None if scored is None else scored >= 1.0,
        votes=sum(a == answer for a in answers) if answer is not None else 0,
        samples=len(samples),
        errors=sum(bool(s.get("error")) for s in samples),
    )


def case_row_shown(cells: list[list[dict[str, Any]]], only_failures: bool, only_disagreements: bool) -> bool:
    """The table's filters for one case (its cells across templates): "only failures" hides a case every
    template got right; "only disagreements" hides a case all templates judged alike."""
    marks = [cell_verdict(samples).correct for samples in cells if samples]
    if only_failures and all(mark is True for mark in marks):
        return False
    return not (only_disagreements and len(set(marks)) <= 1)


def _majority_score(samples: list[dict[str, Any]]) -> float | None:
    first = samples[0]
    if first["expected"] is None:
        return None
    answer = majority([s["answer"] for s in samples])
    case = Case(first["case_id"], first["vars"], first["expected"], tuple(first["choices"] or ()) or None)
    return compare(answer, case, AnswerRule.from_dict(first["scorer"]) or AnswerRule())


def summarize(store, experiment_id: int) -> dict[str, Any]:
    experiment = store.experiment(experiment_id)
    spec = experiment["spec"]
    runs = store.experiment_runs(experiment_id, with_tokens=False)
    groups = _groups(runs, spec)
    wins = _win_counts(store, experiment_id, spec)
    summary = [_group_summary(label, rows, wins.get(label)) for label, rows in groups.items()]
    pairwise = []
    for (label_a, rows_a), (label_b, rows_b) in itertools.combinations(groups.items(), 2):
        test = paired_test(_case_correct(rows_a), _case_correct(rows_b))
        pairwise.append(
            {
                "a": label_a,
                "b": label_b,
                "n": test.n,
                "a_only_correct": test.a_only,
                "b_only_correct": test.b_only,
                "p_value": test.p_value,
                "significant": test.significant,
            }
        )
    return {
        "experiment_id": experiment_id,
        "name": experiment["name"],
        "status": experiment["status"],
        "done": experiment["done_cells"],
        "total": experiment["total_cells"],
        "summary": summary,
        "pairwise": pairwise,
        "throughput": throughput(runs),
    }


def throughput(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the grid achieved as a whole: its wall time (summed over Stop / Resume sessions) and the
    cells and completion tokens per second of wall time, the figure to judge speed by."""
    timed = [r for r in runs if r.get("grid_ms") is not None]
    wall_s = sum(r["grid_ms"] for r in timed) / 1000
    tokens = sum(r["completion_tokens"] or 0 for r in timed)
    return {
        "cells_timed": len(timed),
        "wall_s": wall_s,
        "cells_per_s": len(timed) / wall_s if wall_s else None,
        "completion_tokens_per_s": tokens / wall_s if wall_s else None,
    }


def _group_summary(label: str, rows: list[dict[str, Any]], wins: list[int] | None) -> dict[str, Any]:
    scored = [r["score"] for r in rows if r["score"] is not None]
    n = len(scored)
    accuracy = sum(scored) / n if n else None
    low, high = wilson(sum(scored), n) if n else (None, None)
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_case[row["case_id"]].append(row)
    votes = [s for s in (_majority_score(samples) for samples in by_case.values()) if s is not None]
    vote_accuracy = sum(votes) / len(votes) if votes else None
    vote_low, vote_high = wilson(sum(votes), len(votes)) if votes else (None, None)
    win, tie, loss = wins or (0, 0, 0)
    return {
        "template": label,
        "accuracy": accuracy,
        "ci_low": low,
        "ci_high": high,
        "n": n,
        "runs": len(rows),
        "failures": sum(bool(r["error"]) for r in rows),
        "mean_prompt_tokens": _mean(r["prompt_tokens"] for r in rows),
        "mean_completion_tokens": _mean(r["completion_tokens"] for r in rows),
        # wall time from a cell's start to its end; in a batched grid that includes the decode steps of its
        # batch neighbours, so it is not the model's speed (see the experiment's `throughput` for that)
        "mean_latency_ms": _mean(r["latency_ms"] for r in rows),
        "majority_accuracy": vote_accuracy,
        "majority_ci_low": vote_low,
        "majority_ci_high": vote_high,
        "majority_n": len(votes),
        "agreement": _mean(agreement([s["answer"] for s in samples]) for samples in by_case.values()),
        "human_wins": win,
        "human_ties": tie,
        "human_losses": loss,
        "human_win_rate": win_rate(win, tie, loss),
        "numerics": sorted({r["numerics"] for r in rows if r.get("numerics")}),
        "batching": sorted({r["batching"] for r in rows if r.get("batching")}),
        "within_noise": sum(bool(r.get("within_noise")) for r in rows),
    }


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else 0.0


def _win_counts(store, experiment_id: int, spec: dict[str, Any]) -> dict[str, list[int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rating in store.ratings(experiment_id):
        if rating["choice"] == "skip":
            continue
        left = group_label(store.grid_run(rating["left_run_id"]), spec)
        right = group_label(store.grid_run(rating["right_run_id"]), spec)
        if rating["choice"] == "tie":
            counts[left][1] += 1
            counts[right][1] += 1
        else:
            winner, loser = (left, right) if rating["choice"] == "left" else (right, left)
            counts[winner][0] += 1
            counts[loser][2] += 1
    return counts


# -- human review -----------------------------------------------------------------------------
def review_pairs(store, experiment_id: int, rng: random.Random) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Unrated pairs of outputs for the same case (different templates, configs or samples), shuffled,
    each in random left/right order."""
    rated = {frozenset((r["left_run_id"], r["right_run_id"])) for r in store.ratings(experiment_id)}
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


# -- export -----------------------------------------------------------------------------------
def run_rows(store, experiment_id: int) -> list[dict[str, Any]]:
    rows = []
    for run in store.experiment_runs(experiment_id):
        row = {key: run.get(key) for key in RUN_KEYS}
        row["experiment_id"] = experiment_id
        row.update(
            config_index=run["config_index"],
            model_index=run["model_index"],
            sample_index=run["sample_index"],
            prompt=run["prompt"],
            finish_reason=run["finish_reason"],
            scorer=run["scorer"],
            choice_logprobs=run["choice_logprobs"],
            numerics=run.get("numerics"),
            batching=run.get("batching"),
            noise_spread=run.get("noise_spread"),
            within_noise=None if run.get("within_noise") is None else bool(run["within_noise"]),
        )
        rows.append(row)
    return rows


def preference_rows(store, experiment_id: int) -> list[dict[str, Any]]:
    """Ratings as reward-model / DPO pairs: {"prompt", "chosen", "rejected", ...metadata}."""
    rows = []
    for rating in store.ratings(experiment_id):
        if rating["choice"] not in ("left", "right"):
            continue
        left, right = store.grid_run(rating["left_run_id"]), store.grid_run(rating["right_run_id"])
        chosen, rejected = (left, right) if rating["choice"] == "left" else (right, left)
        same_prompt = chosen["prompt"] == rejected["prompt"]
        rows.append(
            {
                "prompt": chosen["prompt"] if same_prompt else json.dumps(chosen["vars"], ensure_ascii=False),
                "chosen": chosen["output"],
                "rejected": rejected["output"],
                "chosen_prompt": chosen["prompt"],
                "rejected_prompt": rejected["prompt"],
                "chosen_template": chosen["template"],
                "rejected_template": rejected["template"],
                "case_id": rating["case_id"],
                "experiment_id": experiment_id,
                "rater": rating["rater"],
                "rated_at": rating["created_at"],
            }
        )
    return rows


def to_text(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in row.items()}
            )
    return buffer.getvalue()
