"""Crash safety: a process saving templates, importing datasets or saving conversations is killed (SIGKILL) at
random moments; after each kill the database passes `PRAGMA integrity_check`, and everything the process had
reported finished is there exactly once and whole (no half-written dataset or conversation). The number of
kills is WORKBENCH_KILLS (default 21: 7 per kind of work); grids are killed in test_compare.py."""

from __future__ import annotations

import os
import random
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
    return [line.split()[1] for line in output.splitlines() if line.startswith("done ")]


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
