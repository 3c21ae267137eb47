"""`workbench` as a user runs it: JSON documents on stdout, one-line errors on stderr."""

from __future__ import annotations

import shutil

import pytest


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_models_json_lists_the_embedded_default(cli):
    result = cli("models", "--json")
    assert result.code == 0, result.stderr
    first = result.json()[0]
    assert first["source"] == "embedded"
    assert first["architecture"] == "gemma3"
    assert first["quantization"] == "Q4_K_M"
    assert first["vocab_size"] == 262_144
    assert first["context_length"] == 32_768
    assert first["has_chat_template"] is False
    assert 260e6 < first["parameter_count"] < 280e6


def test_generate_json_shape(cli, isolated_db):
    result = cli(
        "generate",
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "6",
        "--temperature",
        "0",
        "--top-logprobs",
        "5",
        "--json",
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["model"] == "gemma-3-270m-q4_k_m"
    assert doc["prompt_tokens"] == 6  # BOS + 5 tokens
    assert doc["params"]["temperature"] == 0.0
    (sample,) = doc["samples"]
    assert sample["finish_reason"] == "length"
    assert set(sample["timings"]) >= {"prompt_ms", "gen_ms", "tokens_per_s"}
    assert len(sample["tokens"]) == 6
    for token in sample["tokens"]:
        assert set(token) >= {"id", "text", "bytes_hex", "logprob", "top"}
        assert len(token["top"]) == 5
        assert token["top"][0]["id"] == token["id"]
        logprobs = [t["logprob"] for t in token["top"]]
        assert logprobs == sorted(logprobs, reverse=True)
    joined = bytes.fromhex("".join(t["bytes_hex"] for t in sample["tokens"]))
    assert joined.decode("utf-8") == sample["text"]
    assert isolated_db.exists() and doc["run_id"] == 1
    runs = cli("runs", "--json").json()
    assert runs[0]["id"] == 1 and runs[0]["samples"] == 1
    stored = cli("runs", "1", "--json").json()
    assert stored["samples"][0]["text"] == sample["text"]
    assert stored["samples"][0]["tokens"] == sample["tokens"]


def test_generate_samples_use_consecutive_seeds(cli):
    result = cli("generate", "-p", "Once upon a time", "-n", "8", "--seed", "7", "--samples", "2", "--no-log", "--json")
    assert result.code == 0, result.stderr
    assert [s["seed"] for s in result.json()["samples"]] == [7, 8]


def test_next_json(cli):
    result = cli("next", "--prompt", "台湾最高的山是", "--top-k", "5", "--top", "8", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["prompt_tokens"] == 5
    candidates = doc["candidates"]
    assert len(candidates) == 8
    assert [c["kept"] for c in candidates] == [True] * 5 + [False] * 3
    assert all(c["prob_sampled"] == 0 for c in candidates[5:])
    assert sum(c["prob_sampled"] for c in candidates) == pytest.approx(1.0)
    assert 0 < doc["kept_mass"] <= 1


def test_prompt_file_and_stdin(cli, tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("人工智慧真神奇!", encoding="utf-8")
    from_file = cli("next", "-f", str(path), "--top", "3", "--json")
    from_stdin = cli("next", "-f", "-", "--top", "3", "--json", stdin=path.read_bytes())
    assert from_file.code == from_stdin.code == 0
    assert from_file.json()["candidates"] == from_stdin.json()["candidates"]


def test_db_option_is_accepted_before_anything_is_stored(cli, tmp_path):
    db = tmp_path / "elsewhere" / "my.sqlite"
    result = cli("--db", str(db), "runs", "--json")
    assert result.code == 0, result.stderr
    assert result.json() == []
    assert db.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--temperature", "-0.5"], "temperature must be >= 0"),
        (["--top-p", "0"], "top-p must be in (0, 1]"),
        (["--top-p", "1.5"], "top-p must be in (0, 1]"),
        (["--top-k", "-1"], "top-k must be >= 0"),
        (["--min-p", "2"], "min-p must be in [0, 1]"),
        (["--top-logprobs", "21"], "top logprobs must be between 0 and 20"),
        (["--max-tokens", "0"], "max tokens must be >= 1"),
        (["--repeat-penalty", "0"], "repeat penalty must be > 0"),
    ],
)
def test_invalid_sampling_values(cli, args, fragment):
    assert_one_line_error(cli("generate", "-p", "Hi", *args), fragment)


def test_empty_prompt(cli):
    assert_one_line_error(cli("generate", "--prompt", ""), "the prompt is empty")


def test_prompt_longer_than_the_context(cli):
    result = cli("generate", "--prompt", "hello " * 300, "--n-ctx", "256")
    assert_one_line_error(result, "the prompt is 302 tokens, 47 over the context of 256")


def test_non_utf8_prompt_file(cli, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    assert_one_line_error(cli("generate", "-f", str(path)), "not valid UTF-8", "offset 3")


def test_missing_prompt_file(cli, tmp_path):
    assert_one_line_error(cli("generate", "-f", str(tmp_path / "nope.txt")), "prompt file not found")


def test_missing_model_file(cli, tmp_path):
    assert_one_line_error(cli("generate", "-p", "Hi", "--model", str(tmp_path / "none.gguf")), "not found")


def test_non_gguf_model_file(cli, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    assert_one_line_error(cli("generate", "-p", "Hi", "--model", str(fake)), "not a GGUF model")


def test_truncated_model_file(cli, tmp_path):
    from workbench.models import default_model_path

    source = default_model_path()
    cut = tmp_path / "cut.gguf"
    with source.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(40_000_000))
    assert_one_line_error(cli("generate", "-p", "Hi", "--model", str(cut)), "truncated")
    header_only = tmp_path / "header.gguf"
    with source.open("rb") as src, header_only.open("wb") as dst:
        dst.write(src.read(100_000))
    assert_one_line_error(cli("models", "--path", str(header_only)), "truncated")


def test_unknown_model_name(cli):
    assert_one_line_error(cli("generate", "-p", "Hi", "--model", "no-such-model"), "unknown model")


def test_models_folder_is_scanned_and_broken_files_skipped(cli, tmp_path, isolated_db):
    from workbench.models import default_model_path

    folder = tmp_path / "user-models"
    folder.mkdir()
    shutil.copy(default_model_path(), folder / "copy.gguf")
    (folder / "broken.gguf").write_bytes(b"nope")
    names = [m["name"] for m in cli("models", "--json").json()]
    assert names == ["gemma-3-270m-q4_k_m", "smollm2-135m-instruct-q4_1", "copy"]


def test_usage_errors_are_one_line(cli):
    assert_one_line_error(cli("generate", "--prompt", "x", "--top-k", "many"), "invalid int value")
    assert_one_line_error(cli("frobnicate"), "invalid choice")


def test_next_numeric_check_reports_the_spread(cli):
    result = cli("next", "-p", "The tallest mountain in Taiwan is", "--top", "5", "--numeric-check", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["numerics"] == "reference" and document["batching"] == "exact"
    check = document["numeric_check"]
    assert (check["numerics"], check["other"], check["top_k"]) == ("reference", "fast", 5)
    assert check["max_abs_delta_logprob"] > 0 and 0 < check["total_variation"] < 1
    assert {t["id"] for t in check["tokens"]} >= {c["id"] for c in document["candidates"]}
    assert check["top1"] == document["candidates"][0]["id"]


def test_fast_numerics_are_recorded_with_the_run(cli):
    result = cli("generate", "-p", "Hello", "-n", "3", "-t", "0", "--numerics", "fast", "--json")
    assert result.code == 0, result.stderr
    document = result.json()
    assert (document["numerics"], document["batching"]) == ("fast", "exact")
    stored = cli("runs", str(document["run_id"]), "--json").json()
    assert (stored["numerics"], stored["batching"]) == ("fast", "exact")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--numerics", "exact", "unknown numeric configuration 'exact': choose reference or fast"),
        ("--batching", "turbo", "unknown batching 'turbo': choose exact or fast"),
    ],
)
def test_unknown_numerics_or_batching_is_one_line(cli, flag, value, message):
    result = cli("next", "-p", "Hello", flag, value)
    assert result.code == 1
    assert result.stderr.strip() == f"workbench: {message}"


def test_a_context_over_the_trained_one_is_refused_before_llama_cpp_allocates_it(cli):
    """50 million tokens of F32 K/V cache: llama.cpp would try (a billion took two minutes, then bad_alloc)."""
    result = cli("next", "-p", "Hello", "--n-ctx", "50000000", "--numerics", "reference")
    assert result.code == 1
    assert result.stderr.strip() == (
        "workbench: context size 50,000,000 is over the 32,768 tokens gemma-3-270m-q4_k_m was trained for"
    )


def test_generate_stop_escapes_mean_what_compare_and_the_tabs_mean(cli):
    """`--stop '\\n'` is a newline, as in `compare --stop` and the Playground/Compare fields (one parser)."""
    result = cli("generate", "-p", "Question: what is 2+2?\nAnswer:", "-t", "0", "-n", "40", "--stop", "\\n", "--json")
    assert result.code == 0, result.stderr
    sample = result.json()["samples"][0]
    assert sample["finish_reason"] == "stop" and sample["stop_sequence"] == "\n"
    assert "\n" not in sample["text"] and sample["text"].strip()
    empty = cli("generate", "-p", "Hi", "--stop", "", "-n", "2")
    assert empty.code == 1 and empty.stderr.strip() == "workbench: a stop string is empty"


def test_usage_errors_point_at_the_right_help(cli):
    unknown = cli("bogus")
    assert unknown.code == 2 and unknown.stderr.strip().endswith("(see 'workbench --help')")
    sub = cli("templates", "bogus")
    assert sub.code == 2 and sub.stderr.strip().endswith("(see 'workbench templates --help')")
