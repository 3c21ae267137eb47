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


def _migration_3(db: sqlite_utils.Database) -> None:
    """Comparison experiments: planned cells, their runs, human ratings; templates can be retired."""
    db["templates"].add_column("deleted_at", str)  # a deleted template keeps its versions for old runs
    db["experiments"].create(
        {
            "id": int,
            "name": str,
            "status": str,  # planned, running, stopped, done
            "dataset": str,
            "spec": str,  # JSON: templates (name + version), configs, models, samples, scorer, base seed
            "total_cells": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
    )
    db["grid_runs"].create(
        {
            "id": int,
            "experiment_id": int,
            "template_version_id": int,
            "template": str,
            "template_version": int,
            "case_id": str,
            "config_index": int,
            "model_index": int,
            "sample_index": int,
            "status": str,  # planned, done
            "prompt": str,
            "vars": str,  # JSON object
            "expected": str,
            "choices": str,  # JSON list or NULL
            "scorer": str,  # JSON answer rule used
            "model": str,
            "model_sha256": str,  # first 16 hex digits
            "params": str,  # JSON: every sampling setting
            "seed": int,
            "output": str,
            "answer": str,
            "score": float,
            "choice_logprobs": str,  # JSON {label: logprob} for label likelihood
            "tokens": str,  # JSON list of TokenStep records
            "finish_reason": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "latency_ms": float,
            "error": str,
            "finished_at": str,
        },
        pk="id",
        foreign_keys=[("experiment_id", "experiments", "id"), ("template_version_id", "template_versions", "id")],
    )
    db["grid_runs"].create_index(
        ["experiment_id", "template_version_id", "case_id", "config_index", "model_index", "sample_index"], unique=True
    )
    db["grid_runs"].create_index(["experiment_id", "status"])
    db["ratings"].create(
        {
            "id": int,
            "experiment_id": int,
            "case_id": str,
            "left_run_id": int,
            "right_run_id": int,
            "choice": str,  # left, right, tie, skip
            "rater": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("experiment_id", "experiments", "id")],
    )
    db["ratings"].create_index(["experiment_id"])


def _migration_4(db: sqlite_utils.Database) -> None:
    """The numeric configuration of every run and cell; label-likelihood decisions within the noise floor."""
    for table in ("runs", "grid_runs"):
        db[table].add_column("numerics", str)  # reference or fast; NULL: made before it was recorded
        db[table].add_column("batching", str)  # exact or fast
    db["grid_runs"].add_column("noise_spread", float)  # max |Δ logprob| of the choices between configurations
    db["grid_runs"].add_column("within_noise", int)  # 1: the margin between the two best choices <= that spread


def _migration_5(db: sqlite_utils.Database) -> None:
    """Grid wall time: each cell carries the wall time since the previous cell of its session finished,
    so their sum is the time the grid ran (across Stop / Resume) and throughput can be reported honestly."""
    db["grid_runs"].add_column("grid_ms", float)


def _migration_6(db: sqlite_utils.Database) -> None:
    """A template version carries its recommended generation settings (max tokens, stop strings,
    temperature) as JSON; NULL: none (versions saved before settings existed)."""
    db["template_versions"].add_column("settings", str)


def _migration_7(db: sqlite_utils.Database) -> None:
    """Branch trees of the Explorer: a prompt (the root) and every token chosen by hand, rolled, taken
    greedily or found by beam search or N runs, as nodes; a different choice at a node is a sibling."""
    db["trees"].create(
        {
            "id": int,
            "name": str,
            "model": str,
            "model_path": str,
            "prompt": str,
            "add_bos": int,
            "numerics": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"prompt"},
    )
    db["tree_nodes"].create(
        {
            "id": int,
            "tree_id": int,
            "parent_id": int,  # NULL: the root (the prompt)
            "token_id": int,
            "bytes_hex": str,
            "logprob": float,  # raw model log-probability given the path before it
            "prob_sampled": float,  # probability under the settings it was chosen with (rolls)
            "how": str,  # prompt, pick, roll, greedy, auto, beam, runs
            "seed": int,  # rolls: the seed of the draw
            "params": str,  # JSON: the sampling settings of a roll / auto step
            "count": int,  # N runs: how many runs passed through this node
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("tree_id", "trees", "id"), ("parent_id", "tree_nodes", "id")],
    )
    db["tree_nodes"].create_index(["tree_id", "parent_id", "token_id"], unique=True)


def _migration_8(db: sqlite_utils.Database) -> None:
    """Chat conversations and their messages; per-model preferences (linked files, the default, load
    settings, the last quick benchmark)."""
    db["conversations"].create(
        {
            "id": int,
            "name": str,
            "model": str,
            "model_path": str,
            "system_prompt": str,
            "chat_format": str,  # "model" (the GGUF's template) or a built-in format's name
            "settings": str,  # JSON: sampling settings and max tokens of the assistant's turns
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
    )
    db["chat_messages"].create(
        {
            "id": int,
            "conversation_id": int,
            "position": int,  # 0, 1, 2 ... after the system prompt
            "role": str,  # user or assistant
            "content": str,
            "tokens": str,  # JSON list of token records (assistant turns); NULL for user turns
            "seed": int,
            "finish_reason": str,
            "created_at": str,
        },
        pk="id",
        not_null={"content"},
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db["chat_messages"].create_index(["conversation_id", "position"], unique=True)
    db["model_prefs"].create(
        {
            "path": str,  # the GGUF's resolved path
            "linked": int,  # 1: registered by path (not in a model folder)
            "is_default": int,
            "load": str,  # JSON: n_ctx, threads, gpu_layers, numerics
            "benchmark": str,  # JSON: the last quick benchmark
            "updated_at": str,
        },
        pk="path",
    )


def _migration_9(db: sqlite_utils.Database) -> None:
    """Every run kept and findable: where it came from, the model's hash prefix and context, a star and tags;
    rankings of a run's samples; a chat answer points at its run (its tokens live there)."""
    for column, kind in (("source", str), ("model_sha256", str), ("n_ctx", int), ("starred", int), ("tags", str)):
        db["runs"].add_column(column, kind)
    db["rankings"].create(
        {"id": int, "run_id": int, "ranks": str, "rater": str, "created_at": str},
        pk="id",
        not_null={"ranks"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["rankings"].create_index(["run_id", "rater"], unique=True)
    db["chat_messages"].add_column("run_id", int)


def _migration_10(db: sqlite_utils.Database) -> None:
    """Saved connections to OpenAI-compatible servers (never a key: only where it comes from); a grid cell
    whose server failed is 'failed' (resume runs it again) and the run records the endpoint it used."""
    db["connections"].create(
        {
            "name": str,
            "base_url": str,
            "model": str,
            "api_key_env": str,  # the environment variable holding the key; "" for none
            "keyring": int,  # 1: the key is in the system keyring under this connection's name
            "timeout_s": float,
            "max_retries": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="name",
        not_null={"base_url"},
    )
    db["grid_runs"].add_column("endpoint", str)  # JSON: engine, base URL, server model, key source


def _migration_11(db: sqlite_utils.Database) -> None:
    """Named scorings of an experiment's outputs (re-scoring never regenerates), each cell's score under
    each, and the user's own labels of cells (pass/fail, an optional 1-5 grade and a note)."""
    db["scorings"].create(
        {
            "id": int,
            "experiment_id": int,
            "name": str,
            "assertions": str,  # JSON: the AssertionSet
            "judge": str,  # the default judge model it used ("" none)
            "created_at": str,
            "status": str,  # running, done
        },
        pk="id",
        not_null={"name", "assertions"},
        foreign_keys=[("experiment_id", "experiments", "id")],
    )
    db["scorings"].create_index(["experiment_id", "name"], unique=True)
    db["cell_scores"].create(
        {"scoring_id": int, "run_id": int, "score": float, "passed": int, "error": str, "results": str},
        pk=("scoring_id", "run_id"),
        foreign_keys=[("scoring_id", "scorings", "id"), ("run_id", "grid_runs", "id")],
    )
    db["labels"].create(
        {
            "run_id": int,
            "experiment_id": int,
            "passed": int,
            "grade": int,  # 1-5 or NULL
            "note": str,
            "rater": str,
            "created_at": str,
        },
        pk="run_id",
        foreign_keys=[("run_id", "grid_runs", "id"), ("experiment_id", "experiments", "id")],
    )
    db["labels"].create_index(["experiment_id"])


def _migration_12(db: sqlite_utils.Database) -> None:
    """A template version's `assert` list and a case's own assertions (JSON; NULL: none)."""
    db["template_versions"].add_column("assertions", str)
    db["cases"].add_column("assertions", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
    _migration_8,
    _migration_9,
    _migration_10,
    _migration_11,
    _migration_12,
]
FTS_COLUMNS = {"templates": ["name", "description", "body", "tags"], "runs": ["prompt"], "samples": ["text"]}
