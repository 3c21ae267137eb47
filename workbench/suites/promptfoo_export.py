"""An experiment as promptfoo's eval output (results version 3), the JSON `promptfoo eval -o out.json` writes and
`promptfoo import out.json` reads: one prompt per template and model, one result per cell with the output,
pass, score and each assertion's result (from the cell's own assertions, else its answer rule)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from workbench.experiments.rescoring import OWN_CHECKS
from workbench.fsutil import atomic_write_text

FAILURE_NONE, FAILURE_ASSERT, FAILURE_ERROR = 0, 1, 2


def _iso(stamp: str) -> str:
    return stamp if stamp.endswith("Z") or "+" in stamp[10:] else stamp + "Z"


def _grading(run: dict[str, Any], kept: dict[str, Any] | None) -> tuple[bool, float, dict[str, Any]]:
    if kept is not None and kept["score"] is None:  # the assertions could not be checked: an error, not a fail
        return (
            False,
            0.0,
            {"pass": False, "score": 0.0, "reason": kept["error"] or "not scored", "componentResults": []},
        )
    if kept is not None:
        components = [
            {
                "pass": bool(r["passed"]),
                "score": r["score"],
                "reason": r["reason"] or r["error"],
                "assertion": {"type": r["type"], "metric": r["label"]},
            }
            for r in kept["results"]
        ]
        reason = (
            "All assertions passed"
            if kept["passed"]
            else "; ".join(f"{c['assertion']['metric']}: {c['reason']}" for c in components if not c["pass"])
        )
        return (
            bool(kept["passed"]),
            float(kept["score"]),
            {
                "pass": bool(kept["passed"]),
                "score": kept["score"],
                "reason": reason,
                "componentResults": components,
            },
        )
    score = run["score"]
    passed = score is not None and score >= 1.0
    rule = (run["scorer"] or {}).get("scorer", "exact")
    reason = f"answer {run['answer']!r}, expected {run['expected']!r} ({rule})"
    grading = {"pass": passed, "score": score or 0.0, "reason": reason, "componentResults": []}
    return passed, float(score or 0.0), grading


def _prompt_text(body: str) -> str:
    """A template's text as a promptfoo prompt: a single user turn is sent as plain text."""
    if body.startswith("### user\n") and "\n### " not in body[9:]:
        return body[9:]
    return body


def eval_document(store, experiment_id: int) -> dict[str, Any]:
    experiment = store.experiment(experiment_id)
    spec = experiment["spec"]
    runs = store.experiment_runs(experiment_id, with_tokens=False)
    scoring_id = store.scoring_id(experiment_id, OWN_CHECKS)
    kept = store.cell_scores(scoring_id) if scoring_id is not None else {}
    case_order = {case.id: i for i, case in enumerate(store.get_dataset(experiment["dataset"]).cases)}
    prompt_keys: list[tuple[str, int]] = []
    results, tallies = [], Counter()
    for run in runs:
        key = (run["template"], run["model_index"])
        if key not in prompt_keys:
            prompt_keys.append(key)
        passed, score, grading = _grading(run, kept.get(run["id"]))
        scored = kept.get(run["id"])
        unscored = scored is not None and scored["score"] is None
        failure = FAILURE_ERROR if run["error"] or unscored else (FAILURE_NONE if passed else FAILURE_ASSERT)
        tallies["successes" if failure == FAILURE_NONE else "errors" if failure == FAILURE_ERROR else "failures"] += 1
        model = spec["models"][run["model_index"]]["name"]
        results.append(
            {
                "promptIdx": prompt_keys.index(key),
                "testIdx": case_order.get(run["case_id"], 0),
                "testCase": {"vars": run["vars"], "description": run["case_id"]},
                "promptId": hashlib.sha256(run["prompt"].encode()).hexdigest(),
                "prompt": {"raw": run["prompt"], "label": run["template"]},
                "provider": {"id": model, "label": model},
                "response": {
                    "output": run["output"] or "",
                    "tokenUsage": {
                        "prompt": run["prompt_tokens"] or 0,
                        "completion": run["completion_tokens"] or 0,
                        "total": (run["prompt_tokens"] or 0) + (run["completion_tokens"] or 0),
                    },
                },
                "vars": run["vars"],
                "success": passed,
                "score": score,
                "latencyMs": round(run["latency_ms"] or 0),
                "cost": 0,
                "namedScores": {},
                "gradingResult": grading,
                "failureReason": failure,
                "error": run["error"] or (scored["error"] if unscored else None),
                "metadata": {"workbench_run_id": run["id"], "seed": run["seed"], "model_sha256": run["model_sha256"]},
            }
        )
    bodies = {t["name"]: _prompt_text(store.get_template(t["name"], t["version"]).body) for t in spec["templates"]}
    prompts = [
        {
            "raw": bodies.get(key[0], ""),
            "label": key[0],
            "provider": spec["models"][key[1]]["name"],
        }
        for key in prompt_keys
    ]
    created = _iso(experiment["created_at"])
    return {
        "evalId": f"eval-workbench-{experiment_id}-{created[:19].replace(':', '-')}",
        "results": {
            "version": 3,
            "timestamp": created,
            "prompts": prompts,
            "results": results,
            "stats": {**{k: tallies[k] for k in ("successes", "failures", "errors")}, "tokenUsage": {}},
        },
        "config": {
            "description": experiment["name"],
            "prompts": [p["raw"] for p in prompts],
            "providers": [m["name"] for m in spec["models"]],
        },
        "shareableUrl": None,
        "metadata": {"evaluationCreatedAt": created, "author": None, "exportedBy": "prompt-workbench"},
    }


def write_eval(store, experiment_id: int, path: Path) -> int:
    """Write the eval JSON atomically; the number of results written."""
    document = eval_document(store, experiment_id)
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=1))
    return len(document["results"]["results"])
