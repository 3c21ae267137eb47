"""The README's test command lints: a ruff finding fails it, and the repository itself is clean. No build
artefact (a wheel) is tracked."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_dev():
    spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_lint_finding_fails_the_lint_step(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("import os\n")  # F401: imported but unused
    assert load_dev().lint(Path(sys.executable), tmp_path) != 0


def test_the_repository_passes_the_lint_step():
    assert load_dev().lint(Path(sys.executable), ROOT) == 0


def test_no_wheel_or_archive_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert [name for name in tracked.splitlines() if name.endswith((".whl", ".tar.gz"))] == []
