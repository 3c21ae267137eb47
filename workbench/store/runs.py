"""Saved Playground and CLI generations: a run and its samples, each run in one transaction."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from workbench.clock import now
from workbench.engine.base import Generation, GenerationRequest
from workbench.errors import InputError, StoreError
from workbench.store.base import StoreBase


@dataclass(frozen=True)
class RunSummary:
    id: int
    created_at: str
    kind: str
    model: str
    prompt: str
    samples: int
    starred: bool = False
    tags: tuple[str, ...] = ()
    ranked: bool = False
    first_output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class RunQuery:
    """Filters of the run history; `search` uses the full-text index and, for text it cannot segment
    (Chinese), a substring match over prompts and outputs."""

    search: str = ""
    model: str = ""
    since: str = ""
    until: str = ""
    starred: bool = False
    tag: str = ""
    ranked: bool | None = None
    kind: str = ""

    def validate(self) -> RunQuery:
        from datetime import date

        for name, value in (("since", self.since), ("until", self.until)):
            if value:
                try:
                    date.fromisoformat(value[:10])
                except ValueError:
                    raise InputError(f"'{name}' takes a date like 2026-11-23 (got {value!r})") from None
        return self

    def sql(self) -> tuple[str, list[Any]]:
        parts, args = [], []
        if self.search.strip():
            text = self.search.strip()
            like = f"%{text}%"
            parts.append(
                "(r.id IN (SELECT rowid FROM runs_fts WHERE runs_fts MATCH ?) OR r.id IN (SELECT run_id FROM samples "
                "WHERE rowid IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?)) OR r.prompt LIKE ? "
                "OR r.id IN (SELECT run_id FROM samples WHERE text LIKE ?))"
            )
            quoted = '"' + text.replace('"', '""') + '"'  # one phrase: no FTS syntax from the user's text
            args += [quoted, quoted, like, like]
        for condition, value in (
            ("r.model = ?", self.model),
            ("r.created_at >= ?", self.since),
            ("r.created_at < ?", _day_after(self.until) if self.until else ""),
            ("r.kind = ?", self.kind),
        ):
            if value:
                parts.append(condition)
                args.append(value)
        if self.starred:
            parts.append("r.starred = 1")
        if self.tag:
            parts.append("EXISTS(SELECT 1 FROM json_each(COALESCE(r.tags, '[]')) WHERE value = ?)")
            args.append(self.tag)
        if self.ranked is not None:
            parts.append(("" if self.ranked else "NOT ") + "EXISTS(SELECT 1 FROM rankings k WHERE k.run_id = r.id)")
        return ("WHERE " + " AND ".join(parts) if parts else ""), args


def _day_after(day: str) -> str:
    """`until` is inclusive: a date means up to the end of that day."""
    if len(day) == 10:
        from datetime import date, timedelta

        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return day


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
        source: str = "",
        model_sha256: str | None = None,
        n_ctx: int | None = None,
    ) -> int:
        """Write a run and all its samples in one transaction; returns the run id. `kind` says where it came
        from (cli, playground, explorer, chat); `source` what it belongs to ("conversation 3", "tree 2")."""
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
                            "source": source,
                            "model_sha256": model_sha256,
                            "n_ctx": n_ctx,
                            "starred": 0,
                            "tags": "[]",
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

    def list_runs(self, limit: int = 20, where: RunQuery | None = None) -> list[RunSummary]:
        """Newest first, narrowed by `where` (see `RunQuery`)."""
        clause, args = (where or RunQuery()).sql()
        rows = self.db.execute(
            "SELECT r.id, r.created_at, r.kind, r.model, r.prompt, COUNT(s.id), COALESCE(r.starred, 0), "
            "COALESCE(r.tags, '[]'), EXISTS(SELECT 1 FROM rankings k WHERE k.run_id = r.id), "
            "(SELECT text FROM samples WHERE run_id = r.id ORDER BY idx LIMIT 1) "
            f"FROM runs r LEFT JOIN samples s ON s.run_id = r.id {clause} GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [
            RunSummary(*row[:6], bool(row[6]), tuple(json.loads(row[7])), bool(row[8]), row[9] or "") for row in rows
        ]

    def run_models(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT model FROM runs ORDER BY model")]

    def set_run_star(self, run_id: int, starred: bool) -> None:
        self._update_run(run_id, {"starred": int(starred)}, "star the run")

    def set_run_tags(self, run_id: int, tags: list[str]) -> None:
        clean = sorted({t.strip() for t in tags if t.strip()})
        self._update_run(run_id, {"tags": json.dumps(clean, ensure_ascii=False)}, "tag the run")

    def _update_run(self, run_id: int, values: dict[str, Any], what: str) -> None:
        self.get_run(run_id)
        try:
            with self.db.atomic():
                self.db["runs"].update(run_id, values)
        except sqlite3.Error as err:
            raise StoreError(f"could not {what}: {err}") from None

    def delete_run(self, run_id: int) -> None:
        """The run, its samples and rankings; a chat message that pointed at it keeps its text."""
        self.get_run(run_id)
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM rankings WHERE run_id = ?", [run_id])
                self.db.execute("UPDATE chat_messages SET run_id = NULL WHERE run_id = ?", [run_id])
                self.db.execute("DELETE FROM samples WHERE run_id = ?", [run_id])
                self.db.execute("DELETE FROM runs WHERE id = ?", [run_id])
        except sqlite3.Error as err:
            raise StoreError(f"could not delete run {run_id}: {err}") from None

    def save_ranking(self, run_id: int, ranks: tuple[int, ...], rater: str) -> None:
        """One ranking per run and rater: ranking again replaces it."""
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM rankings WHERE run_id = ? AND rater = ?", [run_id, rater])
                self.db["rankings"].insert(
                    {"run_id": run_id, "ranks": json.dumps(list(ranks)), "rater": rater, "created_at": now()}
                )
        except sqlite3.Error as err:
            raise StoreError(f"could not save the ranking: {err}") from None

    def rankings(self, run_id: int | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE run_id = ?", [run_id]) if run_id is not None else ("", [])
        rows = self.db.execute(f"SELECT run_id, ranks, rater, created_at FROM rankings {where} ORDER BY id", args)
        return [{"run_id": r[0], "ranks": json.loads(r[1]), "rater": r[2], "created_at": r[3]} for r in rows]

    def get_run(self, run_id: int) -> dict[str, Any]:
        try:
            run = self.db["runs"].get(run_id)
        except sqlite_utils.db.NotFoundError:
            raise StoreError(f"no run with id {run_id} in {self.path}") from None
        run["params"] = json.loads(run["params"])
        run["tags"] = json.loads(run.get("tags") or "[]")
        run["starred"] = bool(run.get("starred"))
        samples = list(self.db["samples"].rows_where("run_id = ?", [run_id], order_by="idx"))
        for sample in samples:
            sample["tokens"] = json.loads(sample["tokens"])
        return {**run, "samples": samples}
