"""`workbench templates` and `workbench datasets` as a user runs them."""

from __future__ import annotations

import json


def test_first_use_imports_the_starter_library_and_lists_it(cli):
    listing = cli("templates", "list", "--json")
    assert listing.code == 0, listing.stderr
    rows = {row["name"]: row for row in listing.json()}
    assert rows["sentiment-3shot-en"] == {
        "name": "sentiment-3shot-en",
        "kind": "few_shot",
        "version": 1,
        "variables": ["text"],
        "tags": ["sentiment", "en", "few-shot", "k3"],
        "description": rows["sentiment-3shot-en"]["description"],
    }
    datasets = {d["name"]: d for d in cli("datasets", "list", "--json").json()}
    assert datasets["arithmetic-zh"]["cases"] == 20 and datasets["arithmetic-zh"]["variables"] == ["question"]
    assert cli("templates", "list", "--kind", "chain_of_thought", "--json").json()
    found = cli("templates", "list", "--search", "TL;DR", "--json").json()
    assert found[0]["name"].startswith("summarise")


def test_render_with_vars_case_and_k(cli):
    result = cli("templates", "render", "sentiment-5shot-en", "--case", "sentiment-en:en21", "--k", "1", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["prompt"].count("Sentence:") == 2
    assert "The plot made no sense" in document["prompt"]
    assert document["tokens"] > 10 and f"{document['tokens']} tokens" in result.stderr
    direct = cli("templates", "render", "translate-instruction", "--var", "text=Hi", "--var", "target_language=Chinese")
    assert direct.stdout.strip() == "Translate the following text into Chinese.\nText: Hi\nChinese:"


def test_show_history_and_a_changed_file_is_a_new_version(cli, tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    path = folder / "mine.yaml"
    path.write_text("name: mine\nkind: prompt\nvariables: [text]\nbody: 'A {{ text }}'\n", encoding="utf-8")
    assert cli("templates", "import", str(folder), "--json").json()["templates"] == {"mine": "new"}
    path.write_text("name: mine\nkind: prompt\nvariables: [text]\nbody: 'B {{ text }}'\n", encoding="utf-8")
    assert cli("templates", "import", str(folder), "--json").json()["templates"] == {"mine": "version"}
    assert cli("templates", "import", str(folder), "--json").json()["templates"] == {"mine": "unchanged"}
    history = cli("templates", "history", "mine", "--json").json()
    assert [(v["version"], v["body"]) for v in history] == [(2, "B {{ text }}"), (1, "A {{ text }}")]
    assert cli("templates", "show", "mine", "--version", "1", "--json").json()["body"] == "A {{ text }}"


def test_export_import_round_trip_through_the_cli(cli, tmp_path):
    out = tmp_path / "export"
    assert cli("templates", "export", str(out), "--json").code == 0
    assert (out / "templates" / "sentiment-cloze-zh.yaml").is_file()
    assert (out / "datasets" / "sentiment-zh.jsonl").read_text(encoding="utf-8").count("\n") == 30
    again = cli("templates", "import", str(out), "--json").json()
    assert set(again["templates"].values()) == {"unchanged"} and set(again["datasets"].values()) == {"unchanged"}


def test_dataset_import_show_export_csv(cli, tmp_path):
    source = tmp_path / "mini.csv"
    source.write_text('id,text,expected,choices\n1,"good, really",positive,"[""positive"", ""negative""]"\n2,bad,,\n')
    imported = cli("datasets", "import", str(source), "--json")
    assert imported.code == 0, imported.stderr
    assert imported.json() == {"name": "mini", "status": "new", "cases": 2, "problems": []}
    shown = cli("datasets", "show", "mini", "--json").json()
    assert shown["cases"][0] == {
        "id": "1",
        "text": "good, really",
        "expected": "positive",
        "choices": ["positive", "negative"],
    }
    assert shown["cases"][1] == {"id": "2", "text": "bad"}
    assert cli("datasets", "export", "mini", str(tmp_path / "back.jsonl")).code == 0
    lines = (tmp_path / "back.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["choices"] == ["positive", "negative"]
    renamed = cli("datasets", "import", str(tmp_path / "back.jsonl"), "--name", "mini2", "--json").json()
    assert renamed["name"] == "mini2"


def test_bad_inputs_are_one_line_errors(cli, tmp_path):
    bad_lines = tmp_path / "bad.jsonl"
    bad_lines.write_text('{"text": "fine"}\n{oops\n', encoding="utf-8")
    result = cli("datasets", "import", str(bad_lines), "--json")
    assert result.code == 1 and "bad.jsonl:2: not JSON" in result.stderr
    assert result.json()["cases"] == 1  # the valid rest is imported
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: huge\nkind: prompt\nbody: |\n  " + "word " * 5000 + "{{ text }}\n", encoding="utf-8")
    cli("templates", "import", str(tmp_path))
    cases = {
        ("templates", "show", "nope"): "no template named 'nope'",
        ("templates", "render", "arithmetic-direct-en"): "missing variable question",
        ("templates", "render", "arithmetic-direct-en", "--var", "question"): "--var takes NAME=VALUE",
        ("templates", "render", "arithmetic-direct-en", "--case", "arithmetic-en:zz"): "has no case 'zz'",
        ("templates", "render", "arithmetic-direct-en", "--case", "nodata:1"): "no dataset named 'nodata'",
        ("templates", "render", "huge", "--var", "text=x", "--n-ctx", "2048"): "more than the context of 2,048",
        ("templates", "import", str(tmp_path / "missing")): "not a folder",
        ("datasets", "import", str(tmp_path / "x.txt")): ".jsonl or .csv",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.code == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_database_that_is_not_sqlite_is_left_alone(cli, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("not a database " * 200)
    result = cli("--db", str(precious), "templates", "list")
    assert result.code == 1 and "not a workbench database" in result.stderr
    assert precious.read_text() == "not a database " * 200


def test_templates_diff_shows_what_changed_between_versions(cli, tmp_path):
    assert cli("templates", "list").code == 0  # imports the starter library
    exported = tmp_path / "lib"
    assert cli("templates", "export", str(exported)).code == 0
    path = exported / "templates" / "translate-instruction.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Translate", "Please translate"), encoding="utf-8")
    assert cli("templates", "import", str(exported)).code == 0
    result = cli("templates", "diff", "translate-instruction", "1", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["from"], document["to"]) == (1, 2)
    assert any(line.startswith("-") and "Translate" in line for line in document["diff"])
    assert any(line.startswith("+") and "Please translate" in line for line in document["diff"])
    same = cli("templates", "diff", "translate-instruction", "2", "2")
    assert same.code == 0 and "have the same body" in same.stdout
    missing = cli("templates", "diff", "translate-instruction", "9")
    assert missing.code == 1 and "version 9" in missing.stderr
