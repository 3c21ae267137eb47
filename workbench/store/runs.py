"""Saved Playground and CLI generations: a run and its samples, each run in one transaction."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from workbench.engine.base import Generation, GenerationRequest
from workbench.errors import StoreError
from workbench.store.base import StoreBase, now


@dataclass(frozen=True)
class RunSummary:
    id: int
    created_at: str
    kind: str
    model: str
    prompt: str
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class RunsMixin(StoreBase):
    def save_run(
        self,
        kind: str,
        model: str,
        model_path: str,
        request: GenerationRequest,
        prompt_tokens: int,
        samples: list[Generation],
        numerics: str | None = None,
        batching: str | None = None,
    ) -> int:
        """Write a run and all its samples in one transaction; returns the run id."""
        params = request.settings_record()
        try:
            with self.db.atomic():
                run_id = (
                    self.db["runs"]
                    .insert(
                        {
                            "created_at": now(),
                            "kind": kind,
                            "model": model,
                            "model_path": model_path,
                            "prompt": request.prompt,
                            "params": json.dumps(params),
                            "prompt_tokens": prompt_tokens,
                            "numerics": numerics,
                            "batching": batching,
                        }
                    )
                    .last_pk
                )
                self.db["samples"].insert_all(
                    {
                        "run_id": run_id,
                        "idx": index,
                        "text": gen.text,
                        "finish_reason": gen.finish_reason,
                        "stop_sequence": gen.stop_sequence,
                        "seed": gen.seed,
                        "tokens": json.dumps([t.to_dict() for t in gen.tokens], ensure_ascii=False),
                        "prompt_ms": gen.timings.prompt_ms,
                        "gen_ms": gen.timings.gen_ms,
                        "generated_tokens": gen.timings.generated_tokens,
                        "tokens_per_s": gen.timings.tokens_per_s,
                    }
                    for index, gen in enumerate(samples)
                )
        except sqlite3.Error as err:
            raise StoreError(f"could not save the run to {self.path}: {err}") from None
        return int(run_id)

    def list_runs(self, limit: int = 20) -> list[RunSummary]:
        rows = self.db.execute(
            "SELECT r.id, r.created_at, r.kind, r.model, r.prompt, COUNT(s.id) FROM runs r "
            "LEFT JOIN samples s ON s.run_id = r.id GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
            [limit],
        ).fetchall()
        return [RunSummary(*row) for row in rows]

    def get_run(self, run_id: int) -> dict[str, Any]:
        try:
            run = self.db["runs"].get(run_id)
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no run with id {run_id} in {self.path}") from None
        run["params"] = json.loads(run["params"])
        samples = list(self.db["samples"].rows_where("run_id = ?", [run_id], order_by="idx"))
        for sample in samples:
            sample["tokens"] = json.loads(sample["tokens"])
        return {**run, "samples": samples}
