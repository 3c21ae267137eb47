"""Against llama.cpp's own `llama-server` (built from the same llama.cpp sources as the engine; dev.py builds it
once into bench/.cache): started with the README's flags, a grid gives the local run's summary, and a server
model's N samples go in flight at once from the CLI and from the window, with the same records."""

from __future__ import annotations

import re
import sys
import urllib.request
from pathlib import Path

import pytest
from windows import open_window, run_playground  # the window shares the CLI's database: it sees "lab"

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import llama_server  # noqa: E402

from workbench import models  # noqa: E402
from workbench.store import Store  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if llama_server.binary() is None:
        pytest.fail("llama-server is not built: python3 dev.py test builds it (bench/llamacpp_tools.py llama-server)")
    folder = tmp_path_factory.mktemp("llama-cpp-server")
    process, url = llama_server.start(
        str(models.default_model_path()), "gemma", folder, [*llama_server.README_FLAGS, "--metrics"]
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


def first_token_logprobs(store: Store, experiment_id: int) -> dict[tuple[str, str], dict[str, float]]:
    """Each cell's first step: the top alternatives' log-probabilities by token text."""
    return {
        (run["template"], run["case_id"]): {alt["text"]: alt["logprob"] for alt in run["tokens"][0]["top"]}
        for run in store.experiment_runs(experiment_id)
    }


def test_the_readme_flags_give_numbers_within_the_measured_gap(cli, server, isolated_db):
    """llama-server is not bit-identical to the in-process engine (bench/bench_server_flags.py: 56-57 of 60
    outputs equal with every flag set tried, the same 48 prompt tokens give log-probabilities up to ~0.1 nats
    apart), so the README promises the measured gap: every cell's first-token alternatives within
    SERVER_GAP nats of the local ones, and the grid's accuracy inside the local 95% interval."""
    cases = ROOT / "tests" / "data" / "sentiment-en-10.jsonl"
    grid = ["compare", "--templates", "sentiment-instruction-en,sentiment-3shot-en", "--dataset", str(cases)]
    grid += ["--max-tokens", "4", "--parallel", "4", "--top-logprobs", "5", "--json"]
    local = cli(*grid, "--model", models.DEFAULT_MODEL_NAME, timeout=300)
    remote = cli(*grid, "--backend", "openai", "--base-url", server, "--model", "gemma", timeout=300)
    assert local.code == 0 and remote.code == 0, local.stderr + remote.stderr
    here, there = local.json(), remote.json()
    assert here["done"] == there["done"] == 20
    store = Store(isolated_db)
    ours, theirs = (first_token_logprobs(store, d["experiment_id"]) for d in (here, there))
    assert ours.keys() == theirs.keys() and len(ours) == 20
    gaps = [abs(ours[cell][text] - theirs[cell][text]) for cell in ours for text in ours[cell].keys() & theirs[cell]]
    assert len(gaps) >= 60 and max(gaps) <= llama_server.SERVER_GAP
    for local_row, server_row in zip(here["summary"], there["summary"], strict=True):
        assert local_row["template"] == server_row["template"]
        assert local_row["ci_low"] <= server_row["accuracy"] <= local_row["ci_high"]


def kept_record(store: Store, run_id: int) -> tuple:
    """What the history keeps of a run, less what the server's batching moves (its texts and numbers: a
    request decoded beside others takes other kernels, so two runs of the same seeds differ in the last bits)."""
    run = store.get_run(run_id)
    samples = [(s["idx"], s["seed"], bool(s["tokens"])) for s in run["samples"]]
    return run["model"], run["prompt"], run["params"], run["prompt_tokens"], samples


def test_a_server_models_samples_go_in_flight_from_the_cli_and_the_window(cli, server, qtbot, tmp_path, isolated_db):
    assert cli("connections", "add", "lab", "--base-url", server, "--model", "gemma").code == 0
    checked = cli("connections", "check", "lab", "--json")
    assert checked.code == 0, checked.stderr
    report = checked.json()
    assert report["server"] == "llama.cpp" and report["props"]["total_slots"] == 4
    assert report["props"]["model_path"] == str(models.default_model_path())
    assert "-no-kvu --no-cache-prompt" in report["numbers"] and "close, not identical" in report["numbers"]
    sampled = ["-p", "Once upon a time", "-n", "12", "--samples", "3", "--seed", "7", "--temperature", "0.9"]
    before = counters(server)
    result = cli("generate", "--connection", "lab", *sampled, "--parallel", "3", "--json")
    assert result.code == 0, result.stderr
    from_cli = [[t["text"] for t in s["tokens"]] for s in result.json()["samples"]]
    after_cli = counters(server)
    assert decoded_together(before, after_cli)

    window = open_window(qtbot, tmp_path, models.resolve(models.INSTRUCT_MODEL_NAME).path)
    try:
        window.fill_model_picker()
        window.load_model("connection:lab")
        qtbot.waitUntil(lambda: window.model_info is not None and window.model_info.source == "remote", timeout=30_000)
        columns = run_playground(qtbot, window, "Once upon a time", max_tokens=12, samples=3, temperature=0.9, seed=7)
        from_window = [[t.text for t in tokens] for tokens in columns]
        assert window.errors == []
    finally:
        window.close()
    assert len(from_window) == len(from_cli) == 3 and all(from_window + from_cli)
    store = Store(isolated_db)
    window_run, cli_run = (summary.id for summary in store.list_runs(2))
    assert [r.kind for r in store.list_runs(2)] == ["playground", "generate"]
    assert kept_record(store, window_run) == kept_record(store, cli_run)
    assert [s["seed"] for s in store.get_run(cli_run)["samples"]] == [7, 8, 9]
    assert decoded_together(after_cli, counters(server))  # the window's samples were in flight together too
