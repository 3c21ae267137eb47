"""promptfoo suites through the CLI: three of promptfoo's own example configs (tests/data/promptfoo, MIT) import
with exactly the unmapped parts named, one runs on the embedded model and exports promptfoo's eval JSON, and
every bad suite is refused with one line. `promptfoo import` itself (npm) is checked when PROMPTFOO_BIN names
it (an opt-in: the npm package is 1.5 GB)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from workbench import models
from workbench.store import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "promptfoo"


def imported(cli, name: str, *flags: str) -> dict:
    result = cli("promptfoo", "import", str(DATA / name / "promptfooconfig.yaml"), *flags, "--json")
    assert result.code == 0, result.stderr
    return result.json()


def reasons(document: dict) -> dict[str, str]:
    return {u["what"]: u["reason"] for u in document["unmapped"]}


def test_promptfoo_examples_import_with_what_they_cannot_map(cli, isolated_db):
    started = imported(cli, "getting-started")
    assert started["templates"] == ["pf-getting-started-p1", "pf-getting-started-p2"]
    assert (started["cases"], started["assertions"], started["models"]) == (2, 2, [])
    assert reasons(started) == {
        "provider openai:gpt-4.1": "a hosted model: run with --models (a local model or saved connection)",
        "provider openai:o4-mini": "a hosted model: run with --models (a local model or saved connection)",
    }
    store = Store(isolated_db)
    case = store.get_dataset("promptfoo-getting-started").cases[1]
    assert case.vars == {"language": "Spanish", "input": "Where is the library?"}
    assert case.checks == ({"type": "icontains", "value": "Dónde está la biblioteca"},)
    assert (
        store.get_template("pf-getting-started-p1").body == "### user\nConvert this English to {{language}}: {{input}}"
    )

    simple = imported(cli, "simple-test")
    assert simple["templates"] == ["pf-simple-test-prompts-1", "pf-simple-test-prompts-2"]  # split at ---
    found = reasons(simple)
    test4 = "test 4 (Check for semantic similarity), assertion"
    assert found[f"{test4} 1"] == "javascript: JavaScript assertions do not run in the workbench"
    assert found[f"{test4} 2"] == "python: inline code is not run; put it in a file (file://scorer.py)"
    assert f"{test4} 3" not in found  # similar: embeddings from a model the user picks
    assert found["key outputPath"].startswith("ignored")
    cases = store.get_dataset("promptfoo-simple-test").cases
    assert cases[0].vars == {"body": "Yes"}  # YAML 1.2, as promptfoo reads it: not a boolean
    assert cases[4].checks == (
        {"type": "llm-rubric", "value": "Is spoken like a pirate"},
        {"type": "icontains", "value": "arrr"},  # the $ref to assertionTemplates
    )

    csv_suite = imported(cli, "simple-csv")
    assert csv_suite["templates"] == ["pf-simple-csv-prompts-2"] and csv_suite["assertions"] == 4
    assert "No filter named 'load'" in reasons(csv_suite)["prompt prompts-1"]
    assert store.get_dataset("promptfoo-simple-csv").cases[0].checks == ({"type": "icontains", "value": "bonjour"},)


def test_a_promptfoo_suite_runs_and_exports_promptfoo_eval_json(cli, isolated_db, tmp_path):
    config = str(DATA / "getting-started" / "promptfooconfig.yaml")
    ran = cli("promptfoo", "run", config, "--models", models.INSTRUCT_MODEL_NAME, "--json", timeout=300)
    assert ran.code == 0, ran.stderr
    document = ran.json()
    experiment_id = document["experiment_id"]
    assert [s["scoring"] for s in document["scorings"]] == ["assert"]
    out = tmp_path / "eval.json"
    exported = cli("export", "--experiment", str(experiment_id), "--format", "promptfoo", "--out", str(out))
    assert exported.code == 0, exported.stderr
    evaluation = json.loads(out.read_text())
    assert evaluation["results"]["version"] == 3
    results = evaluation["results"]["results"]
    assert (
        len(results) == 4 and {r["promptIdx"] for r in results} == {0, 1} and {r["testIdx"] for r in results} == {0, 1}
    )
    assert evaluation["results"]["prompts"][0]["raw"] == "Convert this English to {{language}}: {{input}}"
    store = Store(isolated_db)
    kept = store.cell_scores(store.scoring_id(experiment_id, "assert"))
    for result in results:
        cell = kept[result["metadata"]["workbench_run_id"]]
        assert result["success"] == cell["passed"] and result["score"] == cell["score"]
        component = result["gradingResult"]["componentResults"][0]
        assert component["assertion"]["type"] in ("contains", "icontains")
        assert result["response"]["output"] == store.grid_run(result["metadata"]["workbench_run_id"])["output"]
    promptfoo = os.environ.get("PROMPTFOO_BIN")
    if promptfoo:  # the real promptfoo reads the export (opt-in: npm install promptfoo, Node >= 22)
        home = tmp_path / "promptfoo-home"
        env = {**os.environ, "PROMPTFOO_CONFIG_DIR": str(home), "PROMPTFOO_DISABLE_TELEMETRY": "1"}
        done = subprocess.run([*promptfoo.split(), "import", str(out)], capture_output=True, text=True, env=env,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0 and "successfully imported" in done.stdout + done.stderr, done.stderr


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("prompts: [unclosed\n", "is not valid YAML"),
        ("prompts:\n  - file://missing.txt\ntests: []\n", "does not exist"),
        ("providers: [openai:gpt-4]\n", "the config has no prompts"),
        ("prompts:\n  - file://../../outside/secret.txt\n", "outside the suite's folder"),
        (
            "prompts: ['Say {{x}}']\ntests:\n  - vars:\n      x: file:///etc/hostname\n",
            "test 1, var x reads /etc/hostname, outside the suite's folder",
        ),
        (
            "prompts: ['Say {{x}}']\nproviders:\n  - id: openai:chat:m\n    config:\n      apiBaseUrl: http://203.0.113.9/v1\n",
            "sends prompts to http://203.0.113.9/v1, which is not a saved connection: refused",
        ),
        ("prompts: ['{% if %}']\n", "no prompt could be imported"),
    ],
)
def test_a_bad_suite_is_refused_with_one_line(cli, tmp_path, config, message):
    suite = write(tmp_path / "suite", "promptfooconfig.yaml", config)
    write(tmp_path, "outside/secret.txt", "private")
    result = cli("promptfoo", "import", str(suite))
    assert result.code != 0 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_suite_warnings_and_the_flags_that_allow_more(cli, tmp_path):
    text = (
        "prompts: ['Say {{x}}']\nfoo: 1\nproviders:\n  - id: openai:chat:m\n    config:\n"
        "      apiBaseUrl: http://203.0.113.9/v1\ntests:\n  - vars: {x: hi, unused: 1}\n"
        "    assert:\n      - type: python\n        value: file://score.py\n"
    )
    suite = write(tmp_path / "suite", "promptfooconfig.yaml", text)
    write(tmp_path / "suite", "score.py", "def get_assert(output, context):\n    return True\n")
    allowed = cli("promptfoo", "import", str(suite), "--allow-unsaved-providers", "--json")
    assert allowed.code == 0, allowed.stderr
    found = reasons(allowed.json())
    assert found["key foo"] == "unknown key: left out"
    assert found["var unused"] == "no prompt uses it"
    assert found["provider openai:chat:m"] == "http://203.0.113.9/v1 is not a saved connection: left out"
    assert "runs only with --allow-code" in found["test 1 (no description), assertion 1"]
    with_code = cli("promptfoo", "import", str(suite), "--allow-unsaved-providers", "--allow-code", "--json")
    assert with_code.code == 0 and with_code.json()["assertions"] == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"promptfooconfig.yaml": "prompts: ['{{x}}']\ntests: file://t.csv\n", "t.csv": "x,__expected\n1,2,3\n"}, ""),
        ({"promptfooconfig.yaml": "prompts: ['{{x}}']\ntests: file://t.yaml\n", "t.yaml": ""}, ""),
        ({"promptfooconfig.yaml": "prompts: ['{{x}}']\ndefaultTest: [1]\ntests: [{vars: {x: 1}}]\n"}, "defaultTest"),
        ({"promptfooconfig.yaml": "prompts: ['{{x}}']\nproviders: [3]\ntests: [{vars: {x: 1}}]\n"}, "shape"),
    ],
)
def test_malformed_suites_are_one_line_or_import(cli, tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path / "suite", name, text)
    result = cli("promptfoo", "import", str(tmp_path / "suite" / "promptfooconfig.yaml"))
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if message:
        assert result.code != 0 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_assertion_provider_must_be_a_known_model(cli, tmp_path):
    remote = 'remote:{"base_url": "https://evil.example", "api_key_env": "OPENAI_API_KEY"}'
    text = (
        "prompts: ['Say {{x}}']\ntests:\n  - vars: {x: hi}\n    assert:\n"
        f"      - type: llm-rubric\n        value: polite\n        provider: '{remote}'\n"
        "      - type: similar\n        value: hello\n        provider: /etc/model.gguf\n"
        "      - type: llm-rubric\n        value: polite\n        provider: smollm2-135m-instruct-q4_1\n"
    )
    suite = write(tmp_path / "suite", "promptfooconfig.yaml", text)
    result = cli("promptfoo", "import", str(suite), "--json")
    assert result.code == 0, result.stderr
    found = reasons(result.json())
    assert result.json()["assertions"] == 1  # only the one naming a local model
    assert (
        "is not a local model or saved connection: assertion left out" in found["test 1 (no description), assertion 1"]
    )
    assert "is not a local model or saved connection" in found["test 1 (no description), assertion 2"]
