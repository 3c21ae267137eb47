"""`python3 dev.py run` (main.py) on a machine with Qt's libraries but no display: one line saying so and
what to do, exit 1, instead of Qt's multi-line message and abort (exit 134)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_display_is_one_clear_line_not_an_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["WORKBENCH_DB"] = str(tmp_path / "db.sqlite")
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("workbench: ")
    assert "no display" in lines[0] and "xvfb-run" in lines[0]
