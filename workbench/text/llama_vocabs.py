"""llama.cpp's vocabulary-only GGUF files (GPT-2, Llama 3, Qwen 2, DeepSeek, ...): every family's cut, offline.

llama.cpp keeps a vocabulary (no weights) of many model families under `models/ggml-vocab-*.gguf` for
its tokenizer tests; llama-cpp-python's source distribution carries them. `add_vocabularies` takes
them from that archive (the one `dev.py` downloads, or one fetched from the package index with pip)
into the user data folder, where the tokenizer registry lists them by family name.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench import config
from workbench.errors import InputError
from workbench.fsutil import atomic_write_bytes

MEMBER = re.compile(r"^[^/]+/vendor/llama\.cpp/models/(ggml-vocab-[A-Za-z0-9._-]+\.gguf)$")
PREFIX = "ggml-vocab-"
FAMILIES = {  # file stem after "ggml-vocab-" -> the name people know
    "gpt-2": "GPT-2 / GPT-3 (byte-level BPE)",
    "llama-bpe": "Llama 3",
    "llama-spm": "Llama 2 (SentencePiece)",
    "qwen2": "Qwen 2 / 2.5",
    "qwen35": "Qwen 3.5",
    "deepseek-llm": "DeepSeek LLM",
    "deepseek-coder": "DeepSeek Coder",
    "deepseek-r1-qwen": "DeepSeek R1 (Qwen)",
    "phi-3": "Phi-3",
    "starcoder": "StarCoder",
    "falcon": "Falcon",
    "command-r": "Command-R",
    "gemma-4": "Gemma 4",
    "mpt": "MPT",
    "gpt-neox": "GPT-NeoX",
    "refact": "Refact",
    "bert-bge": "BERT (BGE)",
    "baichuan": "Baichuan",
    "aquila": "Aquila",
    "nomic-bert-moe": "Nomic BERT MoE",
}


@dataclass(frozen=True)
class VocabFile:
    key: str  # "gpt-2"
    family: str  # "GPT-2 / GPT-3 (byte-level BPE)"
    path: Path

    @property
    def tokenizer_name(self) -> str:
        return f"vocab:{self.key}"


def vocab_folder() -> Path:
    """Where the extracted vocabularies live (`WORKBENCH_VOCAB_DIR` overrides)."""
    return Path(os.environ.get("WORKBENCH_VOCAB_DIR") or config.data_dir() / "llama-vocab")


def family_name(key: str) -> str:
    return FAMILIES.get(key, key)


def installed() -> list[VocabFile]:
    folder = vocab_folder()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"{PREFIX}*.gguf")):
        key = path.stem.removeprefix(PREFIX)
        found.append(VocabFile(key, family_name(key), path))
    return found


def find(name: str) -> VocabFile | None:
    """`vocab:gpt-2`, `gpt-2` or the family name."""
    key = name.removeprefix("vocab:")
    return next((v for v in installed() if key in (v.key, v.family)), None)


def llama_cpp_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def download_sdist(folder: Path) -> Path:
    """The installed llama-cpp-python version's source archive from the package index (pip, no build)."""
    version = llama_cpp_version()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--disable-pip-version-check", "-q", "-d", str(folder), f"llama-cpp-python=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or not archives:
        reason = (done.stderr.strip().splitlines() or ["no archive was downloaded"])[-1]
        raise InputError(f"could not download llama-cpp-python {version}'s source archive: {reason}")
    return archives[-1]


def extract(sdist: Path, folder: Path) -> list[VocabFile]:
    """Copy only the `ggml-vocab-*.gguf` members of `sdist` into `folder` (each file written atomically)."""
    if not sdist.is_file():
        raise InputError(f"source archive not found: {sdist}")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[VocabFile] = []
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive:
                match = MEMBER.match(member.name)
                if not match or not member.isfile():
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    target = folder / match.group(1)
                    atomic_write_bytes(target, handle.read())
                    key = target.stem.removeprefix(PREFIX)
                    written.append(VocabFile(key, family_name(key), target))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise InputError(f"{sdist} is not a readable source archive: {err}") from None
    if not written:
        raise InputError(f"{sdist} holds no llama.cpp vocabulary files (vendor/llama.cpp/models/ggml-vocab-*.gguf)")
    return sorted(written, key=lambda v: v.key)


def add_vocabularies(sdist: Path | None = None) -> list[VocabFile]:
    """From `sdist`, or from the same version's archive downloaded from the package index."""
    if sdist is not None:
        return extract(Path(sdist).expanduser(), vocab_folder())
    with tempfile.TemporaryDirectory() as scratch:
        return extract(download_sdist(Path(scratch)), vocab_folder())
