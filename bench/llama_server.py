"""llama.cpp's own `llama-server`, built from the llama.cpp sources in the installed llama-cpp-python's sdist
(bench/llamacpp_tools.py: the same llama.cpp code as the workbench's engine), started on 127.0.0.1 for the
tests and benchmarks.

README_FLAGS bring its numbers closest to the workbench's local reference numbers: F32 K/V without flash
attention (the reference numerics), no weight repacking, one KV stream per slot and no prompt cache. They are
close, not identical (bench/bench_server_flags.py, 2026-12-08): for the same 48 prompt tokens its first-token
log-probabilities differ from the in-process engine's by up to ~0.1 nats with every flag set tried, with one
slot, and with llama-cpp-python's own libraries on the library path, so a near tie can go the other way.
SERVER_GAP is the largest gap the tests accept (0.17 nats measured over 20 cells x 5 alternatives).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp_tools import CACHE
from serve_llama_cpp_python import free_port

REFERENCE = ["-ctk", "f32", "-ctv", "f32", "-fa", "off", "--no-repack"]
README_FLAGS = [*REFERENCE, "-no-kvu", "--no-cache-prompt"]
SERVER_GAP = 0.25


def binary() -> Path | None:
    """The built llama-server, or None when it has not been built (python bench/llamacpp_tools.py llama-server)."""
    path = CACHE / "llama.cpp-build" / "bin" / "llama-server"
    return path if path.exists() else None


def start(model: str, alias: str, folder: Path, flags: list[str], slots: int = 4, n_ctx: int = 8192):
    """(process, base URL) of a llama-server serving `model` as `alias` with `flags`; waits until it answers."""
    server = binary()
    if server is None:
        raise RuntimeError("llama-server is not built: python bench/llamacpp_tools.py llama-server")
    port = free_port()
    argv = [str(server), "-m", model, "--alias", alias, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["-np", str(slots), "-c", str(n_ctx * slots), "-t", "2", *flags]
    log = open(folder / f"llama-server-{port}.log", "wb")  # noqa: SIM115 (the process writes it while it runs)
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}: see {log.name}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return process, url + "/v1"
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("llama-server did not answer within 120 s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
