"""Build llama.cpp's own tools (llama-bench, llama-batched-bench, llama-server) for comparisons.

They are built from the llama.cpp sources vendored in the llama-cpp-python sdist of the
installed version, so both sides of a comparison run the same llama.cpp code. The build
lives in bench/.cache (git-ignored) and is reused; nothing built here is committed.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"


def source_dir() -> Path:
    wanted = version("llama_cpp_python")
    root = CACHE / f"llama_cpp_python-{wanted}"
    if (root / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from workbench.text.llama_vocabs import download_sdist  # the one downloader of the sdist

    archive = download_sdist(CACHE)
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return root


def tool(name: str) -> Path:
    """Path to a built llama.cpp tool, building it on first use (minutes on 2 cores)."""
    build = CACHE / "llama.cpp-build"
    binary = build / "bin" / name
    if binary.exists():
        return binary
    src = source_dir() / "vendor" / "llama.cpp"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(src),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_OPENSSL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=ON",
            "-DLLAMA_BUILD_TOOLS=ON",
            "-DLLAMA_BUILD_SERVER=ON",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(["cmake", "--build", str(build), "--target", name, "-j", "2"], check=True, stdout=subprocess.DEVNULL)
    return binary


if __name__ == "__main__":
    for wanted_tool in sys.argv[1:] or ["llama-bench"]:
        print(tool(wanted_tool))
