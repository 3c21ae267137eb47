"""The remote engine against a real OpenAI-compatible server on 127.0.0.1 (llama-cpp-python's, with the
embedded models) and, for failures on purpose, a real misbehaving HTTP server.

Tolerance: the server and the local engine evaluate the same tokens with the same llama.cpp arithmetic
(reference numerics, weights not repacked: batch-invariant), so their logits agree; the server turns them
into log-probabilities in float32, the workbench in float64, so a log-probability differs by about 1e-7
(measured: median 4e-8, max 2.2e-4 over 172 tokens of a 60-cell grid). We allow 1e-3.

llama.cpp computes a batch of fewer than 8 rows with other kernels than a larger one (0.25 apart in a
log-probability, measured): label-likelihood scoring evaluates prompt and continuation in one batch on the
server, the context alone locally, so its test prompt is long enough that both batches are 8 rows or more.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
from misbehaving_server import MisbehavingServer

from workbench import experiments, models
from workbench.engine.base import NO_PROBABILITIES, RAW_ONLY, GenerationRequest, SamplingParams
from workbench.engine.openai_compat.backend import RemoteBackend
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.engine.openai_compat.records import UNKNOWN_ID
from workbench.errors import RemoteError, UnsupportedError
from workbench.library import files as library_files
from workbench.library.datasets import Dataset
from workbench.store import Store
from workbench.text.tokenizers import get_tokenizer

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-3
GREEDY = SamplingParams(temperature=0.0, seed=1)


@pytest.fixture(scope="module")
def remote(llama_server):
    engine = RemoteBackend(Endpoint(llama_server, "gemma"))
    yield engine
    engine.close()


@pytest.fixture
def fake():
    server = MisbehavingServer()
    yield server
    server.close()


@pytest.mark.parametrize("prompt", ["The capital of France is", "台湾最高的山是"])
def test_completion_logprobs_equal_the_local_engine(remote, backend, prompt):
    request = GenerationRequest(prompt, GREEDY, max_tokens=4, top_logprobs=5)
    there, here = remote.generate(request), backend.generate(request)
    assert there.text == here.text and len(there.tokens) == len(here.tokens)
    for far, near in zip(there.tokens, here.tokens, strict=True):
        assert far.probabilities == RAW_ONLY and not far.has_sampled and math.isnan(far.logprob_sampled)
        assert far.id == UNKNOWN_ID  # the completions API names tokens by text only
        assert abs(far.logprob - near.logprob) < TOLERANCE
        alternatives = {t.text: t.logprob for t in near.top if t.text}
        shared = [t for t in far.top if t.text in alternatives]
        assert shared and all(abs(t.logprob - alternatives[t.text]) < TOLERANCE for t in shared)


def test_streaming_reports_tokens_as_they_come_and_cancel_closes_the_stream(remote):
    seen = []

    def on_token(step):
        seen.append(step)
        if len(seen) == 2:
            remote.cancel()

    generation = remote.generate(GenerationRequest("Once upon a time", GREEDY, max_tokens=40), on_token)
    assert generation.finish_reason == "cancelled"
    assert 2 <= len(generation.tokens) < 40 and list(generation.tokens) == seen
    again = remote.generate(GenerationRequest("Once upon a time", GREEDY, max_tokens=3))  # cancel is not sticky
    assert again.finish_reason == "length" and len(again.tokens) == 3


def test_chat_goes_through_chat_completions(llama_server):
    engine = RemoteBackend(Endpoint(llama_server, "smol"))
    try:
        messages = [{"role": "user", "content": "Name one colour of the sky."}]
        generation = engine.chat(messages, GenerationRequest("-", GREEDY, max_tokens=12, top_logprobs=3))
    finally:
        engine.close()
    assert generation.text.strip() and generation.finish_reason in ("stop", "length")
    assert generation.tokens and all(t.probabilities == RAW_ONLY for t in generation.tokens)
    assert "".join(t.text for t in generation.tokens) == generation.text
    assert all(t.top and -30 < t.logprob <= 0 for t in generation.tokens)


def test_models_are_listed_and_named(llama_server):
    with pytest.raises(RemoteError, match="serves 2 models; name one with --model"):
        RemoteBackend(Endpoint(llama_server))
    with pytest.raises(RemoteError, match="does not serve the model 'nope' \\(it has: gemma, smol\\)"):
        RemoteBackend(Endpoint(llama_server, "nope"))


def test_tokenizer_is_the_servers_and_equals_the_local_vocabulary(remote):
    text = "Tokens are not words: 人工智慧真神奇!"
    local = get_tokenizer(models.DEFAULT_MODEL_NAME)
    assert remote.tokenize(text, add_bos=False) == local.encode(text)
    assert remote.tokenize(text, add_bos=True) == local.encode(text, bos=True)
    assert remote.token_bytes(local.encode("Tokens")[0]) == b"Tokens"


def test_label_likelihood_uses_echoed_prompt_logprobs(remote, backend, llama_server):
    prompt = "Review: I loved it.\nSentiment:"  # 10 tokens: llama.cpp takes the same kernel for 10 and 11 rows
    choices = [" positive", " negative"]
    there = remote.continuation_logprobs(prompt, choices)
    here = backend.continuation_logprobs(prompt, choices)
    smol = RemoteBackend(Endpoint(llama_server, "smol"))
    with pytest.raises(UnsupportedError, match="misaligns echoed log-probabilities for a model without a BOS"):
        smol.continuation_logprobs(prompt, choices)  # llama-cpp-python pairs them with the wrong tokens
    assert all(abs(a - b) < TOLERANCE for a, b in zip(there, here, strict=True))


def test_whole_vocabulary_views_say_why_they_are_unavailable(remote):
    with pytest.raises(UnsupportedError, match="whole vocabulary"):
        remote.next_token("Hello", GREEDY)
    with pytest.raises(UnsupportedError, match="numeric configuration"):
        remote.sibling("fast")
    with pytest.raises(UnsupportedError, match="token ids"):
        remote.generate(GenerationRequest("x", GREEDY, prompt_ids=(2, 3)))


# -- grids --------------------------------------------------------------------------------------
def _mini_dataset(path, cases: int = 5):
    lines = (ROOT / "prompts" / "datasets" / "sentiment-en.jsonl").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:: max(1, len(lines) // cases)][:cases]) + "\n", encoding="utf-8")
    return path


def test_compare_gives_the_same_summary_locally_and_on_the_server(cli, llama_server, tmp_path):
    dataset = _mini_dataset(tmp_path / "mini.jsonl", cases=4)
    grid = ["compare", "--templates", "sentiment-instruction-en,sentiment-3shot-en"]
    grid += ["--dataset", str(dataset), "--max-tokens", "4", "--parallel", "4", "--json"]
    local = cli(*grid, "--model", models.INSTRUCT_MODEL_NAME, timeout=300)
    remote = cli(*grid, "--backend", "openai", "--base-url", llama_server, "--model", "smol", timeout=300)
    assert local.code == 0 and remote.code == 0, local.stderr + remote.stderr
    here, there = local.json(), remote.json()
    assert here["done"] == there["done"] == here["total"] == 8 and here["summary"][0]["failures"] == 0
    columns = ["template", "accuracy", "ci_low", "ci_high", "n", "failures", "majority_accuracy", "agreement"]
    assert [[row[c] for c in columns] for row in here["summary"]] == [
        [row[c] for c in columns] for row in there["summary"]
    ]
    assert [(p["a"], p["b"], p["p_value"]) for p in here["pairwise"]] == [
        (p["a"], p["b"], p["p_value"]) for p in there["pairwise"]
    ]
    assert all(row["numerics"] == ["server"] for row in there["summary"])


@pytest.fixture
def grid_store(tmp_path):
    store = Store(tmp_path / "grid.sqlite")
    library_files.ensure_starter_library(store)
    store.save_dataset(Dataset("mini", store.get_dataset("sentiment-en").cases[:8]))
    yield store
    store.close()


def test_server_killed_mid_grid_fails_cells_and_resume_completes_them_once(grid_store, tmp_path):
    from serve_llama_cpp_python import free_port, start_server, stop_server

    port = free_port()
    smol = str(models.embedded_path(models.INSTRUCT_MODEL_NAME))
    process, url = start_server({"smol": smol}, tmp_path, port=port)
    endpoint = Endpoint(url, "smol", timeout_s=20, max_retries=1)
    spec = experiments.GridSpec(
        ["sentiment-instruction-en", "sentiment-3shot-en"],
        "mini",
        [experiments.Config(GREEDY, max_tokens=6)],
        models=[endpoint.ref()],
    )
    experiment_id = experiments.plan(grid_store, spec)
    finished: list[int] = []

    def on_cell(cell):
        finished.append(cell["id"])
        if len(finished) == 3:
            process.kill()  # the server dies with requests in flight

    def engine(path):
        return RemoteBackend(Endpoint(**{**endpoint.__dict__}), 4)

    try:
        with pytest.raises(
            RemoteError, match=f"cannot reach .*resume with: workbench compare --resume {experiment_id}"
        ):
            experiments.run(grid_store, experiment_id, engine, on_cell=on_cell, parallel=4)
        state = grid_store.experiment(experiment_id)
        assert state["status"] == "stopped" and state["done_cells"] >= 3 and state["failed_cells"] >= 1
        failed = [r for r in grid_store.experiment_runs(experiment_id, done_only=False) if r["status"] == "failed"]
        assert failed and all(r["error"].startswith("cannot reach") for r in failed)
        process.wait()
        process, _ = start_server({"smol": smol}, tmp_path, port=port)
        assert experiments.run(grid_store, experiment_id, engine, on_cell=on_cell, parallel=4) == "done"
    finally:
        stop_server(process)
    runs = grid_store.experiment_runs(experiment_id, done_only=False)
    assert len(runs) == 16 and all(r["status"] == "done" for r in runs)
    assert all(r["error"] is None for r in runs)  # a retried cell that succeeded keeps no old error
    report = experiments.summarize(grid_store, experiment_id)
    assert report["server_failed"] == 0 and all(row["failures"] == 0 for row in report["summary"])
    assert sorted(finished) == sorted(r["id"] for r in runs)  # every cell finished exactly once
    assert all(json.loads(r["endpoint"])["base_url"] == url for r in runs)


# -- failures, each one clear line ------------------------------------------------------------
def test_a_timeout_is_one_line(fake):
    fake.behaviour.mode = "slow"
    engine = RemoteBackend(Endpoint(fake.url, timeout_s=1, max_retries=0))
    started = time.monotonic()
    with pytest.raises(RemoteError, match="did not answer within 1 s") as caught:
        engine.generate(GenerationRequest("Hello", GREEDY, max_tokens=2))
    assert caught.value.transient and time.monotonic() - started < 2.9


def test_a_500_is_retried_then_reported(fake):
    fake.behaviour.mode = "500"
    engine = RemoteBackend(Endpoint(fake.url, max_retries=1))
    with pytest.raises(RemoteError, match="failed with HTTP 500: the model crashed") as caught:
        engine.generate(GenerationRequest("Hello", GREEDY, max_tokens=2))
    assert caught.value.transient and fake.behaviour.completion_requests == 2  # one retry, with backoff


def test_a_malformed_stream_is_one_line(fake):
    fake.behaviour.mode = "malformed"
    engine = RemoteBackend(Endpoint(fake.url, max_retries=0))
    with pytest.raises(RemoteError, match="malformed response"):
        engine.generate(GenerationRequest("Hello", GREEDY, max_tokens=2))


def test_a_server_without_probabilities_gives_text_and_says_so(fake):
    engine = RemoteBackend(Endpoint(fake.url))
    sampled = SamplingParams(temperature=0.7, top_k=40, min_p=0.05, seed=3)
    generation = engine.generate(GenerationRequest("Hello", sampled, max_tokens=5))
    assert generation.text == "Hello world" and generation.finish_reason == "stop"
    assert all(t.probabilities == NO_PROBABILITIES and not t.has_probability for t in generation.tokens)
    record = generation.to_dict()
    json.dumps(record, allow_nan=False)  # unknown numbers are null, never NaN
    assert record["tokens"][0]["logprob"] is None and record["tokens"][0]["probabilities"] == "none"
    assert "top_k = 40 not applied: this openai server does not take it" in generation.notes
    assert "min_p = 0.05 not applied: this openai server does not take it" in generation.notes
    sent = fake.behaviour.bodies[-1]
    assert sent["temperature"] == 0.7 and sent["seed"] == 3 and "top_k" not in sent and sent["logprobs"] == 5
    with pytest.raises(UnsupportedError, match="no tokenize endpoint"):
        engine.tokenize("Hello")


# -- the command line -------------------------------------------------------------------------
def test_cli_bad_urls_unreachable_servers_missing_endpoints_and_models(cli, fake, llama_server):
    cases = [
        (["--base-url", "localhost:8080"], "not an http(s) URL: 'localhost:8080'"),
        (["--base-url", "http://127.0.0.1:9/v1"], "cannot reach http://127.0.0.1:9/v1"),
        (["--base-url", llama_server, "--model", "gpt-9"], "does not serve the model 'gpt-9'"),
        (["--backend", "openai"], "--backend openai needs --base-url"),
    ]
    fake.behaviour.mode = "missing"
    cases.append((["--base-url", fake.url], "has no such model or endpoint (404)"))
    for options, message in cases:
        result = cli("generate", "-p", "Hello", "-n", "2", "--no-log", *options)
        assert result.code == 1, (options, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_cli_wrong_api_key_is_one_line_and_the_key_is_never_stored(cli, tmp_path, isolated_db, monkeypatch):
    from serve_llama_cpp_python import start_server, stop_server

    smol = str(models.embedded_path(models.INSTRUCT_MODEL_NAME))
    process, url = start_server({"smol": smol}, tmp_path, api_key="right-key")
    try:
        added = cli("connections", "add", "lab", "--base-url", url, "--api-key-env", "LAB_KEY")
        assert added.code == 0, added.stderr
        monkeypatch.setenv("LAB_KEY", "wrong-key")
        wrong = cli("generate", "--connection", "lab", "-p", "Hi", "-n", "2")
        assert wrong.code == 1 and "refused the API key (401)" in wrong.stderr
        assert len(wrong.stderr.strip().splitlines()) == 1
        monkeypatch.setenv("LAB_KEY", "right-key")
        right = cli("generate", "--connection", "lab", "-p", "Hi", "-n", "2", "-t", "0", "--json")
        assert right.code == 0, right.stderr
        document = right.json()
        assert document["api_key"] == "$LAB_KEY" and document["base_url"] == url
        monkeypatch.delenv("LAB_KEY")
        unset = cli("generate", "--connection", "lab", "-p", "Hi")
        assert unset.code == 1 and "environment variable LAB_KEY (the API key) is not set" in unset.stderr
    finally:
        stop_server(process)
    assert b"right-key" not in isolated_db.read_bytes()  # neither the connection nor the run holds it
    listed = cli("connections", "list", "--json").json()
    assert listed == [
        {
            "name": "lab",
            "base_url": url,
            "model": "",
            "api_key": "$LAB_KEY",
            "timeout_s": 120.0,
            "max_retries": 2,
            "use_as": "--connection lab",
        }
    ]
    assert cli("connections", "remove", "lab").code == 0
    missing = cli("generate", "--connection", "lab", "-p", "Hi")
    assert missing.code == 1 and "no saved connection named 'lab'" in missing.stderr


def test_cli_samples_in_flight_and_server_tokenizer(cli, llama_server):
    assert cli("connections", "add", "local-server", "--base-url", llama_server, "--model", "smol").code == 0
    result = cli("generate", "--connection", "local-server", "-p", "Hello", "-n", "3", "--samples", "3", "--json")
    assert result.code == 0, result.stderr
    seeds = [s["seed"] for s in result.json()["samples"]]
    assert len(result.json()["samples"]) == 3 and seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]
    both = ["--tokenizer", "connection:local-server", "--tokenizer", models.INSTRUCT_MODEL_NAME]
    tokens = cli("tokenize", "--text", "台湾最高的山是", *both, "--json")
    assert tokens.code == 0, tokens.stderr
    server_cut, local_cut = tokens.json()
    assert [t["id"] for t in server_cut["tokens"]] == [t["id"] for t in local_cut["tokens"]]
    spelled = b"".join(bytes.fromhex(t["bytes_hex"]) for t in server_cut["tokens"])
    assert spelled == "台湾最高的山是".encode()  # a character cut into pieces is spelled by its group


def test_remote_runs_record_the_endpoint_without_secrets(remote):
    info = remote.runtime_info()
    assert info["server"] == "llama-cpp-python" and info["server_model"] == "gemma" and info["api_key"] == "none"
    reference = json.loads(remote.info.path.removeprefix("remote:"))
    assert reference["base_url"] == remote.endpoint.base_url and reference["model"] == "gemma"
    assert not {"api_key", "key", "password"} & set(reference)


def test_stop_sends_nothing_more_and_resume_finishes_the_grid(grid_store, llama_server):
    endpoint = Endpoint(llama_server, "smol")
    spec = experiments.GridSpec(
        ["sentiment-instruction-en"], "mini", [experiments.Config(GREEDY, max_tokens=3)], models=[endpoint.ref()]
    )
    experiment_id = experiments.plan(grid_store, spec)
    stop = threading.Event()
    backend = RemoteBackend(endpoint, 2)
    try:
        status = experiments.run(
            grid_store, experiment_id, lambda _path: backend, stop=stop, on_cell=lambda _cell: stop.set(), parallel=2
        )
        state = grid_store.experiment(experiment_id)
        assert status == "stopped" and 1 <= state["done_cells"] <= 2  # the requests in flight end as they end
        assert experiments.run(grid_store, experiment_id, lambda _path: backend, parallel=2) == "done"
    finally:
        backend.close()
    assert grid_store.experiment(experiment_id)["done_cells"] == 8
