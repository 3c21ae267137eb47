"""Files are written whole or not at all: a failed write leaves the old file as it was and no `.part` behind."""

from __future__ import annotations

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
