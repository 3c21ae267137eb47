"""GGUF header reading on the real default model file and on damaged copies."""

import pytest

from workbench.errors import ModelLoadError
from workbench.gguf_meta import file_type_name, read_header
from workbench.models import default_model_path, inspect


def test_default_model_header():
    header = read_header(default_model_path())
    assert header.metadata["general.architecture"] == "gemma3"
    assert header.array_lengths["tokenizer.ggml.tokens"] == 262_144
    assert header.expected_size == default_model_path().stat().st_size
    assert header.tensor_count == 236


def test_model_info_has_what_the_registry_promises():
    info = inspect(default_model_path())
    assert (info.quantization, info.context_length, info.vocab_size) == ("Q4_K_M", 32_768, 262_144)
    assert info.bos_token_id == 2 and info.eos_token_id == 1 and info.add_bos


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "only 0 bytes"), (b"GGML" + b"\0" * 40, "wrong magic"), (b"GGUF\x03\0\0\0" + b"\xff" * 30, "damaged")],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=message):
        read_header(path)


def test_directory_and_missing(tmp_path):
    with pytest.raises(ModelLoadError, match="not a file"):
        read_header(tmp_path)
    with pytest.raises(ModelLoadError, match="not found"):
        read_header(tmp_path / "none.gguf")


def test_file_type_names():
    assert file_type_name(15) == "Q4_K_M"
    assert file_type_name(None) == "unknown"
    assert file_type_name(9999) == "type 9999"
