"""The model registry with two embedded models, adding / removing / defaults / load settings, llama.cpp's
vocabulary-only files, and o200k_base from the bpe-openai package."""

import gzip
import hashlib
import shutil

import pytest

from workbench import models
from workbench.errors import InputError, ModelLoadError
from workbench.models import library as model_library
from workbench.store import Store
from workbench.text import llama_vocabs, tiktoken_files, tokenizers

MULTILINGUAL = "I am unkillable. 台湾最高的山是哪座? Ünïcödé — привет, мир! 🤖 def f(x): return x**2\n\t"


def test_both_embedded_models_are_listed_and_resolvable(cli):
    listed = cli("models", "--json").json()
    names = [m["name"] for m in listed]
    assert names[:2] == [models.DEFAULT_MODEL_NAME, models.INSTRUCT_MODEL_NAME]
    smol = listed[1]
    assert (smol["architecture"], smol["quantization"], smol["context_length"], smol["vocab_size"]) == (
        "llama",
        "Q4_1",
        8192,
        49_152,
    )
    assert smol["has_chat_template"] and smol["size_bytes"] == 98_362_432 and smol["source"] == "embedded"
    assert (smol["layers"], smol["embedding_length"], smol["heads"], smol["kv_heads"]) == (30, 576, 9, 3)
    # Q4_1 blocks take 5 bits per weight (4, plus a scale and a minimum per 32); a few tensors are kept wider
    assert 5.0 < smol["bits_per_weight"] < 6.0
    assert listed[0]["is_default"] and not smol["is_default"]
    assert models.resolve(models.INSTRUCT_MODEL_NAME).path == smol["path"]


def test_show_gives_the_chat_template_the_estimate_and_the_warnings(cli):
    shown = cli("models", "--show", models.INSTRUCT_MODEL_NAME, "--n-ctx", "16384", "--json")
    document = shown.json()
    assert "<|im_start|>" in document["chat_template"]
    per_token = 2 * 30 * 3 * 64 * 4  # K and V, 30 layers, 3 K/V heads of 64, F32 (reference numerics)
    assert document["memory_estimate"]["kv_bytes"] == per_token * 16384
    assert document["memory_estimate"]["weights_bytes"] == 98_362_432
    assert "above smollm2-135m-instruct-q4_1's trained maximum of 8,192" in document["warnings"][0]
    assert "warning: context 16,384 is above" in shown.stderr


def test_set_default_and_load_settings_change_what_every_command_uses(cli):
    assert cli("models", "--set-default", models.INSTRUCT_MODEL_NAME).code == 0
    assert models.resolve(None).name == models.INSTRUCT_MODEL_NAME
    tokens = cli("tokenize", "--text", "台湾", "--tokenizer", "model", "--json").json()
    assert tokens[0]["count"] > 2  # SmolLM2 cuts Chinese into bytes: the default model's vocabulary is used
    saved = cli("models", "--set-load", models.INSTRUCT_MODEL_NAME, "--n-ctx", "1024", "--numerics", "fast", "--json")
    assert saved.json()["load_settings"]["n_ctx"] == 1024
    generated = cli("generate", "-p", "Hi", "-n", "2", "-t", "0", "--json").json()
    assert generated["model"] == models.INSTRUCT_MODEL_NAME and generated["n_ctx"] == 1024
    assert generated["numerics"] == "fast"
    huge = cli("models", "--set-load", models.INSTRUCT_MODEL_NAME, "--n-ctx", "10000000")
    assert huge.code == 0 and "warning" in huge.stderr and "MiB available" in huge.stderr
    assert cli("models", "--set-default", "embedded").code == 0
    assert models.resolve(None).name == models.DEFAULT_MODEL_NAME


def test_add_by_copy_and_by_link_then_remove(tmp_path, isolated_db):
    store = Store(isolated_db)
    source = tmp_path / "elsewhere" / "my-smol.gguf"
    source.parent.mkdir()
    shutil.copyfile(models.resolve(models.INSTRUCT_MODEL_NAME).path, source)
    linked = model_library.add_model(source, "link", store)
    assert linked.source == "linked" and linked.path == str(source.resolve())
    assert any(m.path == linked.path and m.source == "linked" for m in models.list_models())
    assert "left where it is" in model_library.remove_model(linked, store)
    assert source.exists() and all(m.path != linked.path for m in models.list_models())
    copied = model_library.add_model(source, "copy", store)
    assert copied.source == "user" and copied.path != linked.path
    with pytest.raises(InputError, match=r"already has a file named my-smol\.gguf"):
        model_library.add_model(source, "copy", store)
    assert "deleted the copy" in model_library.remove_model(copied, store)
    with pytest.raises(InputError, match="embedded model; it cannot be removed"):
        model_library.remove_model(models.resolve(None), store)


def _write_gguf(path, architecture: str, with_tensor: bool) -> None:
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), architecture)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b", "ab"])
    writer.add_token_types([1, 1, 1])
    writer.add_token_merges(["a b"])
    if with_tensor:
        writer.add_tensor("token_embd.weight", np.zeros((3, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_bad_files_are_refused_with_the_reason(tmp_path, isolated_db, cli):
    store = Store(isolated_db)
    text_file = tmp_path / "notes.gguf"
    text_file.write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF model"):
        model_library.add_model(text_file, "copy", store)
    whole = models.resolve(models.INSTRUCT_MODEL_NAME).path
    truncated = tmp_path / "cut.gguf"
    with open(whole, "rb") as handle:
        truncated.write_bytes(handle.read(5_000_000))
    with pytest.raises(ModelLoadError, match="model file is truncated: 5,000,000 bytes"):
        model_library.add_model(truncated, "link", store)
    martian = tmp_path / "martian.gguf"
    _write_gguf(martian, "martian", with_tensor=True)
    with pytest.raises(ModelLoadError, match="does not know the architecture 'martian'"):
        model_library.add_model(martian, "link", store)
    result = cli("models", "--add", str(text_file))
    assert result.code != 0 and "not a GGUF model" in result.stderr and "Traceback" not in result.stderr
    assert store.model_prefs() == {} and not any(tmp_path.glob("user-models/*"))


def _vocab_files():
    found = llama_vocabs.installed()
    assert found, "dev.py extracts llama.cpp's vocabulary files (workbench tokenizers --add-llama-vocabularies)"
    return found


@pytest.mark.parametrize("key", ["gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "phi-3", "command-r", "gemma-4"])
def test_vocabulary_only_files_tokenize_like_llama_cpp(key):
    from llama_cpp import Llama

    vocab = next(v for v in _vocab_files() if v.key == key)
    info = models.inspect(vocab.path, "vocab")
    assert info.vocab_only and info.parameter_count == 0
    ours = tokenizers.get_tokenizer(vocab.tokenizer_name)
    reference = Llama(model_path=str(vocab.path), vocab_only=True, verbose=False)
    expected = reference.tokenize(MULTILINGUAL.encode(), add_bos=False, special=False)
    assert ours.encode(MULTILINGUAL) == expected
    assert ours.vocab_size == reference.n_vocab() == info.vocab_size


def test_the_gpt3_generation_cut_chinese_into_bytes(cli):
    _vocab_files()
    result = cli(
        "tokenize",
        "--text",
        "台湾最高的山是哪座?",
        "--tokenizer",
        "vocab:gpt-2",
        "--tokenizer",
        "vocab:qwen2",
        "--json",
    ).json()
    assert [r["count"] for r in result] == [20, 7]
    listed = {t["name"]: t for t in cli("tokenizers", "--json").json()}
    assert listed["vocab:gpt-2"]["description"].startswith("GPT-2 / GPT-3")
    assert listed["vocab:llama-bpe"]["vocab_size"] == 128_256


def test_a_vocabulary_file_given_by_path_tokenizes_and_cannot_be_added_as_a_model(cli, isolated_db):
    gpt2 = next(v for v in _vocab_files() if v.key == "gpt-2")
    result = cli("tokenize", "--text", "Hello world", "--tokenizer", str(gpt2.path), "--json")
    assert result.code == 0, result.stderr
    assert result.json()[0]["count"] == 2
    with pytest.raises(ModelLoadError, match="holds a vocabulary and no weights"):
        model_library.add_model(gpt2.path, "link", Store(isolated_db))


def test_add_llama_vocabularies_extracts_only_vocabulary_files(tmp_path, monkeypatch):
    import sys
    from pathlib import Path

    archives = sorted((Path(sys.prefix) / "sdist").glob("llama_cpp_python-*.tar.gz"))
    assert archives, "dev.py keeps the source archive it read the vocabularies from in .venv/sdist"
    monkeypatch.setenv("WORKBENCH_VOCAB_DIR", str(tmp_path / "vocab"))
    added = llama_vocabs.add_vocabularies(archives[-1])
    assert {"gpt-2", "llama-bpe", "qwen2"} <= {v.key for v in added}
    assert sorted(p.name for p in (tmp_path / "vocab").iterdir()) == sorted(v.path.name for v in added)
    not_an_archive = tmp_path / "x.tar.gz"
    not_an_archive.write_text("nope")
    with pytest.raises(InputError, match="not a readable source archive"):
        llama_vocabs.add_vocabularies(not_an_archive)


def test_o200k_base_from_bpe_openai_equals_tiktoken(tmp_path, monkeypatch):
    import tiktoken

    spec = tiktoken_files.encoding_spec("o200k_base")
    packaged = tiktoken_files.packaged_file("o200k_base")
    assert packaged is not None and packaged.name == "o200k_base.tiktoken.gz"
    data = gzip.decompress(packaged.read_bytes())
    assert (
        hashlib.sha256(data).hexdigest()
        == spec.sha256
        == ("446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d")
    )
    # tiktoken itself, reading the same rank file from its own cache (it checks the hash, never downloads)
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    (cache / hashlib.sha1(spec.url.encode()).hexdigest()).write_bytes(data)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    reference = tiktoken.get_encoding("o200k_base")
    ours = tokenizers.get_tokenizer("o200k_base")
    assert ours.encode(MULTILINGUAL) == reference.encode_ordinary(MULTILINGUAL)
    assert len(ours.encode("I am unkillable. 台湾最高的山是哪座?")) == 13
    listed = {t.name: t for t in tokenizers.list_tokenizers()}
    assert listed["o200k_base"].available and "bpe-openai" in listed["o200k_base"].description


def test_a_control_token_is_shown_by_its_name(cli):
    prompt = (
        "Classify the sentiment of this sentence.\nOptions: A = positive, B = neutral, C = negative.\n"
        "Sentence: I loved every minute of this film; the ending made me cry happy tears.\nAnswer (A, B or C):"
    )
    shown = cli("next", "-m", models.INSTRUCT_MODEL_NAME, "-p", prompt, "--top", "3", "--no-bos")
    assert shown.code == 0, shown.stderr
    first = shown.stdout.splitlines()[1].split()
    assert first[1] == "2" and first[2] == "<|im_end|>"  # SmolLM2 ends its turn at once; the row names the token
