"""Files are written whole or not at all: a failed write leaves the old file as it was and no `.part` behind."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from workbench.errors import InputError
from workbench.fsutil import atomic_write_text


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")
    atomic_write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓" and list(tmp_path.iterdir()) == [target]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(InputError, match="not valid Unicode at character 3"):
        atomic_write_text(target, "abc\udc80def")
    assert target.read_text(encoding="utf-8") == "old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("where", ["missing/out.csv", "."])
def test_an_unwritable_place_is_one_line(tmp_path, where):
    with pytest.raises(InputError, match="cannot write") as caught:
        atomic_write_text(tmp_path / where, "x")
    assert "\n" not in str(caught.value)
    assert not list(tmp_path.glob("**/*.part"))


def test_a_device_is_written_into_not_replaced_by_a_file():
    """/dev/full: the write fails with the disk-full error and the device stays a device (an atomic rename used
    to put a regular file in its place)."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    with pytest.raises(InputError, match="cannot write /dev/full: No space left on device"):
        atomic_write_text(full, "x" * 10_000)
    assert stat.S_ISCHR(full.stat().st_mode) and not Path("/dev/full.part").exists()


def test_a_fifo_is_streamed_into(tmp_path):
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, "line\n" * 1000)
    reader.join(timeout=10)
    assert received == [b"line\n" * 1000] and stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_keeps_pointing_at_the_file_it_named(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match=r"cannot write .*a: .*loop"):
        atomic_write_text(tmp_path / "a", "x")
