"""What an experiment found: accuracy with Wilson intervals, majority vote, paired McNemar tests,
human win rates, throughput; and the results table (cases x templates) with its verdict marks and
filters, shown alike by the Compare tab and `workbench experiments show --cells`."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from workbench.engine.numerics import NOISE_MARK, noise_note
from workbench.experiments.stats import paired_test, wilson, win_rate
from workbench.library.datasets import Case
from workbench.library.templates import AnswerRule
from workbench.scoring.answers import agreement, compare, is_correct, majority


def group_label(run: dict[str, Any], spec: dict[str, Any]) -> str:
    """The template, plus the config and model when the grid has several."""
    label = run["template"]
    if len(spec["configs"]) > 1:
        params = spec["configs"][run["config_index"]]["params"]
        label += f" · config {run['config_index'] + 1} (T{params['temperature']:g})"
    if len(spec["models"]) > 1:
        label += f" · {spec['models'][run['model_index']]['name']}"
    return label


def groups_of(runs: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
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
            correct[case_id] = bool(is_correct(scored))
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
        correct=is_correct(scored),
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
    case = Case.of_cell(first)
    return compare(answer, case, AnswerRule.from_dict(first["scorer"]) or AnswerRule())


def summarize(store, experiment_id: int) -> dict[str, Any]:
    experiment = store.experiment(experiment_id)
    spec = experiment["spec"]
    runs = store.experiment_runs(experiment_id, with_tokens=False)
    groups = groups_of(runs, spec)
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
        "server_failed": experiment["failed_cells"],  # cells a server failed; resume runs them again
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
        if rating["choice"] == "skip" or rating["rater"].startswith("judge:"):  # human preferences only
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


# -- the results table ---------------------------------------------------------------------------
MARKS = {True: "✓", False: "✗", None: "–"}
NO_ANSWER = "(no answer)"


@dataclass(frozen=True)
class ResultsGrid:
    """The results table: a row per case (those the filters keep), a column per template (plus config
    and model when the grid has several); each cell holds that case's samples."""

    columns: tuple[str, ...]
    cases: tuple[str, ...]
    cells: dict[tuple[str, str], list[dict[str, Any]]]

    def samples(self, row: int, column: int) -> list[dict[str, Any]]:
        return self.cells.get((self.cases[row], self.columns[column]), [])


def results_grid(
    runs: list[dict[str, Any]],
    spec: dict[str, Any],
    columns: list[str],
    only_failures: bool = False,
    only_disagreements: bool = False,
) -> ResultsGrid:
    """Cases in the order the dataset has them; `columns` as the summary lists them."""
    cases: dict[str, None] = {}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        cases.setdefault(run["case_id"])
        grouped[(run["case_id"], group_label(run, spec))].append(run)
    shown = tuple(
        case
        for case in cases
        if case_row_shown([grouped.get((case, column), []) for column in columns], only_failures, only_disagreements)
    )
    return ResultsGrid(tuple(columns), shown, dict(grouped))


def cell_text(samples: list[dict[str, Any]]) -> str:
    """What a cell shows: the verdict mark, the majority answer, votes, errors, and ≈ within the noise floor."""
    if not samples:
        return "…"
    verdict = cell_verdict(samples)
    text = f"{MARKS[verdict.correct]} {verdict.answer if verdict.answer is not None else NO_ANSWER}"
    if verdict.samples > 1:
        text += f"  {verdict.votes}/{verdict.samples}"
    if verdict.errors:
        text += f"  ({verdict.errors} error{'s' if verdict.errors > 1 else ''})"
    if any(s.get("within_noise") for s in samples):
        text += f"  {NOISE_MARK}"
    return text


def cell_tooltip(samples: list[dict[str, Any]]) -> str:
    """Each sample's output (or error), with its noise-floor note."""
    tips = []
    for sample in samples:
        note = noise_note(sample.get("noise_spread"), sample.get("within_noise"))
        tips.append((sample["error"] or sample["output"] or "")[:400] + (f"\n{note}" if note else ""))
    return "\n---\n".join(tips)


def pairwise_line(pair: dict[str, Any]) -> str:
    """One paired test, said plainly (the Compare tab and `experiments show`)."""
    verdict = "a real difference" if pair["significant"] else "could be noise"
    return (
        f"{pair['a']} vs {pair['b']}: p = {pair['p_value']:.3g}, {verdict} "
        f"(McNemar over {pair['n']} cases; {pair['a_only_correct']} vs {pair['b_only_correct']} discordant)"
    )


def choice_distribution(logprobs: dict[str, float]) -> dict[str, float]:
    """Label likelihood as probabilities over the choices only (a softmax of their log-probabilities)."""
    top = max(logprobs.values())
    weights = {label: math.exp(lp - top) for label, lp in logprobs.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def choice_line(logprobs: dict[str, float]) -> str:
    shares = choice_distribution(logprobs)
    parts = [f"{label}: {shares[label]:.1%} (log p {lp:.2f})" for label, lp in logprobs.items()]
    return "choices by likelihood: " + " · ".join(parts)
