"""The hostile-input corpus, continued: shared template libraries that would hang, explode or escape the sandbox
(imported, then rendered by `workbench templates render`), TOML, huge and spreadsheet-executing datasets,
databases locked or read-only, exports to places that cannot take them, and odd inputs that are accepted."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import LOCK_HOLDER, ROOT
from hostile import check, counts

from workbench.cli.main import main

BOMBS = {  # template name: (body, the error's words)
    "loop": ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    "nested": (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "would build 1,000,001 characters, over the limit of 1,000,000",
    ),
    "slow": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "took longer than 2 s to render",
    ),
    "multiply": ('{{ "x" * 10**9 }}', "would build 1,000,000,000 characters, over the limit of 1,000,000"),
    "join": ('{{ range(99999)|join("x" * 34) }}', "over the limit of 1,000,000"),
    "power": ("{{ 2 ** (10**8) }}", "raises a number to the power 100000000, over the limit of 10,000"),
    "recursion": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls itself too deeply"),
    "megabyte": ("x" * 1_048_576, "would build 1,048,576 characters, over the limit of 1,000,000"),
    "mro": (
        '{{ "".__class__.__mro__[1].__subclasses__() }}',
        "refused by the sandbox: access to attribute '__class__'",
    ),
    "cycler": ("{{ cycler.__init__.__globals__.os }}", "refused by the sandbox: access to attribute '__init__'"),
    "self": ("{{ self._TemplateReference__context }}", "refused by the sandbox: access to attribute '_TemplateRef"),
    "lipsum": ('{{ lipsum.__globals__.os.popen("id").read() }}', "refused by the sandbox: access to attribute '__glob"),
    "format": ('{{ "{0.__class__}".format(1) }}', "refused by the sandbox"),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """A database holding the hostile templates (and a 1 MB body that is one comment), made once."""
    folder = tmp_path_factory.mktemp("shared-library")
    bodies = {**{name: body for name, (body, _) in BOMBS.items()}, "comment": "{# " + "x" * 1_048_576 + " #}ok"}
    for name, body in bodies.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump({"name": name, "kind": "prompt", "body": body}))
    db = folder / "library.sqlite"
    assert _main_on(db, "templates", "import", str(folder)) == 0
    return db


def _main_on(db: Path, *args: str) -> int:
    """main() on another database, for a fixture (`--db` sets WORKBENCH_DB for the process: put it back)."""
    saved = os.environ.get("WORKBENCH_DB")
    try:
        return main(["--db", str(db), *args])
    finally:
        os.environ.pop("WORKBENCH_DB") if saved is None else os.environ.update(WORKBENCH_DB=saved)


@pytest.mark.parametrize("name", BOMBS)
def test_templates_that_would_hang_explode_or_escape_stop_with_the_limit_named(library, name, capsys, isolated_db):
    line = check(["--db", str(library), "templates", "render", name], 1, BOMBS[name][1], capsys, library)
    assert line.startswith(f"workbench: template {name}")


def test_a_megabyte_body_that_renders_small_is_fine(library, capsys, isolated_db):
    assert main(["--db", str(library), "templates", "render", "comment", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt"] == "ok"


def test_toml_cannot_construct_objects_and_broken_toml_is_one_line(tmp_path, capsys, isolated_db):
    """TOML has no tags: a YAML tag in a TOML string stays text; a malformed file is named with its line."""
    folder = tmp_path / "toml"
    folder.mkdir()
    (folder / "evil.toml").write_text('name = "evil"\nkind = "prompt"\nbody = "!!python/object/apply:os.system [1]"\n')
    assert main(["templates", "import", str(folder)]) == 0
    capsys.readouterr()
    assert main(["templates", "render", "evil", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prompt"] == "!!python/object/apply:os.system [1]"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "t.toml").write_text("name = [unclosed\n")
    check(
        ["templates", "import", str(broken)], 1, "t.toml: not valid TOML: Invalid value (at line 1", capsys, isolated_db
    )


def test_a_100000_row_dataset_imports_whole(tmp_path, capsys, isolated_db):
    rows = tmp_path / "big.jsonl"
    rows.write_text("".join(json.dumps({"id": f"r{i}", "text": f"case {i}"}) + "\n" for i in range(100_000)))
    assert main(["datasets", "import", str(rows)]) == 0, capsys.readouterr().err
    assert counts(isolated_db)["cases"] >= 100_000  # and integrity ok
    capsys.readouterr()
    assert main(["datasets", "show", "big", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["cases"]) == 100_000 and shown["cases"][-1]["id"] == "r99999"


def test_cells_that_spreadsheets_execute_are_neutralised_on_export_and_read_back_unchanged(tmp_path, capsys):
    hostile = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "plain"]
    source = tmp_path / "formulas.jsonl"
    source.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(hostile)))
    assert main(["datasets", "import", str(source)]) == 0
    exported = tmp_path / "out.csv"
    assert main(["datasets", "export", "formulas", str(exported)]) == 0
    cells = [row["text"] for row in csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"), newline=""))]
    assert all(cell[0] == "'" for cell in cells[:-1]) and cells[-1] == "plain"
    again = tmp_path / "again"
    again.mkdir()
    (again / "formulas2.csv").write_bytes(exported.read_bytes())
    assert main(["datasets", "import", str(again / "formulas2.csv")]) == 0
    capsys.readouterr()
    assert main(["datasets", "show", "formulas2", "--json"]) == 0
    assert [c["text"] for c in json.loads(capsys.readouterr().out)["cases"]] == hostile


def test_a_database_locked_by_another_process(tmp_path, capsys, monkeypatch):
    db = tmp_path / "locked.sqlite"
    assert main(["--db", str(db), "templates", "list"]) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr("workbench.store.base.BUSY_TIMEOUT_S", 0.5)
        folder = tmp_path / "one"
        folder.mkdir()
        (folder / "t.yaml").write_text("name: t\nkind: prompt\nbody: hi\n")
        check(["--db", str(db), "templates", "import", str(folder)], 1, "is locked by another program", capsys, db)
    finally:
        holder.communicate("release\n", timeout=10)
    assert main(["--db", str(db), "templates", "import", str(folder)]) == 0  # once it lets go, the write goes in


def _as_other_user(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    """The CLI as a user without write permission on root's files (as root, permissions are not checked)."""
    env = {**os.environ, "HOME": str(folder), "WORKBENCH_LOG_DIR": str(folder / "logs")}
    env["WORKBENCH_MODELS_DIR"] = str(folder / "models")

    def drop() -> None:
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)

    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, env=env, cwd=ROOT, preexec_fn=drop
    )


@pytest.fixture
def locked_down() -> Path:
    """A read-only folder holding a read-only database and file, and two sub-folders anyone may write."""
    folder = Path(tempfile.mkdtemp())
    db = folder / "db.sqlite"
    made = subprocess.run([sys.executable, "-m", "workbench", "--db", str(db), "templates", "list"], cwd=ROOT)
    assert made.returncode == 0 and not Path(f"{db}-wal").exists()  # closed: a reader would have to make -shm
    (folder / "taken.csv").write_text("keep me\n")
    (folder / "fresh.jsonl").write_text('{"id": "a", "text": "new"}\n')
    for path in (db, folder / "taken.csv"):
        path.chmod(0o444)
    for writable in ("logs", "own"):
        (folder / writable).mkdir()
        (folder / writable).chmod(0o777)
    folder.chmod(0o555)  # not even its owner may add a file (for a test run without root)
    yield folder
    folder.chmod(0o755)
    subprocess.run(["rm", "-rf", str(folder)], check=True)


READ_ONLY = [
    (["datasets", "import", "{dir}/fresh.jsonl"], "db.sqlite is read-only"),
    (["datasets", "list"], "db.sqlite is read-only"),
    (["--db", "{dir}/new/db.sqlite", "datasets", "list"], "cannot open the workbench database"),
]


@pytest.mark.parametrize(("args", "fragment"), READ_ONLY, ids=["write", "read", "new-in-readonly-folder"])
def test_a_read_only_database(locked_down, args, fragment):
    db = locked_down / "db.sqlite"
    before = db.read_bytes()
    args = [a.replace("{dir}", str(locked_down)) for a in args]
    result = _as_other_user(["--db", str(db), *args] if "--db" not in args else args, locked_down)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and fragment in lines[0], result.stderr
    assert db.read_bytes() == before


EXPORTS = [
    ("{dir}/missing/out.csv", "No such file or directory"),
    ("{dir}", "Is a directory"),
    ("/dev/full", "cannot write /dev/full: No space left on device"),
]


@pytest.mark.parametrize(("target", "fragment"), EXPORTS, ids=["missing-folder", "a-folder", "full-disk"])
def test_exports_to_places_that_cannot_take_them(tmp_path, target, fragment, capsys, isolated_db):
    assert main(["datasets", "import", str(ROOT / "prompts/datasets/sentiment-en.jsonl")]) == 0
    capsys.readouterr()
    check(
        ["datasets", "export", "sentiment-en", target.replace("{dir}", str(tmp_path))], 1, fragment, capsys, isolated_db
    )
    assert not list(tmp_path.glob("**/*.part"))


def test_an_export_over_a_file_the_user_may_not_write(locked_down):
    own = locked_down / "own" / "db.sqlite"  # a database this user may write, and a file it may not
    args = ["--db", str(own), "datasets", "export", "sentiment-en", str(locked_down / "taken.csv")]
    result = _as_other_user(args, locked_down)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"cannot write {locked_down / 'taken.csv'}: Permission denied" in result.stderr
    assert (locked_down / "taken.csv").read_text() == "keep me\n" and not list(locked_down.glob("*.part"))


ACCEPTED = [  # odd but legitimate: each generates, is saved once, and says what happened
    (["-p", "   \n\t "], "length"),
    (["-p", "a\x01b\x7fc"], "length"),
    (["-p", "<start_of_turn><end_of_turn><eos><bos>"], "length"),
    (["-p", "word " * 250, "-n", str(10**12), "--n-ctx", "64"], "context"),  # llama.cpp makes that 256
    (["-p", "hi", "--top-k", str(10**12)], "length"),
    (["-p", "hi", "-t", "1e308"], "length"),
]


@pytest.mark.parametrize(("options", "finish"), ACCEPTED, ids=["whitespace", "control", "special", "max", "k", "t"])
def test_odd_prompts_and_settings_that_are_legitimate_work(options, finish, capsys, isolated_db):
    before = counts(isolated_db)
    assert main(["generate", "-n", "3", "--json", *options]) == 0
    out, err = capsys.readouterr()
    sample = json.loads(out)["samples"][0]
    assert sample["finish_reason"] == finish and err == "", err
    assert sample["tokens"] and all(t["id"] >= 0 for t in sample["tokens"])
    runs_before = before["runs"] if before else 0
    assert counts(isolated_db)["runs"] == runs_before + 1


def test_special_token_names_in_a_prompt_are_text_not_control_tokens(capsys, isolated_db):
    """`<eos>` typed in a prompt is five characters; only --special makes it the end-of-text token."""
    assert main(["tokenize", "--text", "<eos><bos>", "--json"]) == 0
    (plain,) = json.loads(capsys.readouterr().out)
    assert main(["tokenize", "--text", "<eos><bos>", "--special", "--json"]) == 0
    (special,) = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in special["tokens"]] == [1, 2]
    assert plain["count"] > 2 and not any(t.get("special") for t in plain["tokens"])
