"""What a model is, read from its GGUF header without loading any weights: the record every engine, run and
registry entry carries. It lives in the engine so that engines can build it; the registry (workbench.models)
finds the files."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.gguf_meta import GGUFHeader, file_type_name, read_header


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    source: str  # "embedded", "models/", "user", "linked", "path"
    size_bytes: int
    architecture: str
    parameter_count: int
    quantization: str
    context_length: int | None
    vocab_size: int | None
    has_chat_template: bool
    bos_token_id: int | None
    eos_token_id: int | None
    add_bos: bool
    bits_per_weight: float | None = None
    layers: int | None = None
    embedding_length: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    tokenizer_model: str = ""
    license: str = ""
    description: str = ""
    vocab_only: bool = False
    is_default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def trained_context(self) -> int | None:
        return self.context_length


def _int(value: Any) -> int | None:
    """GGUF keys hold ints, or per-layer lists (some architectures): the first entry then."""
    if isinstance(value, list):
        value = value[0] if value else None
    return int(value) if isinstance(value, int | float) else None


def inspect(path: Path, source: str = "path", name: str | None = None, is_default: bool = False) -> ModelInfo:
    """Read a GGUF file's metadata; ModelLoadError when missing, not GGUF or truncated."""
    path = Path(path).expanduser()
    header = read_header(path)
    meta = header.metadata
    arch = str(meta.get("general.architecture", "unknown"))
    vocab = header.array_lengths.get("tokenizer.ggml.tokens") or meta.get(f"{arch}.vocab_size")
    embedding, heads = _int(meta.get(f"{arch}.embedding_length")), _int(meta.get(f"{arch}.attention.head_count"))
    head_dim = _int(meta.get(f"{arch}.attention.key_length")) or (embedding // heads if embedding and heads else None)
    bpw = header.tensor_bytes * 8 / header.parameter_count if header.parameter_count else None
    return ModelInfo(
        name=name or path.stem,
        path=str(path.resolve()),
        source=source,
        size_bytes=path.stat().st_size,
        architecture=arch,
        parameter_count=header.parameter_count,
        quantization=file_type_name(meta.get("general.file_type")),
        context_length=_int(meta.get(f"{arch}.context_length")),
        vocab_size=vocab,
        has_chat_template="tokenizer.chat_template" in meta,
        bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.get("tokenizer.ggml.eos_token_id"),
        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
        bits_per_weight=round(bpw, 3) if bpw else None,
        layers=_int(meta.get(f"{arch}.block_count")),
        embedding_length=embedding,
        heads=heads,
        kv_heads=_int(meta.get(f"{arch}.attention.head_count_kv")) or heads,
        head_dim=head_dim,
        tokenizer_model=str(meta.get("tokenizer.ggml.model", "")),
        license=str(meta.get("general.license", "")),
        description=str(meta.get("general.name", "")),
        vocab_only=header.vocab_only,
        is_default=is_default,
    )


def header_of(info: ModelInfo) -> GGUFHeader:
    return read_header(Path(info.path))


def chat_template(info: ModelInfo) -> str | None:
    """The Jinja chat template in the model's GGUF metadata, None when it has none."""
    template = header_of(info).metadata.get("tokenizer.chat_template")
    return str(template) if template else None
