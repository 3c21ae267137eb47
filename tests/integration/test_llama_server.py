"""Against llama.cpp's own `llama-server` (built from the same llama.cpp sources as the engine; dev.py builds it
once into bench/.cache): started with the README's flags, a grid gives the local run's summary, and a server
model's N samples go in flight at once from the CLI and from the window, with the same records."""

from __future__ import annotations

import json
import re
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import llama_server  # noqa: E402

from workbench import models  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if llama_server.binary() is None:
        pytest.fail("llama-server is not built: python3 dev.py test builds it (bench/llamacpp_tools.py llama-server)")
    folder = tmp_path_factory.mktemp("llama-cpp-server")
    process, url = llama_server.start(
        str(models.default_model_path()), "gemma", folder, [*llama_server.SAME_NUMBERS, "--metrics"]
    )
    yield url
    llama_server.stop(process)


def counters(url: str) -> tuple[float, float]:
    """(tokens generated, decode calls) since the server started, from its /metrics."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/metrics", timeout=10) as answer:
        text = answer.read().decode()

    def value(name: str) -> float:
        return float(re.search(rf"^llamacpp:{name} ([0-9.e+-]+)", text, re.M).group(1))

    return value("tokens_predicted_total"), value("n_decode_total")


def decoded_together(before: tuple[float, float], after: tuple[float, float]) -> bool:
    """More tokens generated than decode calls made: some calls decoded several requests at once."""
    return after[0] - before[0] > after[1] - before[1] > 0


def test_the_readme_flags_give_the_local_summary(cli, server, tmp_path):
    cases = ROOT / "tests" / "data" / "sentiment-en-10.jsonl"
    grid = ["compare", "--templates", "sentiment-instruction-en,sentiment-3shot-en", "--dataset", str(cases)]
    grid += ["--max-tokens", "4", "--parallel", "4", "--json"]
    local = cli(*grid, "--model", models.DEFAULT_MODEL_NAME, timeout=300)
    remote = cli(*grid, "--backend", "openai", "--base-url", server, "--model", "gemma", timeout=300)
    assert local.code == 0 and remote.code == 0, local.stderr + remote.stderr
    here, there = local.json(), remote.json()
    assert here["done"] == there["done"] == 20
    columns = ["template", "accuracy", "ci_low", "ci_high", "n", "failures", "majority_accuracy", "agreement"]
    assert [[r[c] for c in columns] for r in here["summary"]] == [[r[c] for c in columns] for r in there["summary"]]
    exported = [cli("export", "--experiment", str(d["experiment_id"])).stdout.splitlines() for d in (here, there)]
    outputs = [[(r["template"], r["case_id"], r["output"]) for r in map(json.loads, rows)] for rows in exported]
    assert outputs[0] == outputs[1]


def test_a_server_models_samples_go_in_flight_from_the_cli_and_the_window(cli, server, qtbot, tmp_path):
    from windows import open_window  # the window shares the CLI's database (WORKBENCH_DB): it sees "lab"

    assert cli("connections", "add", "lab", "--base-url", server, "--model", "gemma").code == 0
    checked = cli("connections", "check", "lab", "--json")
    assert checked.code == 0, checked.stderr
    report = checked.json()
    assert report["server"] == "llama.cpp" and report["props"]["total_slots"] == 4
    assert report["props"]["model_path"] == str(models.default_model_path())
    assert "-no-kvu --no-cache-prompt" in report["same_numbers"]
    sampled = ["-p", "Once upon a time", "-n", "12", "--samples", "3", "--seed", "7", "--temperature", "0.9"]
    before = counters(server)
    result = cli("generate", "--connection", "lab", *sampled, "--parallel", "3", "--json")
    assert result.code == 0, result.stderr
    from_cli = [[(t["text"], t["logprob"]) for t in s["tokens"]] for s in result.json()["samples"]]
    after_cli = counters(server)
    assert decoded_together(before, after_cli)

    window = open_window(qtbot, tmp_path, models.resolve(models.INSTRUCT_MODEL_NAME).path)
    try:
        window.fill_model_picker()
        window.load_model("connection:lab")
        qtbot.waitUntil(lambda: window.model_info is not None and window.model_info.source == "remote", timeout=30_000)
        playground = window.playground
        window.tabs.setCurrentWidget(playground)
        qtbot.waitUntil(playground.run_button.isEnabled, timeout=10_000)
        playground.prompt.setPlainText("Once upon a time")
        playground.max_tokens.set_value(12)
        playground.samples.set_value(3)
        playground.temperature.set_value(0.9)
        playground.random_seed.setChecked(False)
        playground.seed.setValue(7)
        playground.run()
        qtbot.waitUntil(
            lambda: playground.run_button.isEnabled() and all(c.view.tokens for c in playground.columns[:3]),
            timeout=60_000,
        )
        from_window = [[(t.text, t.logprob) for t in c.view.tokens] for c in playground.columns[:3]]
        assert window.errors == []
    finally:
        window.close()
    assert from_window == from_cli
    assert decoded_together(after_cli, counters(server))  # the window's samples were in flight together too
