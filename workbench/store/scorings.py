"""Scorings of an experiment (each named, each kept), the cells' scores under them, and the user's labels."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.clock import now
from workbench.errors import InputError
from workbench.store.base import StoreBase

GRADES = range(1, 6)


class ScoringsMixin(StoreBase):
    def start_scoring(self, experiment_id: int, name: str, assertions: dict[str, Any], judge: str) -> int:
        """A new scoring, or the same name again: it is left as it was (scores, assertions, judge) until the
        new scores are saved, all at once, by `save_cell_scores`."""
        if not name.strip():
            raise InputError("a scoring needs a name")
        try:
            with self.db.atomic():
                existing = self.scoring_id(experiment_id, name)
                if existing is not None:
                    return existing
                record = {"assertions": json.dumps(assertions, ensure_ascii=False), "judge": judge, "status": "running"}
                row = {"experiment_id": experiment_id, "name": name, "created_at": now(), **record}
                return int(self.db["scorings"].insert(row).last_pk)
        except sqlite3.Error as err:
            raise self.write_error(f"start scoring {name!r}", err) from None

    def save_cell_scores(
        self, scoring_id: int, scores: list[dict[str, Any]], assertions: dict[str, Any], judge: str
    ) -> None:
        """Every cell's score of a scoring in one transaction, then the scoring is done: a scoring that was
        stopped half way keeps its previous scores (or none), never half of the new ones."""
        rows = [
            {
                "scoring_id": scoring_id,
                "run_id": s["run_id"],
                "score": s["score"],
                "passed": None if s["passed"] is None else int(s["passed"]),
                "error": s["error"] or None,
                "results": json.dumps(s["results"], ensure_ascii=False),
            }
            for s in scores
        ]
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM cell_scores WHERE scoring_id = ?", [scoring_id])
                self.db["cell_scores"].insert_all(rows)
                described = json.dumps(assertions, ensure_ascii=False)
                self.db["scorings"].update(
                    scoring_id, {"status": "done", "assertions": described, "judge": judge, "created_at": now()}
                )
        except sqlite3.Error as err:
            raise self.write_error("save the scores", err) from None

    def scoring_id(self, experiment_id: int, name: str) -> int | None:
        rows = list(self.db["scorings"].rows_where("experiment_id = ? AND name = ?", [experiment_id, name]))
        return int(rows[0]["id"]) if rows else None

    def scorings(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = self.db["scorings"].rows_where("experiment_id = ? AND status = 'done'", [experiment_id], order_by="id")
        return [{**row, "assertions": json.loads(row["assertions"])} for row in rows]

    def cell_scores(self, scoring_id: int, run_id: int | None = None) -> dict[int, dict[str, Any]]:
        """Every cell's score under the scoring (or only run `run_id`'s), by run id."""
        where, values = "scoring_id = ?", [scoring_id]
        if run_id is not None:
            where, values = where + " AND run_id = ?", [scoring_id, run_id]
        return {
            row["run_id"]: {
                **row,
                "passed": None if row["passed"] is None else bool(row["passed"]),
                "results": json.loads(row["results"] or "[]"),
            }
            for row in self.db["cell_scores"].rows_where(where, values)
        }

    def save_label(
        self, run_id: int, passed: bool | None, grade: int | None = None, note: str = "", rater: str = "me"
    ) -> None:
        """Your verdict on one cell; `passed` None removes the label."""
        if grade is not None and grade not in GRADES:
            raise InputError(f"a grade is 1 to 5 (got {grade})")
        run = self.grid_run(run_id)
        try:
            with self.db.atomic():
                if passed is None:
                    self.db.execute("DELETE FROM labels WHERE run_id = ?", [run_id])
                    return
                self.db["labels"].upsert(
                    {
                        "run_id": run_id,
                        "experiment_id": run["experiment_id"],
                        "passed": int(passed),
                        "grade": grade,
                        "note": note,
                        "rater": rater,
                        "created_at": now(),
                    },
                    pk="run_id",
                )
        except sqlite3.Error as err:
            raise self.write_error("save the label", err) from None

    def labels(self, experiment_id: int, run_id: int | None = None) -> dict[int, dict[str, Any]]:
        """Your labels of the experiment's cells (or only run `run_id`'s), by run id."""
        where, values = "experiment_id = ?", [experiment_id]
        if run_id is not None:
            where, values = where + " AND run_id = ?", [experiment_id, run_id]
        return {
            row["run_id"]: {**row, "passed": bool(row["passed"])} for row in self.db["labels"].rows_where(where, values)
        }
