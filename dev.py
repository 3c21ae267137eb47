#!/usr/bin/env python3
"""The README's two commands, with only the standard library: `python3 dev.py run` / `python3 dev.py test`.

Each creates (or refreshes, when pyproject.toml changed) the virtual environment in .venv,
then starts the app on the embedded default model, or runs the whole test suite.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("WORKBENCH_VENV", ROOT / ".venv"))
STAMP = VENV / ".workbench-installed"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must explain itself on an old Python
        sys.exit(f"dev.py: Python 3.11 or newer is needed (this is {sys.version.split()[0]})")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    python = venv_python()
    if python.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return python
    if not python.exists():
        print(f"dev.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing dependencies (the first time builds llama.cpp: several minutes)", flush=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    add_llama_vocabularies(python)
    STAMP.write_text(wanted)
    return python


def add_llama_vocabularies(python: Path) -> None:
    """llama.cpp's vocabulary files (GPT-2, Llama 3, Qwen 2, ...) ship in llama-cpp-python's source archive:
    fetch the installed version's archive from the package index once (kept in .venv/sdist), extract only those."""
    folder = VENV / "sdist"
    archives = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if not archives:
        print("dev.py: fetching llama-cpp-python's source archive for its vocabulary files", flush=True)
        fetch = (
            "from pathlib import Path; from workbench.text.llama_vocabs import download_sdist; "
            f"download_sdist(Path({str(folder)!r}))"
        )
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(python), "-c", fetch], check=True)
        archives = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    command = [str(python), "-m", "workbench", "tokenizers", "--add-llama-vocabularies", "--from-sdist"]
    subprocess.run([*command, str(archives[-1])], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("run", "test"):
        print("usage: python3 dev.py run|test [extra arguments]", file=sys.stderr)
        return 2
    python = ensure_venv()
    extra = sys.argv[2:]
    if command == "run":
        return subprocess.call([str(python), str(ROOT / "main.py"), *extra])
    build_llama_server(python)
    linted = lint(python, ROOT)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    tested = subprocess.call([str(python), "-m", "pytest", *extra], cwd=ROOT, env=env)
    if linted != 0:
        print("dev.py: ruff check failed (above): the test command fails until it passes", file=sys.stderr)
    return tested or linted


def build_llama_server(python: Path) -> None:
    """llama.cpp's own llama-server, from the same llama.cpp sources as the engine, for the tests that check a
    server gives the local numbers: built once into bench/.cache (about 6 minutes on 2 cores), then reused."""
    tools = ROOT / "bench" / "llamacpp_tools.py"
    if not (ROOT / "bench" / ".cache" / "llama.cpp-build" / "bin" / "llama-server").exists():
        print("dev.py: building llama.cpp's llama-server for the server tests (once; several minutes)", flush=True)
    subprocess.run([str(python), str(tools), "llama-server"], check=True, stdout=subprocess.DEVNULL)


def lint(python: Path, folder: Path) -> int:
    """ruff (a test dependency) over the tree, with pyproject.toml's rules; its exit status."""
    return subprocess.call([str(python), "-m", "ruff", "check", "--no-cache", str(folder)], cwd=folder)


if __name__ == "__main__":
    sys.exit(main())
