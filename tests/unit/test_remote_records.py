"""The remote engine's pure parts: endpoints and references, a server's log-probabilities as token records,
which sampling settings a kind of server takes."""

from __future__ import annotations

import json
import math
import re

import pytest

from workbench.engine.base import NO_PROBABILITIES, RAW_AND_SAMPLED, RAW_ONLY, SamplingParams, TokenStep
from workbench.engine.openai_compat.endpoint import Endpoint, from_ref, is_ref, normalize_base_url
from workbench.engine.openai_compat.records import UNKNOWN_ID, prompt_logprobs, steps_from_logprobs
from workbench.engine.openai_compat.server import PROFILES, sampling_settings
from workbench.errors import InputError, RemoteError


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://api.example.com/v1", "https://api.example.com/v1"),
        (" http://gpu-box:11434/ ", "http://gpu-box:11434/v1"),
    ],
)
def test_base_urls_are_normalized(url, normalized):
    assert normalize_base_url(url) == normalized


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:8080", "not an http(s) URL"),
        ("ftp://host/v1", "not an http(s) URL"),
        ("http://", "not an http(s) URL"),
        ("http://user:secret@host/v1", "not in the URL"),
        ("http://host:99999/v1", "port"),
        ("http://host/v1?key=1", "query or fragment"),
    ],
)
def test_bad_base_urls_are_one_clear_error(url, message):
    with pytest.raises(InputError, match=re.escape(message)):
        normalize_base_url(url)


def test_a_reference_round_trips_and_holds_no_secret(monkeypatch):
    monkeypatch.setenv("LAB_KEY", "s3cret")
    endpoint = Endpoint("http://h:1", "m", "lab", api_key_env="LAB_KEY").validate()
    ref = endpoint.ref()
    assert is_ref(ref) and from_ref(ref) == endpoint and "s3cret" not in ref
    assert endpoint.api_key() == "s3cret" and endpoint.describe()["api_key"] == "$LAB_KEY"
    assert Endpoint("http://h:1").api_key() == "none"
    with pytest.raises(InputError, match="not a remote model reference"):
        from_ref("remote:{broken")
    monkeypatch.delenv("LAB_KEY")
    with pytest.raises(RemoteError, match=r"LAB_KEY .* is not set"):
        endpoint.api_key()


def test_endpoint_settings_are_checked():
    with pytest.raises(InputError, match="timeout"):
        Endpoint("http://h:1", timeout_s=0).validate()
    with pytest.raises(InputError, match="retries"):
        Endpoint("http://h:1", max_retries=11).validate()
    with pytest.raises(InputError, match="give it a name"):
        Endpoint("http://h:1", keyring=True).validate()


def test_completion_logprobs_become_raw_only_records():
    logprobs = {
        "tokens": [" Paris", "."],
        "token_logprobs": [-0.5, -1.25],
        "top_logprobs": [{" the": -1.0, " Paris": -0.5}, {".": -1.25}],
        "text_offset": [10, 16],
    }
    steps = steps_from_logprobs(logprobs, " Paris.")
    assert [s.text for s in steps] == [" Paris", "."] and [s.logprob for s in steps] == [-0.5, -1.25]
    first = steps[0]
    assert first.probabilities == RAW_ONLY and first.id == UNKNOWN_ID and math.isnan(first.logprob_sampled)
    assert [t.text for t in first.top] == [" Paris", " the"]  # most probable first
    assert first.has_probability and not first.has_sampled


def test_chat_logprobs_keep_ids_and_bytes():
    content = [
        {
            "id": 42,
            "token": "台",
            "bytes": [229, 143, 176],
            "logprob": -0.1,
            "top_logprobs": [{"id": 42, "token": "台", "bytes": [229, 143, 176], "logprob": -0.1}],
        }
    ]
    (step,) = steps_from_logprobs({"content": content}, "台")
    assert step.id == 42 and step.bytes == "台".encode() and step.top[0].id == 42


def test_no_logprobs_gives_text_only_records_that_store_as_valid_json():
    (step,) = steps_from_logprobs(None, "Hello")
    assert step.probabilities == NO_PROBABILITIES and not step.has_probability and step.text == "Hello"
    record = step.to_dict()
    assert record["logprob"] is None and record["probabilities"] == "none"
    json.dumps(record, allow_nan=False)
    back = TokenStep.from_dict(record)
    assert math.isnan(back.logprob) and back.probabilities == NO_PROBABILITIES
    assert steps_from_logprobs(None, "") == []


def test_local_records_keep_their_stored_shape():
    step = TokenStep(5, b"a", "a", -0.5, -0.25)
    assert step.probabilities == RAW_AND_SAMPLED and "probabilities" not in step.to_dict()
    assert TokenStep.from_dict(step.to_dict()) == step


def test_echoed_prompt_logprobs_sum_the_continuation_only():
    logprobs = {
        "tokens": ["I", " was", " great", "."],
        "token_logprobs": [None, -1.0, -2.0, -3.0],
        "text_offset": [0, 1, 5, 11],
    }
    assert prompt_logprobs(logprobs, boundary=5, end=11) == -2.0  # "." was generated after it
    assert prompt_logprobs({"tokens": [], "token_logprobs": [], "text_offset": []}, 0, 1) is None


def test_settings_a_server_does_not_take_are_reported_not_dropped():
    sampled = SamplingParams(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, repeat_penalty=1.1, seed=3)
    body, notes = sampling_settings(PROFILES["openai"], sampled, 3)
    assert body == {"temperature": 0.7, "top_p": 0.9, "seed": 3}
    assert notes == [
        "top_k = 40 not applied: this openai server does not take it",
        "min_p = 0.05 not applied: this openai server does not take it",
        "repeat_penalty = 1.1 not applied: this openai server does not take it",
        "repeat_last_n = 64 not applied: this openai server does not take it",
    ]
    body, notes = sampling_settings(PROFILES["vllm"], sampled, 3)
    assert body["repetition_penalty"] == 1.1 and body["top_k"] == 40 and notes[0].startswith("repeat_last_n")
    _, greedy_notes = sampling_settings(PROFILES["openai"], SamplingParams(temperature=0), 1)
    assert greedy_notes == []  # truncation changes nothing under greedy decoding
    _, neutral = sampling_settings(PROFILES["ollama"], SamplingParams(top_k=0, min_p=0.0), 1)
    assert neutral == []
