"""Shared fixtures: the real default model (loaded once), temporary databases, CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the UI tests open real windows, never on a display


@pytest.fixture(scope="session")
def backend():
    from workbench import models
    from workbench.engine.llama import LlamaBackend, LoadOptions

    engine = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=2048))
    yield engine
    engine.close()


@pytest.fixture(autouse=True)
def isolated_db(tmp_path, monkeypatch) -> Path:
    """Every test writes to its own SQLite file, never the user's."""
    path = tmp_path / "workbench.sqlite"
    monkeypatch.setenv("WORKBENCH_DB", str(path))
    monkeypatch.setenv("WORKBENCH_MODELS_DIR", str(tmp_path / "user-models"))
    monkeypatch.setenv("WORKBENCH_TIKTOKEN_DIR", str(tmp_path / "tiktoken"))
    monkeypatch.setenv("WORKBENCH_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-cache"))
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def cli_zygote():
    """A pre-imported Python forking one process per CLI command (tests/cli_zygote.py); None without fork."""
    if not hasattr(os, "fork") or os.environ.get("WORKBENCH_TEST_CLI") == "subprocess":
        yield None
        return
    from cli_zygote import Zygote

    zygote = Zygote(ROOT)
    yield zygote
    zygote.close()


@pytest.fixture
def cli(isolated_db, cli_zygote):
    """`workbench ARGS` in a process of its own: exit status, stdout and stderr (WORKBENCH_TEST_CLI=subprocess
    starts `python -m workbench` for each instead of forking a pre-imported one)."""

    def run(*args: str, stdin: bytes | None = None, timeout: float = 120) -> CliResult:
        env = {**os.environ, "WORKBENCH_DB": str(isolated_db)}
        if cli_zygote is not None:
            code, out, err = cli_zygote.run(list(args), env, ROOT, stdin, timeout)
            return CliResult(code, out.decode("utf-8"), err.decode("utf-8"))
        proc = subprocess.run(
            [sys.executable, "-m", "workbench", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
        )
        return CliResult(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))

    return run


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""  # another process holding a database's write lock until a line arrives on its stdin


BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))  # the server launcher is shared with bench/bench_remote.py


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real OpenAI-compatible server on 127.0.0.1: llama-cpp-python's, serving `gemma` (the default model)
    and `smol` (the instruct model) in the workbench's reference numerics with repacking off (see
    bench/serve_llama_cpp_python.py); started once on a free port, stopped after the session."""
    from serve_llama_cpp_python import start_server, stop_server

    from workbench import models

    paths = {"gemma": str(models.default_model_path()), "smol": str(models.embedded_path(models.INSTRUCT_MODEL_NAME))}
    process, url = start_server(paths, tmp_path_factory.mktemp("llama-server"))
    yield url
    stop_server(process)
