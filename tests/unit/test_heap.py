"""The engine fixes glibc's mmap threshold once per process (its effect on memory is measured by
bench/bench_heap.py and bench/bench_soak.py); WORKBENCH_MMAP_THRESHOLD=dynamic leaves glibc's own behaviour."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHILD = "from workbench.engine.llama.heap import keep_large_blocks_on_mmap as k; print(k(), k())"


def _applied(mode: str | None) -> str:
    env = {key: value for key, value in os.environ.items() if key != "WORKBENCH_MMAP_THRESHOLD"}
    if mode:
        env["WORKBENCH_MMAP_THRESHOLD"] = mode
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the threshold is glibc's")
def test_the_threshold_is_fixed_on_glibc_and_can_be_left_dynamic():
    assert _applied(None).split() == ["True", "True"]
    assert _applied("dynamic").split() == ["False", "False"]
