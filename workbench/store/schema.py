"""Numbered migrations, applied in order at open; `PRAGMA user_version` is the schema version.

A migration only adds: tables, columns, indexes. Never drop or rewrite user data.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _migration_1(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": int,
            "created_at": str,
            "kind": str,
            "model": str,
            "model_path": str,
            "prompt": str,
            "params": str,
            "prompt_tokens": int,
        },
        pk="id",
    )
    db["samples"].create(
        {
            "id": int,
            "run_id": int,
            "idx": int,
            "text": str,
            "finish_reason": str,
            "stop_sequence": str,
            "seed": int,
            "tokens": str,
            "prompt_ms": float,
            "gen_ms": float,
            "generated_tokens": int,
            "tokens_per_s": float,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["samples"].create_index(["run_id", "idx"], unique=True)
    db["runs"].create_index(["created_at"])


def _migration_2(db: sqlite_utils.Database) -> None:
    """Template library and datasets."""
    db["templates"].create(
        {
            "id": int,
            "name": str,
            "kind": str,
            "description": str,
            "tags": str,  # JSON list
            "body": str,  # the current version's body, kept here for full-text search
            "current_version": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "kind", "body"},
    )
    db["templates"].create_index(["name"], unique=True)
    db["template_versions"].create(
        {
            "id": int,
            "template_id": int,
            "version": int,
            "kind": str,
            "body": str,
            "variables": str,  # JSON list
            "examples": str,  # JSON list of objects
            "k": int,
            "answer": str,  # JSON object or NULL
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("template_id", "templates", "id")],
        not_null={"template_id", "version", "body"},
    )
    db["template_versions"].create_index(["template_id", "version"], unique=True)
    db["datasets"].create(
        {"id": int, "name": str, "description": str, "source": str, "created_at": str, "updated_at": str},
        pk="id",
        not_null={"name"},
    )
    db["datasets"].create_index(["name"], unique=True)
    db["cases"].create(
        {
            "id": int,
            "dataset_id": int,
            "case_key": str,  # the line's `id`, or its position when it has none
            "position": int,
            "vars": str,  # JSON object: the template variables
            "expected": str,
            "choices": str,  # JSON list or NULL
        },
        pk="id",
        foreign_keys=[("dataset_id", "datasets", "id")],
        not_null={"dataset_id", "case_key", "vars"},
    )
    db["cases"].create_index(["dataset_id", "case_key"], unique=True)
    db["meta"].create({"key": str, "value": str}, pk="key")  # e.g. when the starter library was imported


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1, _migration_2]
FTS_COLUMNS = {"templates": ["name", "description", "body", "tags"]}
