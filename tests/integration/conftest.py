"""A real OpenAI-compatible server on 127.0.0.1 (llama-cpp-python's, serving the two embedded models) for the
remote-engine tests; started once per session on a free port and stopped after."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # the server launcher is shared with bench/bench_remote.py


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """Base URL of llama-cpp-python's server serving `gemma` (the default model) and `smol` (the instruct
    model), in the workbench's reference numerics with repacking off (see bench/serve_llama_cpp_python.py)."""
    from serve_llama_cpp_python import start_server, stop_server

    from workbench import models

    paths = {"gemma": str(models.default_model_path()), "smol": str(models.embedded_path(models.INSTRUCT_MODEL_NAME))}
    process, url = start_server(paths, tmp_path_factory.mktemp("llama-server"))
    yield url
    stop_server(process)
