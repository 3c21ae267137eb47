"""Keep large freed arrays from pinning memory for the life of the process.

Each decoding step allocates a few vocabulary-sized arrays (262,144 floats: 1-2 MiB each). glibc's malloc
serves those with mmap at first, but after the first such block is freed it raises its mmap threshold (up to
32 MiB) and later blocks come from the heap, which it seldom gives back: a 200-cell batched comparison left
the process 260 MiB larger for good, although nothing leaked (``malloc_trim`` returned all of it). A fixed
threshold keeps vocabulary-sized blocks on mmap, so freeing them returns the memory. Measured in
docs/BENCHMARKS.md (soak, bench/bench_heap.py): same speed, 200 MiB less after a comparison.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 256 * 1024  # below one vocabulary row, above everything small
OPT_OUT = "WORKBENCH_MMAP_THRESHOLD"  # "dynamic": leave glibc's own behaviour (bench/bench_heap.py compares)
_applied: bool | None = None


def keep_large_blocks_on_mmap() -> bool:
    """Fix glibc's mmap threshold once per process; False where the C library is not glibc."""
    global _applied
    if _applied is None:
        _applied = _set_threshold()
    return _applied


def _set_threshold() -> bool:
    if not sys.platform.startswith("linux") or os.environ.get(OPT_OUT) == "dynamic":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False  # musl and others: their allocators behave differently
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
