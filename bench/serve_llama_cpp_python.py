"""llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), optionally with llama.cpp's
weight repacking off (`--no-repack`, as llama.cpp's own `llama-server --no-repack`).

Why: llama-cpp-python's server reuses the KV cache of the longest prefix shared with the previous request,
so a prompt is evaluated in a different batch each time; with repacked CPU weights the batch changes the
arithmetic (up to 0.12 in a token's log-probability on the default model, enough to flip a near-tie). With
repacking off llama.cpp's CPU arithmetic is batch-invariant: the server's numbers equal the workbench's
local reference configuration whatever came before. Used by the tests and bench/bench_remote.py.

    python bench/serve_llama_cpp_python.py --no-repack --model PATH --port 8080 [llama_cpp.server options]

`start_server()` starts it for the tests and benchmarks on 127.0.0.1, serving models by alias in the
workbench's reference numerics (F32 K/V, flash attention off), and waits until it answers.
"""

from __future__ import annotations

import json
import runpy
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    models: dict[str, str], folder: Path, port: int | None = None, api_key: str | None = None, repack: bool = False
) -> tuple[subprocess.Popen, str]:
    """(process, base URL) of a llama-cpp-python server serving `models` (alias -> GGUF path)."""
    port = port or free_port()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "interrupt_requests": False,  # its default: a new request interrupts a streaming one
        "models": [
            {
                "model": path,
                "model_alias": alias,
                "logits_all": True,  # needed for logprobs
                "type_k": 0,
                "type_v": 0,
                "flash_attn": False,
                "n_ctx": 2048,
                "verbose": False,
            }
            for alias, path in models.items()
        ],
    }
    if api_key:
        config["api_key"] = api_key
    config_path = folder / f"server-{port}.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    argv = [sys.executable, __file__, "--config_file", str(config_path)] + ([] if repack else ["--no-repack"])
    log = open(folder / f"server-{port}.log", "wb")  # noqa: SIM115 (the process writes it while it runs)
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url, api_key)
    return process, url + "/v1"


def wait_ready(process: subprocess.Popen, url: str, api_key: str | None, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url + "/v1/models", headers={"Authorization": f"Bearer {api_key or 'none'}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(request, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server at {url} did not answer within {timeout:g} s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    if "--no-repack" in sys.argv:
        sys.argv.remove("--no-repack")
        import llama_cpp.llama_cpp as low

        default_params = low.llama_model_default_params

        def without_repacking():
            params = default_params()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_repacking
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
