"""The SQLite store on a real temporary file: migrations, one-transaction runs."""

import sqlite3

import pytest

from workbench.engine.base import Generation, GenerationRequest, SamplingParams, Timings, TokenStep, TopToken
from workbench.errors import StoreError
from workbench.store import MIGRATIONS, Store


def generation(text: str) -> Generation:
    alt = TopToken(5, "x", b"x", -0.1, None, "top_k")
    step = TokenStep(7, text.encode(), text, -0.5, -0.4, (alt,), (), 3)
    return Generation(text, "length", (step,), Timings(1.0, 2.0, 3, 1), seed=11)


def test_new_file_is_migrated_and_reopens(tmp_path):
    store = Store(tmp_path / "a" / "wb.sqlite")
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    assert Store(tmp_path / "a" / "wb.sqlite").schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "a" / "wb.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_run_round_trips_with_its_tokens(tmp_path):
    store = Store(tmp_path / "wb.sqlite")
    request = GenerationRequest("Hi", SamplingParams(seed=11), max_tokens=4, stop=("\n",))
    run_id = store.save_run("generate", "m", "/m.gguf", request, 3, [generation("a"), generation("台")])
    run = store.get_run(run_id)
    assert run["params"]["stop"] == ["\n"] and run["params"]["seed"] == 11
    assert [s["text"] for s in run["samples"]] == ["a", "台"]
    restored = TokenStep.from_dict(run["samples"][1]["tokens"][0])
    assert restored == generation("台").tokens[0]
    assert store.list_runs()[0].samples == 2


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "wb.sqlite")
    bad = generation("a")
    object.__setattr__(bad, "text", object())  # not storable: the insert fails mid-run
    with pytest.raises(StoreError, match="could not save"):
        store.save_run("generate", "m", "/m.gguf", GenerationRequest("Hi"), 1, [generation("ok"), bad])
    assert store.list_runs() == []
    assert store.db["samples"].count == 0


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "wb.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer workbench"):
        Store(path)


def test_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no run with id 42"):
        Store(tmp_path / "wb.sqlite").get_run(42)


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        Store(blocker / "wb.sqlite")


def test_each_thread_has_its_own_connection_so_transactions_never_nest(tmp_path):
    import threading

    store = Store(tmp_path / "threads.sqlite")
    holding, release, seen = threading.Event(), threading.Event(), []

    def worker() -> None:
        seen.append(store.db)
        try:
            with store.db.atomic():
                store.set_meta("written_by_worker", "1")
                holding.set()
                release.wait(10)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    thread = threading.Thread(target=worker)
    thread.start()
    assert holding.wait(10)
    assert seen[0] is not store.db and seen[0].conn is not store.db.conn
    assert store.meta("written_by_worker") is None  # the worker's open transaction is not this thread's
    release.set()
    thread.join(10)
    assert store.meta("written_by_worker") is None  # rolled back as a whole
    store.close()
