"""Exports of an experiment: its runs, its human preferences (reward-model / DPO pairs) or its summary,
as JSONL or CSV, written atomically. The kind is always said, never guessed from a file name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.csvsafe import write_csv
from workbench.errors import InputError
from workbench.experiments.report import summarize
from workbench.fsutil import atomic_write_text

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


def run_rows(store, experiment_id: int) -> list[dict[str, Any]]:
    """Every done cell with its run id, each kept scoring's score, pass and assertion results, and your label."""
    rows = []
    scorings = {s["name"]: store.cell_scores(s["id"]) for s in store.scorings(experiment_id)}
    labels = store.labels(experiment_id)
    for run in store.experiment_runs(experiment_id):
        row = {"run_id": run["id"], **{key: run.get(key) for key in RUN_KEYS}}
        row["experiment_id"] = experiment_id
        row["scorings"] = {
            name: {k: kept[run["id"]][k] for k in ("score", "passed", "error", "results")}
            for name, kept in scorings.items()
            if run["id"] in kept
        }
        label = labels.get(run["id"])
        row["label"] = {k: label[k] for k in ("passed", "grade", "note")} if label else None
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
    if not rows:
        return ""
    cells = (
        {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v for k, v in r.items()} for r in rows
    )
    return write_csv(list(rows[0]), cells)


def summary_rows(store, experiment_id: int) -> list[dict[str, Any]]:
    """One row per template (and config / model), each naming its experiment."""
    return [{"experiment_id": experiment_id, **row} for row in summarize(store, experiment_id)["summary"]]


EXPORT_KINDS = {"runs": run_rows, "preferences": preference_rows, "summary": summary_rows}
EXPORT_FORMATS = ("jsonl", "csv")


def export_rows(store, experiment_id: int, kind: str) -> list[dict[str, Any]]:
    if kind not in EXPORT_KINDS:
        raise InputError(f"export kind is one of {', '.join(EXPORT_KINDS)} (got {kind!r})")
    store.experiment(experiment_id)  # a clear error for an unknown id
    return EXPORT_KINDS[kind](store, experiment_id)


def write_export(store, experiment_id: int, kind: str, fmt: str, path: Path) -> int:
    """Write one export to `path` atomically; returns the number of rows."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format is jsonl or csv (got {fmt!r})")
    rows = export_rows(store, experiment_id, kind)
    atomic_write_text(Path(path), to_text(rows, fmt))
    return len(rows)
