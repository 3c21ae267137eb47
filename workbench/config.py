"""User folders and defaults. Nothing here touches the network or loads a model."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

APP_NAME = "prompt-workbench"
REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_MODELS_DIR = REPO_ROOT / "models"


def data_dir() -> Path:
    return user_data_path(APP_NAME, appauthor=False)


def user_models_dir() -> Path:
    """Per-user folder scanned for *.gguf files (created on demand, never required)."""
    return Path(os.environ.get("WORKBENCH_MODELS_DIR") or data_dir() / "models")


def default_db_path() -> Path:
    """`WORKBENCH_DB` wins; otherwise one SQLite file in the user data folder."""
    env = os.environ.get("WORKBENCH_DB")
    return Path(env) if env else data_dir() / "workbench.sqlite"


def default_threads() -> int:
    """llama.cpp decodes fastest on physical cores; small machines use every core."""
    cores = os.cpu_count() or 2
    return cores if cores <= 4 else cores // 2


def log_dir() -> Path:
    """Where the rotating log lives: `WORKBENCH_LOG_DIR`, else the user data folder's `logs`."""
    return Path(os.environ.get("WORKBENCH_LOG_DIR") or data_dir() / "logs")
