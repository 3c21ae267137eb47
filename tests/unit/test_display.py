"""Pure logic of the tokenizer view: visible text, byte labels, groups, offsets, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import InputError
from workbench.text import display, tokenizers


def make(text: str, pieces: list[bytes], ids: list[int] | None = None) -> tokenizers.Tokenization:
    start, end = tokenizers.char_spans(text, pieces, [True] * len(pieces))
    ids = ids or list(range(len(pieces)))
    return tokenizers.Tokenization("t", text, ids, pieces, [False] * len(pieces), start, end, len(text.encode()))


def test_visible_text_marks_whitespace_and_invisibles():
    assert display.visible_text(" a\tb\n") == "·a→b↵\n"
    assert display.visible_text("a\nb", line_breaks=False) == "a↵b"
    assert display.visible_text("\x00\r") == "␀␍"
    assert display.visible_text("\u200d") == "⟨ZWJ⟩"
    assert display.visible_text("\u0301") == "◌\u0301"


def test_piece_label_shows_partial_bytes_as_hex():
    assert display.piece_label("台".encode()) == "台"
    assert display.piece_label(b"\xe6\xb9") == "‹e6\u00a0b9›"
    assert display.piece_label(b" \xf0\x9f") == "·‹f0\u00a09f›"


def test_char_spans_map_byte_tokens_to_their_character():
    text = "a湾b"
    result = make(text, [b"a", b"\xe6", b"\xb9\xbe", b"b"])
    assert result.char_start.tolist() == [0, 1, 1, 2]
    assert result.char_end.tolist() == [1, 2, 2, 3]


def test_split_groups_name_the_shared_character():
    result = make("台湾", ["台".encode(), b"\xe6", b"\xb9", b"\xbe"])
    assert display.split_groups(result) == [(1, 3, "湾")]


def test_layout_offsets_are_utf16_and_point_at_each_chip():
    text = "😀a b\n"
    pieces = ["😀".encode(), b"a", b" b", b"\n"]
    layout = display.layout_column(make(text, pieces), show_ids=True)
    for index, shown in enumerate(["😀", "a", "·b", "↵"]):
        start, end = layout.seg_start[index], layout.text_end[index]
        utf16 = layout.text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")
        assert utf16 == shown
    assert layout.token_at(int(layout.seg_start[2])) == 2
    assert layout.token_at(int(layout.seg_end[-1]) + 5) == -1
    assert layout.text.index("₃") < layout.text.index("\n")  # the id stays on the newline token's line


def test_layout_labels_precede_their_group_and_bytes_toggle():
    result = make("湾", [b"\xe6", b"\xb9\xbe"])
    layout = display.layout_column(result, show_bytes=True)
    assert layout.text.startswith("湾‹e6›")
    assert layout.label_first.tolist() == [0] and layout.label_last.tolist() == [1]
    plain = display.layout_column(make("ab", [b"ab"]), show_bytes=True)
    assert "‹61\u00a062›" in plain.text


def test_long_lines_get_breaks_between_chips():
    text = "x" * (display.LONG_LINE * 3)
    layout = display.layout_column(make(text, [b"x"] * len(text)))
    assert layout.text.count("\n") >= 2
    assert (np.diff(layout.seg_start) > 0).all()


def test_utf16_index_counts_astral_characters_twice():
    index = display.Utf16Index("a😀b😀c")
    assert [index.position(i) for i in range(6)] == [0, 1, 3, 4, 6, 7]
    assert display.Utf16Index("plain").position(3) == 3


def test_text_checks_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="empty"):
        tokenizers.check_text("")
    with pytest.raises(InputError, match="10 MB"):
        tokenizers.check_text("a" * (tokenizers.MAX_TEXT_BYTES + 1))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"line one\nab\xffcd")
    with pytest.raises(InputError, match=r"byte 0xff at offset 11 \(line 2, byte 3 of the line\)"):
        tokenizers.read_text_file(bad)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(InputError, match=r"52\.4 MB; the tokenizer viewer takes files up to 10 MB"):
        tokenizers.read_text_file(huge)
    with pytest.raises(InputError, match="not found"):
        tokenizers.read_text_file(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="folder"):
        tokenizers.read_text_file(tmp_path)


def test_price_and_summary_line():
    assert tokenizers.Price("gpt-4", "cl100k_base", 30.0).cost(1_000) == pytest.approx(0.03)
    assert display.summary_line([("model", 7), ("cl100k_base", 13)]) == (
        "Same text — model: 7 tokens · cl100k_base: 13 tokens (1.86× model)"
    )
