"""Re-scoring a finished experiment without generating anything again: a named scoring (an assertion set) is
applied to every done cell's kept output and kept beside the others; its summary gives each template's pass
rate (Wilson interval) and mean score (bootstrap interval), and each pair of templates McNemar on pass/fail
plus a paired bootstrap and Wilcoxon on the graded score. Your own labels calibrate any scoring (kappa)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import InputError
from workbench.experiments.report import groups_of
from workbench.experiments.stats import paired_scores, paired_test, wilson
from workbench.library.datasets import Case
from workbench.models.engines import OpenByName, open_embedder, open_engine
from workbench.scoring import AssertionSet, CellContext, ScoringJob, score_cells
from workbench.scoring.agreement import agreement
from workbench.scoring.cells import DEFAULT_JUDGE


@dataclass(frozen=True)
class Rescored:
    experiment_id: int
    scoring_id: int
    name: str
    cells: int
    errors: int


def context_of(run: dict[str, Any]) -> CellContext:
    case = Case.of_cell(run)
    logprobs = tuple(t["logprob"] for t in (run.get("tokens") or []) if t.get("logprob") is not None)
    return CellContext(
        output=run["output"] or "",
        case=case,
        prompt=run["prompt"] or "",
        latency_ms=run["latency_ms"],
        completion_tokens=run["completion_tokens"],
        finish_reason=run["finish_reason"],
        token_logprobs=logprobs,
    )


def judge_engines(judge: str | None) -> OpenByName:
    """Judge models by name (`provider` "" -> `judge` or the embedded instruct model), kept open for the whole
    scoring; `close()` frees them."""
    from workbench import models

    return OpenByName(
        open_engine, lambda provider: judge or models.INSTRUCT_MODEL_NAME if provider == DEFAULT_JUDGE else provider
    )


def embedding_models() -> OpenByName:
    """Embedding models by name ("" -> the default model), kept open for the whole scoring."""
    return OpenByName(open_embedder, lambda provider: provider or None)


def judge_renderer(store):
    """A judge template rendered for the judge model (its chat format when it has one)."""
    from workbench.chat.prompting import prompt_for_model
    from workbench.library.presets import ensure_starter_template

    def render(template_name: str, variables: dict[str, Any], backend) -> str:
        ensure_starter_template(store, template_name)
        return prompt_for_model(store.get_template(template_name), variables, backend.info, count=False).text

    return render


def rescore(
    store,
    experiment_id: int,
    assertions: AssertionSet,
    name: str | None = None,
    judge: str | None = None,
    width: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    allow_code: bool = True,
) -> Rescored:
    """Score every done cell of the experiment with `assertions` and keep it as the scoring `name`."""
    experiment = store.experiment(experiment_id)
    if experiment["status"] == "running":
        raise InputError(
            f"experiment {experiment_id} is still running: re-score it when it has finished "
            f"(or, if it was interrupted, after `workbench compare --resume {experiment_id}`)"
        )
    needs_tokens = any(a.type == "perplexity" for a in assertions.assertions)
    runs = store.experiment_runs(experiment_id, with_tokens=needs_tokens)
    if not runs:
        raise InputError(f"experiment {experiment_id} has no finished cells to score")
    name = name or assertions.label()
    sets = [assertions] * len(runs)
    return _score(store, experiment_id, runs, sets, name, assertions.to_dict(), judge, width, on_progress, allow_code)


OWN_CHECKS = "assert"  # the scoring made from each cell's own assertions (the template's, the row's, the grid's)


def own_checks(run: dict[str, Any]) -> AssertionSet | None:
    checks = (run.get("scorer") or {}).get("checks")
    return AssertionSet.from_list(checks["assert"], checks.get("threshold")) if checks else None


def score_own_checks(store, experiment_id: int, width: int | None = None) -> Rescored | None:
    """After a grid: the cells that carry assertions scored by them, kept as the scoring "assert"; None when
    no cell has any. Python assertions run only when the grid allowed code (`--allow-code`)."""
    spec = store.experiment(experiment_id)["spec"]
    runs = [r for r in store.experiment_runs(experiment_id, with_tokens=True) if own_checks(r) is not None]
    if not runs:
        return None
    sets = [own_checks(r) for r in runs]
    described = {"per_cell": sorted({s.label() for s in sets})}
    allowed = bool(spec.get("allow_code"))
    return _score(store, experiment_id, runs, sets, OWN_CHECKS, described, None, width, None, allowed)


def _score(store, experiment_id, runs, sets, name, described, judge, width, on_progress, allow_code) -> Rescored:
    scoring_id = store.start_scoring(experiment_id, name, described, judge or "")
    failed = [r for r in runs if r["error"]]  # no output to score: the generation failed
    kept = [(r, s) for r, s in zip(runs, sets, strict=True) if not r["error"]]
    runs, sets = [r for r, _ in kept], [s for _, s in kept]
    job = ScoringJob([context_of(r) for r in runs], sets, [allow_code] * len(runs))
    engines = judge_engines(judge) if any(s.has_judges for s in sets) else None
    embedders = embedding_models() if any(s.has_embeddings for s in sets) else None
    try:
        scores = score_cells(job, engines, judge_renderer(store), width, on_progress, embedders)
    finally:
        for opened in (engines, embedders):
            if opened is not None:
                opened.close()
    rows = [{"run_id": r["id"], **s.to_dict(), "error": s.error} for r, s in zip(runs, scores, strict=True)]
    rows += [
        {"run_id": r["id"], "score": None, "passed": None, "results": [], "error": f"the cell failed: {r['error']}"}
        for r in failed
    ]
    store.save_cell_scores(scoring_id, rows, described, judge or "")
    return Rescored(experiment_id, scoring_id, name, len(rows), sum(bool(r["error"]) for r in rows))


def scored_runs(store, experiment_id: int, name: str) -> list[dict[str, Any]]:
    """The experiment's done runs with `score`, `passed`, `scoring_error` and `results` of the scoring."""
    scoring_id = store.scoring_id(experiment_id, name)
    if scoring_id is None:
        known = ", ".join(s["name"] for s in store.scorings(experiment_id)) or "none yet"
        raise InputError(f"experiment {experiment_id} has no scoring named {name!r} (scorings: {known})")
    scores = store.cell_scores(scoring_id)
    runs = store.experiment_runs(experiment_id, with_tokens=False)
    merged = []
    for run in runs:
        kept = scores.get(run["id"], {})
        merged.append(
            {
                **run,
                "score": kept.get("score"),
                "passed": kept.get("passed"),
                "scoring_error": kept.get("error"),
                "results": kept.get("results", []),
            }
        )
    return merged


def _per_case(rows: list[dict[str, Any]]) -> tuple[dict[str, bool], dict[str, float]]:
    """Per case: pass when more than half of its samples passed (a tie fails); its mean score. Cells with a
    scorer error are left out. The pass rate, its interval and both paired tests count cases, not samples."""
    passes: dict[str, list[bool]] = defaultdict(list)
    scores: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["passed"] is not None:
            passes[row["case_id"]].append(row["passed"])
            scores[row["case_id"]].append(row["score"])
    return (
        {c: sum(v) * 2 > len(v) for c, v in passes.items()},
        {c: sum(v) / len(v) for c, v in scores.items()},
    )


def scoring_summary(store, experiment_id: int, name: str) -> dict[str, Any]:
    spec = store.experiment(experiment_id)["spec"]
    groups = groups_of(scored_runs(store, experiment_id, name), spec)
    summary, per_case = [], {}
    for label, rows in groups.items():
        passes, means = _per_case(rows)
        per_case[label] = (passes, means)
        n, passed = len(passes), sum(passes.values())  # per case, as the paired tests count them
        low, high = wilson(passed, n) if n else (None, None)
        summary.append(
            {
                "template": label,
                "pass_rate": passed / n if n else None,
                "ci_low": low,
                "ci_high": high,
                "mean_score": sum(means.values()) / n if n else None,
                "n": n,
                "cells": sum(r["passed"] is not None for r in rows),
                "scorer_errors": sum(bool(r["scoring_error"]) for r in rows),
            }
        )
    pairwise = []
    for (a, (pass_a, mean_a)), (b, (pass_b, mean_b)) in itertools.combinations(per_case.items(), 2):
        mcnemar, graded = paired_test(pass_a, pass_b), paired_scores(mean_a, mean_b)
        pairwise.append(
            {
                "a": a,
                "b": b,
                "n": mcnemar.n,
                "a_only_passed": mcnemar.a_only,
                "b_only_passed": mcnemar.b_only,
                "mcnemar_p": mcnemar.p_value,
                "mean_difference": graded.mean_difference,
                "difference_ci_low": graded.low,
                "difference_ci_high": graded.high,
                "wilcoxon_p": graded.p_value,
                "pass_significant": mcnemar.significant,
                "score_significant": graded.significant,
            }
        )
    return {"experiment_id": experiment_id, "scoring": name, "summary": summary, "pairwise": pairwise}


def calibration(store, experiment_id: int, name: str) -> dict[str, Any]:
    """The scoring's pass/fail against your labels on the cells both have."""
    labels = store.labels(experiment_id)
    runs = {r["id"]: r for r in scored_runs(store, experiment_id, name)}
    pairs = [
        (label["passed"], runs[run_id]["passed"])
        for run_id, label in sorted(labels.items())
        if run_id in runs and runs[run_id]["passed"] is not None
    ]
    return {"experiment_id": experiment_id, "scoring": name, "labels": len(labels), **agreement(pairs, name).to_dict()}


def scoring_summaries(store, experiment_id: int) -> list[dict[str, Any]]:
    """Every kept scoring's summary, oldest first (the Compare tab and `experiments show` list the same)."""
    return [scoring_summary(store, experiment_id, s["name"]) for s in store.scorings(experiment_id)]


def cell_scorings(store, experiment_id: int, run_id: int) -> list[tuple[str, dict[str, Any]]]:
    """One cell's score under each kept scoring: (name, {score, passed, error, results})."""
    found = []
    for scoring in store.scorings(experiment_id):
        kept = store.cell_scores(scoring["id"], run_id).get(run_id)
        if kept is not None:
            found.append((scoring["name"], kept))
    return found
