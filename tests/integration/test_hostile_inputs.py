"""A corpus of broken and hostile inputs driven through the CLI (in-process, the same `main()` the `workbench`
command runs): each ends in exactly one line on stderr naming what is wrong, the expected exit status, no
traceback, and the database consistent and unchanged (`PRAGMA integrity_check` ok, no row added)."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest
from hostile import check, counts, run

from workbench import models
from workbench.cli.main import main


def _gguf_header(tensors: int, keys: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, tensors, keys)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """The files of the corpus, made once."""
    folder = tmp_path_factory.mktemp("hostile")
    gemma = models.default_model_path().read_bytes()[:1_000_000]
    files = {
        "empty.gguf": b"",
        "t4.gguf": gemma[:4],
        "t100.gguf": gemma[:100],
        "t1m.gguf": gemma,
        "random.gguf": bytes(range(256)) * 20,
        "tensors.gguf": _gguf_header(2**60, 0),
        "keys.gguf": _gguf_header(0, 2**60),
        "strlen.gguf": _gguf_header(0, 1) + struct.pack("<Q", 2**60) + b"abc",
        "nul.txt": b"a\x00b",
        "undecodable.txt": b"\xff\xfeab",
        "big.txt": b"word " * 2_000_000,  # 10 MB
        "bad.jsonl": b'{"id": "a", "text": "x"}\n{not json}\n',
        "cols.csv": b"id,text\na,x,y\n",
        "latin1.csv": b"id,text\na,caf\xe9\n",
        "dup.jsonl": b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
        "empty.jsonl": b"",
        "notdb.sqlite": b"not a database at all",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "dir.gguf").mkdir()
    (folder / "loop1.gguf").symlink_to(folder / "loop2.gguf")
    (folder / "loop2.gguf").symlink_to(folder / "loop1.gguf")
    templates = {
        "syntax": 'name: bad\nkind: prompt\nbody: "{% for %}"\n',
        "tag": 'name: evil\nkind: prompt\nbody: !!python/object/apply:os.system ["id"]\n',
        "notmapping": "- just\n- a list\n",
        "malformed": "name: [unclosed\n",
    }
    for name, text in templates.items():
        (folder / f"tpl_{name}").mkdir()
        (folder / f"tpl_{name}" / "t.yaml").write_text(text, encoding="utf-8")
    return folder


MODEL_FILES = [
    ("empty.gguf", "not a GGUF model (only 0 bytes)"),
    ("t4.gguf", "not a GGUF model (only 4 bytes)"),
    ("t100.gguf", "GGUF header is damaged or truncated"),
    ("t1m.gguf", "GGUF header is damaged or truncated"),
    ("random.gguf", "not a GGUF model file (wrong magic bytes)"),
    ("tensors.gguf", "GGUF header is damaged or truncated"),
    ("keys.gguf", "GGUF header is damaged or truncated"),
    ("strlen.gguf", "string runs past the end of the file"),
    ("dir.gguf", "not a file"),
    ("loop1.gguf", "Too many levels of symbolic links"),
    ("missing.gguf", "model file not found"),
]
GENERATE = [
    (["-p", ""], "the prompt is empty"),
    (["-f", "{dir}/undecodable.txt"], "is not valid UTF-8 (bad byte at offset 0)"),
    (["-f", "{dir}/missing.txt"], "prompt file not found"),
    (["-f", "{dir}/big.txt"], "the prompt is 2,000,002 tokens, 1,995,907 over the context of 4,096"),
    (["-p", "word " * 3000, "--n-ctx", "256"], "over the context of 256"),
    (["-p", "hi", "-t", "nan"], "temperature must be >= 0 (got nan)"),
    (["-p", "hi", "-t", "inf"], "temperature must be >= 0 (got inf)"),
    (["-p", "hi", "-t", "-1"], "temperature must be >= 0 (got -1.0)"),
    (["-p", "hi", "--top-p", "0"], "top-p must be in (0, 1] (got 0.0)"),
    (["-p", "hi", "--top-p", "2"], "top-p must be in (0, 1] (got 2.0)"),
    (["-p", "hi", "--top-k", "-1"], "top-k must be >= 0"),
    (["-p", "hi", "--min-p", "1.5"], "min-p must be in [0, 1] (got 1.5)"),
    (["-p", "hi", "-n", "0"], "max tokens must be >= 1 (got 0)"),
    (["-p", "hi", "--seed", "-1"], "seed must be in [0, 2^31) (got -1)"),
    (["-p", "hi", "--seed", str(2**40)], "seed must be in [0, 2^31)"),
    (["-p", "hi", "--repeat-penalty", "0"], "repeat penalty must be > 0"),
    (["-p", "hi", "--top-logprobs", "50"], "top logprobs must be between 0 and 20 (got 50)"),
    (["-p", "hi", "--samples", "0"], "samples must be >= 1 (got 0)"),
    (["-p", "hi", "--parallel", "0"], "--parallel must be >= 1 (got 0)"),
    (["-p", "hi", "--n-ctx", "1"], "context size must be >= 16 (got 1)"),
    (["-p", "hi", "--n-ctx", str(10**9)], "context size 1,000,000,000 is over the 32,768 tokens gemma-3-270m"),
    (["-p", "caf\udcff"], "argument 5 ('caf\ufffd') is not valid UTF-8 (byte 0xff at offset 3)"),
    (["-p", "hi", "--top-logprobs", "-1"], "top logprobs must be between 0 and 20 (got -1)"),
    (["-p", "hi", "--numerics", "exact"], "unknown numeric configuration 'exact'"),
    (["-p", "hi", "--backend", "openai", "--base-url", "localhost:1"], "not an http(s) URL"),
    (["-p", "hi", "--base-url", "http://user:pw@127.0.0.1:1/v1"], "not in the URL"),
    (["-p", "hi", "--connection", "nowhere"], "no saved connection named 'nowhere'"),
]
USAGE = [
    (["generate", "-p", "hi", "-t", "abc"], "invalid float value: 'abc'"),
    (["generate", "-p", "hi", "-n", "1e3"], "invalid int value: '1e3'"),
    (["generate"], "one of the arguments --prompt/-p --prompt-file/-f is required"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]
LIBRARY = [
    (["templates", "import", "{dir}/tpl_syntax"], "syntax error: Expected an expression"),
    (["templates", "import", "{dir}/tpl_tag"], "could not determine a constructor for the tag"),
    (["templates", "import", "{dir}/tpl_malformed"], "not valid YAML"),
    (["templates", "import", "{dir}/missing-folder"], "missing-folder"),
    (["datasets", "import", "{dir}/bad.jsonl"], "bad.jsonl:2: not JSON"),
    (["datasets", "import", "{dir}/cols.csv"], "cols.csv: no valid case to import"),
    (["datasets", "import", "{dir}/latin1.csv"], "is not UTF-8 (bad byte at offset 13)"),
    (["datasets", "import", "{dir}/dup.jsonl"], "duplicate id 'a'"),
    (["datasets", "import", "{dir}/empty.jsonl"], "no valid case to import"),
    (["datasets", "import", "{dir}/nul.txt"], "datasets are .jsonl or .csv files"),
    (["templates", "show", "no-such-template"], "no-such-template"),
    (["runs", "999"], "999"),
    (["experiments", "show", "999"], "no experiment with id 999"),
    (["export", "--experiment", "999", "--what", "runs", "--out", "{dir}/x.csv"], "no experiment with id 999"),
    (["rank", "999", "--order", "1,2"], "999"),
]


@pytest.mark.parametrize(("name", "fragment"), MODEL_FILES, ids=[n for n, _ in MODEL_FILES])
def test_broken_model_files(hostile, name, fragment, capsys, isolated_db):
    check(["generate", "-m", str(hostile / name), "-p", "hi", "-n", "1"], 1, fragment, capsys, isolated_db)


@pytest.mark.parametrize(("options", "fragment"), GENERATE, ids=[f[:40] for _, f in GENERATE])
def test_bad_prompts_and_settings(hostile, options, fragment, capsys, isolated_db):
    argv = ["generate", "-n", "1", *[o.replace("{dir}", str(hostile)) for o in options]]
    check(argv, 1, fragment, capsys, isolated_db)


@pytest.mark.parametrize(("argv", "fragment"), USAGE, ids=[f[:40] for _, f in USAGE])
def test_usage_errors(argv, fragment, capsys, isolated_db):
    check(argv, 2, fragment, capsys, isolated_db)


@pytest.mark.parametrize(("argv", "fragment"), LIBRARY, ids=[f[:40] for _, f in LIBRARY])
def test_bad_library_files_and_unknown_names(hostile, argv, fragment, capsys, isolated_db):
    check([a.replace("{dir}", str(hostile)) for a in argv], 1, fragment, capsys, isolated_db)


def test_a_file_that_is_not_a_database_is_left_untouched(hostile, capsys, isolated_db):
    path = hostile / "notdb.sqlite"
    before = path.read_bytes()
    check(["--db", str(path), "runs"], 1, "is not a workbench database", capsys, isolated_db)
    assert path.read_bytes() == before


def test_a_folder_as_the_database(hostile, capsys, isolated_db):
    check(["--db", str(hostile), "runs"], 1, "is the folder writable and the path a file?", capsys, isolated_db)


def test_a_database_from_a_newer_workbench_is_refused(tmp_path, capsys, isolated_db):
    path = tmp_path / "newer.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    check(["--db", str(path), "runs"], 1, "written by a newer workbench (schema 999", capsys, isolated_db)


def test_a_full_disk_loses_nothing(tmp_path, capsys, isolated_db, monkeypatch):
    """A database that cannot grow (PRAGMA max_page_count, as on a full disk) refuses the write in one line
    and keeps everything it had."""
    db = tmp_path / "full.sqlite"
    assert main(["--db", str(db), "datasets", "import", str(Path("prompts/datasets/sentiment-en.jsonl"))]) == 0
    capsys.readouterr()
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    before = counts(db)
    monkeypatch.setattr("workbench.store.base.BUSY_TIMEOUT_S", 0.5)
    import workbench.store.base as base

    original = base.StoreBase._connect

    def capped(self):
        db_ = original(self)
        db_.execute(f"PRAGMA max_page_count = {pages}")
        return db_

    monkeypatch.setattr(base.StoreBase, "_connect", capped)
    big = tmp_path / "big.jsonl"
    big.write_text("".join(f'{{"id": "c{i}", "text": "{"x" * 2000}"}}\n' for i in range(300)), encoding="utf-8")
    code, err = run(["--db", str(db), "datasets", "import", str(big)], capsys)
    assert code == 1 and "full" in err.lower() and len(err.strip().splitlines()) == 1, err
    assert counts(db) == before  # integrity ok, and not one row of the refused import
