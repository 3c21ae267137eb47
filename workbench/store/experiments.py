"""Experiments: the planned grid (written before anything runs), each finished cell committed on
its own, and human ratings. Resuming runs the cells still `planned`; a cell is never run twice."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sqlite_utils.db import NotFoundError

from workbench.clock import now
from workbench.errors import InputError
from workbench.store.base import StoreBase

RUN_JSON = ("vars", "choices", "scorer", "params", "choice_logprobs", "tokens")


class ExperimentsMixin(StoreBase):
    def create_experiment(self, name: str, dataset: str, spec: dict[str, Any], cells: list[dict[str, Any]]) -> int:
        """The experiment and all its planned cells, in one transaction."""
        stamp = now()
        try:
            with self.db.atomic():
                experiment_id = (
                    self.db["experiments"]
                    .insert(
                        {
                            "name": name,
                            "status": "planned",
                            "dataset": dataset,
                            "spec": json.dumps(spec, ensure_ascii=False),
                            "total_cells": len(cells),
                            "created_at": stamp,
                            "updated_at": stamp,
                        }
                    )
                    .last_pk
                )
                self.db["grid_runs"].insert_all(
                    ({**_encode(cell), "experiment_id": experiment_id, "status": "planned"} for cell in cells),
                    batch_size=500,
                )
        except sqlite3.Error as err:
            raise self.write_error("plan the experiment", err) from None
        return int(experiment_id)

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        try:
            row = self.db["experiments"].get(experiment_id)
        except NotFoundError:
            raise InputError(f"no experiment with id {experiment_id}") from None
        row["spec"] = json.loads(row["spec"])
        counts = dict(
            self.db.execute(
                "SELECT status, COUNT(*) FROM grid_runs WHERE experiment_id = ? GROUP BY status", [experiment_id]
            ).fetchall()
        )
        row["done_cells"] = counts.get("done", 0)
        row["failed_cells"] = counts.get("failed", 0)  # a server failed them; resume runs them again
        return row

    def list_experiments(self) -> list[dict[str, Any]]:
        ids = [r["id"] for r in self.db["experiments"].rows_where(select="id", order_by="id desc")]
        found = []
        for experiment_id in ids:
            row = self.experiment(experiment_id)
            found.append(
                {k: row[k] for k in ("id", "name", "status", "dataset", "total_cells", "done_cells", "created_at")}
            )
        return found

    def set_experiment(self, experiment_id: int, **fields: Any) -> None:
        self.experiment(experiment_id)
        try:
            self.db["experiments"].update(experiment_id, {**fields, "updated_at": now()})
        except sqlite3.Error as err:
            raise self.write_error(f"update experiment {experiment_id}", err) from None

    def delete_experiment(self, experiment_id: int) -> None:
        self.experiment(experiment_id)
        try:
            with self.db.atomic():
                self.db["ratings"].delete_where("experiment_id = ?", [experiment_id])
                self.db["grid_runs"].delete_where("experiment_id = ?", [experiment_id])
                self.db["experiments"].delete(experiment_id)
        except sqlite3.Error as err:
            raise self.write_error(f"delete experiment {experiment_id}", err) from None

    def pending_cells(self, experiment_id: int) -> list[dict[str, Any]]:
        rows = self.db["grid_runs"].rows_where(
            "experiment_id = ? AND status IN ('planned', 'failed')", [experiment_id], order_by="id"
        )
        return [_decode(r) for r in rows]

    def finish_cell(self, cell_id: int, result: dict[str, Any]) -> None:
        """One finished cell, committed on its own (a crash later loses nothing of it)."""
        try:
            with self.db.atomic():
                updated = self.db.execute(
                    "UPDATE grid_runs SET status = 'done' WHERE id = ? AND status IN ('planned', 'failed')", [cell_id]
                ).rowcount
                if updated != 1:
                    raise InputError(f"cell {cell_id} was already finished")  # never run twice
                # a retried cell that now succeeds keeps no trace of the server's earlier failure
                self.db["grid_runs"].update(cell_id, {"error": None, **_encode(result), "finished_at": now()})
        except sqlite3.Error as err:
            raise self.write_error(f"save cell {cell_id}", err) from None

    def fail_cell(self, cell_id: int, error: str) -> None:
        """A cell the server failed (unreachable, timed out, 5xx): its error is kept and resume runs it again."""
        try:
            with self.db.atomic():
                updated = self.db.execute(
                    "UPDATE grid_runs SET status = 'failed', error = ? "
                    "WHERE id = ? AND status IN ('planned', 'failed')",
                    [error, cell_id],
                ).rowcount
                if updated != 1:
                    raise InputError(f"cell {cell_id} was already finished")
        except sqlite3.Error as err:
            raise self.write_error(f"save cell {cell_id}", err) from None

    def experiment_runs(
        self, experiment_id: int, done_only: bool = True, with_tokens: bool = True
    ) -> list[dict[str, Any]]:
        """Finished runs in plan order; without `with_tokens` the per-token records (the bulk) are left
        out (`tokens` is None), for summaries and tables that never show them."""
        where = "experiment_id = ?" + (" AND status = 'done'" if done_only else "")
        columns = "*" if with_tokens else ", ".join(c for c in self.db["grid_runs"].columns_dict if c != "tokens")
        rows = self.db["grid_runs"].rows_where(where, [experiment_id], order_by="id", select=columns)
        return [_decode({**row, "tokens": row.get("tokens")}) for row in rows]

    def grid_run(self, run_id: int) -> dict[str, Any]:
        try:
            return _decode(self.db["grid_runs"].get(run_id))
        except NotFoundError:
            raise InputError(f"no comparison run with id {run_id}") from None

    def add_rating(self, experiment_id: int, case_id: str, left: int, right: int, choice: str, rater: str) -> int:
        if choice not in ("left", "right", "tie", "skip"):
            raise InputError(f"a rating is left, right, tie or skip (got {choice!r})")
        try:
            return int(
                self.db["ratings"]
                .insert(
                    {
                        "experiment_id": experiment_id,
                        "case_id": case_id,
                        "left_run_id": left,
                        "right_run_id": right,
                        "choice": choice,
                        "rater": rater,
                        "created_at": now(),
                    }
                )
                .last_pk
            )
        except sqlite3.Error as err:
            raise self.write_error("save the rating", err) from None

    def ratings(self, experiment_id: int) -> list[dict[str, Any]]:
        return list(self.db["ratings"].rows_where("experiment_id = ?", [experiment_id], order_by="id"))

    def template_version_id(self, name: str, version: int) -> int:
        row = self.db.execute(
            "SELECT v.id FROM template_versions v JOIN templates t ON t.id = v.template_id "
            "WHERE t.name = ? AND v.version = ?",
            [name, version],
        ).fetchone()
        if row is None:
            raise InputError(f"template {name} has no version {version}")
        return int(row[0])


def _encode(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.dumps(v, ensure_ascii=False) if k in RUN_JSON and v is not None else v) for k, v in record.items()}


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in RUN_JSON and v is not None else v) for k, v in row.items()}
