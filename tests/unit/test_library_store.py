"""Templates, versions, datasets and search in a real SQLite file; upgrades from schema 1; bad files."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from workbench import config
from workbench.errors import InputError, StoreError
from workbench.library import files as library_files
from workbench.library.datasets import Case, Dataset, read_dataset, write_dataset
from workbench.library.templates import AnswerRule, Template
from workbench.store import MIGRATIONS, Store
from workbench.store.schema import _migration_1

PROMPTS = config.REPO_ROOT / "prompts"


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "wb.sqlite")
    yield opened
    opened.close()


def test_saving_a_changed_body_makes_a_new_immutable_version(store):
    first, status = store.save_template(Template("t", "prompt", "v1 {{ text }}", tags=("a",)))
    assert (status, first.version) == ("new", 1)
    same, status = store.save_template(Template("t", "prompt", "v1 {{ text }}", tags=("b",), description="d"))
    assert (status, same.version, same.tags, same.description) == ("unchanged", 1, ("b",), "d")
    second, status = store.save_template(Template("t", "prompt", "v2 {{ text }}", answer=AnswerRule("number")))
    assert (status, second.version) == ("version", 2)
    assert store.get_template("t", 1).body == "v1 {{ text }}"
    assert store.get_template("t").answer == AnswerRule("number")
    assert [t.version for t in store.template_history("t")] == [2, 1]
    assert store.db["templates"].count == 1  # a duplicate name is a new version, not a new row
    with pytest.raises(InputError, match="no version 7"):
        store.get_template("t", 7)
    with pytest.raises(InputError, match="no template named 'nope'"):
        store.get_template("nope")


def test_full_text_search_filters_and_tags(store):
    library_files.import_dir(store, PROMPTS)
    names = {t.name for t in store.list_templates(search="step")}
    assert {"arithmetic-cot-trigger-en", "question-think-en"} <= names
    assert {t.name for t in store.list_templates(search="TL;DR")} >= {"summarise-tldr-en"}
    assert {t.name for t in store.list_templates(search="情感")} >= {"sentiment-cloze-zh", "sentiment-3shot-zh"}
    assert all(t.kind == "few_shot" for t in store.list_templates(kind="few_shot"))
    assert {t.name for t in store.list_templates(tag="k3")} == {"sentiment-3shot-en", "sentiment-3shot-zh"}
    assert "cot" in store.template_tags()
    # the FTS index follows edits (sqlite-utils triggers)
    store.save_template(Template("sentiment-cloze-en", "prompt", "Review: {{ text }}\nPineapple verdict:"))
    assert [t.name for t in store.list_templates(search="pineapple")] == ["sentiment-cloze-en"]


def test_starter_library_loads_and_every_template_renders_with_its_dataset(store):
    from workbench.library.templates import render

    report = library_files.ensure_starter_library(store)
    assert report is not None and not report.problems
    assert library_files.ensure_starter_library(store) is None  # first start only
    datasets = {d["name"]: d for d in store.list_datasets()}
    assert datasets["sentiment-en"]["cases"] >= 30 and datasets["sentiment-zh"]["cases"] >= 30
    assert datasets["arithmetic-en"]["cases"] >= 20 and datasets["translation"]["cases"] >= 10
    kinds = {t.kind for t in store.list_templates()}
    assert kinds == {"prompt", "instruction", "few_shot", "chain_of_thought", "chat"}
    judge_variables = {"rubric": "R-1", "output": "O-2", "question": "Q-3", "reference": "F-4", "input": "I-5"}
    judge_variables |= {"criterion": "C-6", "a": "A-7", "b": "B-8"}
    for template in store.list_templates(tag="judge"):  # the judges' prompts: every variable they declare shows
        text = render(template, judge_variables).text
        assert all(judge_variables[v] in text for v in template.variables)
        asked = ["PASS" in text, "1 to 5" in text or "1 到 5" in text, "A or B" in text or "A 或 B" in text]
        assert sum(asked) == 1, (template.name, asked)  # a verdict, a 1-5 grade or a choice: exactly one
    for template in store.list_templates():
        if "judge" in template.tags:
            continue
        dataset = store.get_dataset(pick_dataset(template))
        for case in dataset.cases:
            text = render(template, case.vars).text
            assert text.strip() and "{{" not in text
    few = {t.name: t for t in store.list_templates(tag="few-shot")}
    assert [few[f"sentiment-{k}shot-en"].k for k in (0, 1, 3, 5)] == [0, 1, 3, 5]
    assert few["sentiment-0shot-en"].examples == few["sentiment-5shot-en"].examples  # one examples file


def pick_dataset(template: Template) -> str:
    lang = "zh" if "zh" in template.tags else "en"
    if "sentiment" in template.tags:
        return f"sentiment-{lang}"
    if "summary" in template.tags:
        return "summaries"
    if "translation" in template.tags:
        return "translation"
    return f"arithmetic-{lang}"


def test_export_then_import_round_trips_the_whole_library(store, tmp_path):
    library_files.import_dir(store, PROMPTS)
    library_files.export_dir(store, tmp_path / "out")
    other = Store(tmp_path / "other.sqlite")
    report = library_files.import_dir(other, tmp_path / "out")
    assert not report.problems
    assert set(report.templates.values()) == {"new"}
    for template in store.list_templates():
        assert other.get_template(template.name).content_key() == template.content_key()
    for summary in store.list_datasets():
        assert other.get_dataset(summary["name"]).cases == store.get_dataset(summary["name"]).cases
    again = library_files.import_dir(store, tmp_path / "out")  # idempotent: nothing changes
    assert set(again.templates.values()) == {"unchanged"} and set(again.datasets.values()) == {"unchanged"}


def test_bad_files_are_reported_with_place_and_the_rest_imported(store, tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "good.yaml").write_text("name: good\nkind: prompt\nbody: '{{ text }}'\n", encoding="utf-8")
    (folder / "broken.yaml").write_text("name: bad\nkind: prompt\nbody: [unclosed\n", encoding="utf-8")
    (folder / "evil.yaml").write_text("name: evil\nkind: prompt\nbody: '{% for %}'\n", encoding="utf-8")
    (folder / "odd.toml").write_text('name = "t"\nkind = "prompt"\nbody = "{{ text }}"\nsurprise = 1\n')
    lines = [
        '{"id": "1", "text": "ok", "expected": "positive"}',
        "{not json",
        '["a list"]',
        '{"id": "1", "text": "dup"}',
    ]
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = library_files.import_dir(store, folder)
    assert report.templates == {"good": "new"}
    assert report.datasets == {"cases": "new"}
    problems = "\n".join(report.problems)
    assert "broken.yaml:4: not valid YAML" in problems
    assert "evil.yaml: template evil, line 1: syntax error" in problems
    assert "odd.toml: unknown key(s) surprise" in problems
    assert "cases.jsonl:2: not JSON" in problems and "cases.jsonl:3: expected a JSON object" in problems
    assert "cases.jsonl:4: duplicate id '1'" in problems
    assert [c.id for c in store.get_dataset("cases").cases] == ["1"]


def test_csv_and_jsonl_datasets_round_trip(tmp_path):
    dataset = Dataset("d", [Case("1", {"text": 'a, "b"', "n": 2}, "x", ("x", "y")), Case("2", {"text": "多"}, None)])
    for suffix in (".jsonl", ".csv"):
        path = tmp_path / f"d{suffix}"
        write_dataset(dataset, path)
        back = read_dataset(path)
        assert [c.id for c in back.cases] == ["1", "2"] and not back.problems
        assert back.cases[0].expected == "x" and back.cases[0].choices == ("x", "y")
        assert back.cases[1].vars["text"] == "多" and back.cases[1].choices is None
    assert read_dataset(tmp_path / "d.jsonl").cases == dataset.cases
    with pytest.raises(InputError, match=r"\.jsonl or \.csv"):
        read_dataset(tmp_path / "d.txt")


def test_upgrade_from_schema_1_keeps_the_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    import sqlite_utils

    old = sqlite_utils.Database(path)
    _migration_1(old)
    old.execute("PRAGMA user_version = 1")
    old["runs"].insert(
        {
            "created_at": "2026-01-01",
            "kind": "generate",
            "model": "m",
            "model_path": "/m",
            "prompt": "p",
            "params": "{}",
            "prompt_tokens": 1,
        }
    )
    old.conn.commit()
    old.close()
    upgraded = Store(path)
    assert upgraded.schema_version == len(MIGRATIONS)
    assert upgraded.list_runs()[0].prompt == "p"
    upgraded.save_template(Template("t", "prompt", "{{ x }}"))
    assert upgraded.db["templates_fts"].exists()


def test_files_that_are_not_databases_are_never_overwritten(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"my precious notes, not a database" * 100)
    before = notes.read_bytes()
    with pytest.raises(StoreError, match=r"not a workbench database.*left untouched"):
        Store(notes)
    assert notes.read_bytes() == before


def test_read_only_and_locked_databases_give_clear_errors(tmp_path):
    path = tmp_path / "wb.sqlite"
    Store(path).close()
    os.chmod(path, stat.S_IRUSR)
    os.chmod(tmp_path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.geteuid() == 0:
            pytest.skip("root ignores file permissions")
        with pytest.raises(StoreError, match="read-only"):
            Store(path).save_template(Template("t", "prompt", "x"))
    finally:
        os.chmod(tmp_path, stat.S_IRWXU)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def test_sqlite_messages_become_advice(tmp_path):
    from workbench.store.base import explain

    path = tmp_path / "x.sqlite"
    assert "is read-only" in explain(path, sqlite3.OperationalError("attempt to write a readonly database"))
    assert "locked by another program" in explain(path, sqlite3.OperationalError("database is locked"))
    assert "left untouched" in explain(path, sqlite3.DatabaseError("file is not a database"))


def test_a_locked_database_says_so(tmp_path, monkeypatch):
    from workbench.store import base

    monkeypatch.setattr(base, "BUSY_TIMEOUT_S", 0.5)  # it waits 15 s for the other process before saying so
    path = tmp_path / "wb.sqlite"
    Store(path).close()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program"):
            Store(path).save_template(Template("t", "prompt", "x"))
    finally:
        holder.rollback()
        holder.close()


def test_template_json_columns_are_plain_json(store):
    store.save_template(Template("t", "few_shot", "{{ x }}", examples=({"a": "多"},), variables=("x",)))
    row = next(store.db["template_versions"].rows)
    assert json.loads(row["examples"]) == [{"a": "多"}] and json.loads(row["variables"]) == ["x"]
