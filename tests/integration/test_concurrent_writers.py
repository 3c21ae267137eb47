"""Several processes writing one database at once (WAL, busy timeout, migrations under the write lock) lose
nothing: each process opens the file fresh (the first ones race to create and migrate it), then writes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from conftest import ROOT

RUNS_PER_WRITER = 25
WRITER = """
import sys
from workbench.engine.base import Generation, GenerationRequest, Timings
from workbench.library.templates import Template
from workbench.store import Store

store = Store(sys.argv[1])
name = sys.argv[2]
for i in range(int(sys.argv[3])):
    request = GenerationRequest(f"{name} prompt {i}")
    sample = Generation(f"text {i}", "stop", (), Timings(1.0, 1.0, 3, 0), seed=i)
    store.save_run("generate", "m", "/m.gguf", request, 3, [sample])
    if i % 5 == 0:
        store.save_template(Template(name=f"t-{name}", kind="prompt", body=f"version {i}: {{{{ x }}}}"))
print("ok")
"""


def test_four_processes_write_one_database_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"w{n}", str(RUNS_PER_WRITER)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    results = [w.communicate(timeout=180) for w in writers]
    assert all(w.returncode == 0 for w in writers), [r[1].decode()[-500:] for r in results]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4 * RUNS_PER_WRITER
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 4 * RUNS_PER_WRITER
        per_writer = dict(
            conn.execute("SELECT substr(prompt, 1, 2), COUNT(*) FROM runs GROUP BY substr(prompt, 1, 2)").fetchall()
        )
        assert per_writer == {f"w{n}": RUNS_PER_WRITER for n in range(4)}
        versions = conn.execute("SELECT COUNT(*) FROM template_versions").fetchone()[0]
        assert versions == 4 * len(range(0, RUNS_PER_WRITER, 5))
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
