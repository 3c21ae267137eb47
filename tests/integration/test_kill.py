"""Crash safety: a process saving templates, importing datasets or saving conversations is killed (SIGKILL) at
random moments; after each kill the database passes `PRAGMA integrity_check`, and everything the process had
reported finished is there exactly once and whole (no half-written dataset or conversation). The number of
kills is WORKBENCH_KILLS (default 21: 7 per kind of work; with it, 4 kills of a comparison run and 7 of the
window's settings: 32 in all)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import ROOT

KILLS = int(os.environ.get("WORKBENCH_KILLS", "21"))
CASES_PER_DATASET = 40
WORKER = """
import sys
from itertools import count
from workbench import models
from workbench.chat import session
from workbench.library.datasets import Case, Dataset
from workbench.library.templates import Template
from workbench.store import Store

store, kind, tag = Store(sys.argv[1]), sys.argv[2], sys.argv[3]
info = models.resolve(models.INSTRUCT_MODEL_NAME)
print("ready", flush=True)
for i in count():
    name = f"{tag}-{i}"
    if kind == "template":
        store.save_template(Template(name, "prompt", "Q: {{ q }}\\nA:" + "x" * 2000))
    elif kind == "dataset":
        cases = [Case(f"c{j}", {"text": "y" * 500}, expected="positive") for j in range(CASES)]
        store.save_dataset(Dataset(name, cases))
    else:
        conversation = session.new_conversation(info, "Be brief.", name=name)
        conversation = session.add_user_message(conversation, "Hello " * 200)
        session.save(store, conversation)
    print("done", name, flush=True)
""".replace("CASES", str(CASES_PER_DATASET))


def _finished(output: str) -> list[str]:
    """What the worker reported: complete `done NAME` lines only (a kill can cut the last line short, and a
    cut-off "done k3-1" of "done k3-12" was not a report)."""
    complete = output.split("\n")[:-1]
    return [line.split()[1] for line in complete if line.startswith("done ") and len(line.split()) == 2]


def _check(path, kind: str, finished: list[str]) -> None:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for name in finished:
            if kind == "template":
                rows = conn.execute(
                    "SELECT COUNT(*) FROM template_versions v JOIN templates t ON t.id = v.template_id "
                    "WHERE t.name = ?",
                    [name],
                ).fetchone()[0]
                assert rows == 1, name
            elif kind == "dataset":
                (cases,) = conn.execute(
                    "SELECT COUNT(*) FROM cases c JOIN datasets d ON d.id = c.dataset_id WHERE d.name = ?", [name]
                ).fetchone()
                assert cases == CASES_PER_DATASET, name
            else:
                (messages,) = conn.execute(
                    "SELECT COUNT(*) FROM chat_messages m JOIN conversations c ON c.id = m.conversation_id "
                    "WHERE c.name = ?",
                    [name],
                ).fetchone()
                assert messages == 1, name
        if kind == "dataset":  # a killed import leaves no dataset without all its cases
            partial = conn.execute(
                "SELECT d.name FROM datasets d LEFT JOIN cases c ON c.dataset_id = d.id GROUP BY d.id "
                "HAVING COUNT(c.id) NOT IN (0, ?) AND d.name LIKE 'k%'",
                [CASES_PER_DATASET],
            ).fetchall()
            assert partial == []


@pytest.mark.parametrize("kind", ["template", "dataset", "conversation"])
def test_killed_at_random_moments_loses_nothing_reported_finished(tmp_path, kind):
    path = tmp_path / "killed.sqlite"
    rng = random.Random(kind)
    reported: list[str] = []
    for kill in range(KILLS // 3):
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), kind, f"k{kill}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        time.sleep(rng.uniform(0.02, 0.4))
        worker.send_signal(signal.SIGKILL)
        output, _ = worker.communicate(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        reported += _finished(output)
        _check(path, kind, reported)
    assert reported  # the kills came while work was being done and finished


SETTINGS_WORKER = """
import sys
from PySide6.QtCore import QByteArray, QSettings
settings = QSettings(sys.argv[1], QSettings.IniFormat)
assert settings.isAtomicSyncRequired()  # Qt writes a temporary file and renames it (QSaveFile)
print("ready", flush=True)
i = 0
while True:
    i += 1
    settings.setValue("window/geometry", QByteArray(bytes([i % 256]) * 20_000))
    for key in range(50):
        settings.setValue(f"playground/field{key}", i)
    settings.sync()
    print("done", i, flush=True)
"""


def test_window_settings_survive_kills_whole(tmp_path):
    """The window's state and settings (QSettings, as MainWindow keeps them) after a SIGKILL during a write: the
    file parses, and every key holds the same save, that save or a later one than the last reported."""
    path = tmp_path / "settings.ini"
    rng = random.Random("settings")
    from PySide6.QtCore import QSettings

    for _ in range(max(1, KILLS // 3)):
        worker = subprocess.Popen(
            [sys.executable, "-c", SETTINGS_WORKER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.3))
        worker.send_signal(signal.SIGKILL)
        output, _ = worker.communicate(timeout=30)
        finished = [int(name) for name in _finished(output)]
        settings = QSettings(str(path), QSettings.IniFormat)
        assert settings.status() == QSettings.NoError
        values = {int(settings.value(f"playground/field{key}")) for key in range(50)}
        assert len(values) == 1, values  # not a mix of two saves
        (saved,) = values
        assert saved >= (finished[-1] if finished else 0)
        assert bytes(settings.value("window/geometry")) == bytes([saved % 256]) * 20_000
        # beside it: at most the stale lock (taken over, its PID is gone) and Qt's temporary file of a write the kill
        # cut short (settings.ini.XXXXXX, never read)
        leftovers = {p.name for p in tmp_path.iterdir()} - {"settings.ini", "settings.ini.lock"}
        assert all(re.fullmatch(r"settings\.ini\.\w{6}", name) for name in leftovers), leftovers


COMPARISON_WORKER = """
import sys
from workbench import experiments, models
from workbench.engine.base import SamplingParams
from workbench.engine.llama import LlamaBackend, LoadOptions
from workbench.library import files as library_files
from workbench.store import Store

store = Store(sys.argv[1])
found = store.list_experiments()
if found:
    experiment_id = found[0]["id"]
else:
    library_files.ensure_starter_library(store)
    config = experiments.Config(SamplingParams(temperature=0.0), max_tokens=3)
    spec = experiments.GridSpec(["sentiment-instruction-en", "sentiment-cloze-en"], "sentiment-en", [config])
    experiment_id = experiments.plan(store, spec)
backend = LlamaBackend(models.resolve(None), LoadOptions(n_ctx=512))
print("ready", experiment_id, flush=True)
report = lambda cell: print("done", cell["id"], flush=True)
experiments.run(store, experiment_id, lambda _path: backend, on_cell=report, parallel=4)
"""


def _cells(path) -> dict[int, tuple]:
    """Every done cell: id -> (its place in the grid, its output); integrity checked first."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT id, template, case_id, sample_index, output FROM grid_runs WHERE status = 'done'"
        ).fetchall()
    return {row[0]: (row[1:4], row[4]) for row in rows}


def test_a_comparison_killed_at_random_moments_resumes_to_every_cell_once(tmp_path):
    """A 60-cell batched comparison is killed while it runs, again and again; after each kill every cell it had
    reported finished is done with the output it had, no place in the grid is done twice, and `workbench compare
    --resume` completes the rest."""
    path = tmp_path / "grid.sqlite"
    rng = random.Random("comparison")
    kept: dict[int, tuple] = {}
    reported: list[int] = []
    for _ in range(max(1, KILLS // 5)):
        worker = subprocess.Popen(
            [sys.executable, "-c", COMPARISON_WORKER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        ready = worker.stdout.readline().split()
        assert ready[0] == "ready", ready
        time.sleep(rng.uniform(0.3, 2.5))  # the first cell finishes about 1 s after the model is loaded
        worker.send_signal(signal.SIGKILL)
        output, _ = worker.communicate(timeout=30)
        reported += [int(name) for name in _finished(output)]
        done = _cells(path)
        assert set(reported) <= set(done)
        assert len({place for place, _ in done.values()}) == len(done)  # no place in the grid done twice
        assert all(done[cell] == before for cell, before in kept.items())  # nothing finished was redone
        kept = done
    assert 0 < len(kept) < 60, "the kills came while the grid was running"
    env = {**os.environ, "WORKBENCH_DB": str(path)}
    resumed = subprocess.run(
        [sys.executable, "-m", "workbench", "compare", "--resume", ready[1], "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["done"] == 60
    done = _cells(path)
    assert len(done) == 60 and len({place for place, _ in done.values()}) == 60
    assert all(done[cell] == before for cell, before in kept.items())
