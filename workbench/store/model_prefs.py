"""Per-model preferences: GGUF files registered by path (linked), the default model, load settings and
the last quick benchmark. Keyed by the file's resolved path."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.clock import now
from workbench.store.base import StoreBase, read_only_rows


@dataclass(frozen=True)
class ModelPrefs:
    path: str
    linked: bool = False
    is_default: bool = False
    load: dict[str, Any] = field(default_factory=dict)
    benchmark: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelPrefs:
        return cls(
            path=row["path"],
            linked=bool(row["linked"]),
            is_default=bool(row["is_default"]),
            load=json.loads(row["load"] or "{}"),
            benchmark=json.loads(row["benchmark"] or "{}"),
        )


def read_prefs(db_path: Path) -> dict[str, ModelPrefs]:
    """A read-only look at the preferences in `db_path` (none when the file or table does not exist yet):
    the model registry must work before any database was created, and never creates one."""
    rows = read_only_rows(db_path, "SELECT * FROM model_prefs") or []
    return {row["path"]: ModelPrefs.from_row(row) for row in rows}


class ModelPrefsMixin(StoreBase):
    def model_prefs(self) -> dict[str, ModelPrefs]:
        return {row["path"]: ModelPrefs.from_row(row) for row in self.db["model_prefs"].rows}

    def _upsert_prefs(self, path: str, what: str, clear_default: bool = False, **values: Any) -> None:
        try:
            with self.db.atomic():
                if clear_default:
                    self.db.execute("UPDATE model_prefs SET is_default = 0")
                self.db.execute(
                    "INSERT OR IGNORE INTO model_prefs (path, linked, is_default, updated_at) VALUES (?, 0, 0, ?)",
                    [path, now()],
                )
                self.db["model_prefs"].update(path, {**values, "updated_at": now()})
        except sqlite3.Error as err:
            raise self.write_error(what, err) from None

    def link_model(self, path: str) -> None:
        self._upsert_prefs(path, "register the model", linked=1)

    def set_default_model(self, path: str | None) -> None:
        """`path` becomes the default (None: back to the embedded default)."""
        if path:
            self._upsert_prefs(path, "set the default model", clear_default=True, is_default=1)
            return
        try:
            with self.db.atomic():
                self.db.execute("UPDATE model_prefs SET is_default = 0")
        except sqlite3.Error as err:
            raise self.write_error("change the default model", err) from None

    def set_load_settings(self, path: str, load: dict[str, Any]) -> None:
        self._upsert_prefs(path, "save the load settings", load=json.dumps(load))

    def set_benchmark(self, path: str, benchmark: dict[str, Any]) -> None:
        self._upsert_prefs(path, "save the benchmark", benchmark=json.dumps(benchmark))

    def forget_model(self, path: str) -> None:
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM model_prefs WHERE path = ?", [path])
        except sqlite3.Error as err:
            raise self.write_error("remove the model", err) from None
