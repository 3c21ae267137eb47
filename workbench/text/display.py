"""How tokens are written on screen, without Qt: visible whitespace, byte tokens, and the
display text of a tokenizer column with the offset of every chip in it.

Offsets are in UTF-16 code units because that is how Qt counts positions in a document
(an emoji outside the BMP is two units).
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass

import numpy as np

from workbench.text.tokenizers import Tokenization

NBSP = "\u00a0"
ZWSP = "\u200b"  # a line may break here: between chips, never inside one
LONG_LINE = 4000  # a display line this long gets a break between chips (Qt lays out huge lines slowly)
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")

KIND_TEXT, KIND_PARTIAL, KIND_SPECIAL = 0, 1, 2


_INVISIBLE = {"\u200d": "⟨ZWJ⟩", "\u200c": "⟨ZWNJ⟩", "\u200b": "⟨ZWSP⟩", "\ufe0f": "⟨VS16⟩", "\u200f": "⟨RLM⟩"}
_INVISIBLE_TABLE = str.maketrans(_INVISIBLE)


def visible_text(text: str, line_breaks: bool = True) -> str:
    """Whitespace made visible: spaces ·, tabs →, newlines ↵ (then a real break), CR ␍, NUL ␀;
    zero-width joiners and the like get a short name; a leading combining mark sits on ◌."""
    shown = text.replace(" ", "·").replace("\t", "→").replace("\r", "␍").replace("\x00", "␀")
    if any(ch in _INVISIBLE for ch in shown):
        shown = shown.translate(_INVISIBLE_TABLE)
    if shown and unicodedata.combining(shown[0]):
        shown = "◌" + shown
    return shown.replace("\n", "↵\n" if line_breaks else "↵")


def hex_bytes(data: bytes) -> str:
    return "‹" + NBSP.join(f"{b:02x}" for b in data) + "›"


def _hex_bytes(error: UnicodeDecodeError) -> tuple[str, int]:
    return hex_bytes(error.object[error.start : error.end]), error.end


codecs.register_error("workbench-hex", _hex_bytes)


def piece_label(piece: bytes, line_breaks: bool = True) -> str:
    """A token's bytes as text; bytes that are only part of a character appear as ‹e5 8f›."""
    return visible_text(piece.decode("utf-8", errors="workbench-hex"), line_breaks)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class ColumnLayout:
    """The text a tokenizer column shows, and where each token's chip and each group label sit in it."""

    text: str
    seg_start: np.ndarray  # per token, UTF-16 offset of its chip
    seg_end: np.ndarray
    text_end: np.ndarray  # where the token's own text ends and the id / bytes suffix begins
    kind: np.ndarray  # KIND_TEXT, KIND_PARTIAL, KIND_SPECIAL
    label_start: np.ndarray  # labels: the character a group of byte tokens spells, shown before the group
    label_end: np.ndarray
    label_first: np.ndarray  # first and last token index of each label's group
    label_last: np.ndarray

    def token_at(self, position: int) -> int:
        """The token whose chip holds `position`, or -1."""
        index = int(np.searchsorted(self.seg_end, position, side="right"))
        if index < len(self.seg_start) and self.seg_start[index] <= position < self.seg_end[index]:
            return index
        return -1

    def label_at(self, position: int) -> int:
        index = int(np.searchsorted(self.label_end, position, side="right"))
        if index < len(self.label_start) and self.label_start[index] <= position < self.label_end[index]:
            return index
        return -1

    def tokens_between(self, first_position: int, last_position: int) -> range:
        lo = int(np.searchsorted(self.seg_end, first_position, side="right"))
        hi = int(np.searchsorted(self.seg_start, last_position, side="right"))
        return range(lo, hi)


def split_groups(tokenization: Tokenization) -> list[tuple[int, int, str]]:
    """Runs of tokens that share characters (each cuts a character in two): (first, last, the shared chars)."""
    start, end, text = tokenization.char_start, tokenization.char_end, tokenization.text
    overlaps = np.nonzero(end[:-1] > start[1:])[0]
    groups: list[tuple[int, int, str]] = []
    for k in overlaps.tolist():
        shared = text[start[k + 1] : end[k]]
        if groups and groups[-1][1] == k:
            first, _, chars = groups[-1]
            groups[-1] = (first, k + 1, chars if chars.endswith(shared) else chars + shared)
        else:
            groups.append((k, k + 1, shared))
    return groups


@dataclass(frozen=True)
class _Chip:
    """How one vocabulary entry is drawn; computed once per distinct id (texts repeat their tokens)."""

    text: str  # the chip's text and suffix, then a trailing line break if the token ends with one
    text_width: int  # UTF-16 units of the token's own text
    width: int  # UTF-16 units of the whole chip
    kind: int
    line_tail: int  # characters on the last display line of the chip; -1: the chip does not break the line
    ends_line: bool


def _chip(tokenization: Tokenization, index: int, show_ids: bool, show_bytes: bool) -> _Chip:
    piece = tokenization.pieces[index]
    kind = KIND_TEXT
    if tokenization.special[index]:
        kind = KIND_SPECIAL
        shown = piece.decode("utf-8", errors="replace")
    else:
        shown = piece_label(piece)
        if "‹" in shown and tokenization.is_partial(index):
            kind = KIND_PARTIAL
    suffix = str(tokenization.ids[index]).translate(_SUBSCRIPT) if show_ids else ""
    if show_bytes and kind != KIND_PARTIAL:
        suffix += hex_bytes(piece)
    trailer = ""
    if shown.endswith("\n"):  # the id / bytes stay on the line of the token they label
        shown, trailer = shown[:-1], "\n"
    newline = shown.rfind("\n")
    line_tail = -1 if newline < 0 else len(shown) - newline - 1 + len(suffix)
    text_width = utf16_len(shown)
    return _Chip(
        shown + suffix + trailer,
        text_width,
        text_width + utf16_len(suffix) + len(trailer),
        kind,
        line_tail,
        bool(trailer),
    )


def layout_column(tokenization: Tokenization, show_ids: bool = False, show_bytes: bool = False) -> ColumnLayout:
    count = tokenization.count
    seg_start = np.empty(count, dtype=np.int64)
    seg_end = np.empty(count, dtype=np.int64)
    text_end = np.empty(count, dtype=np.int64)
    kind = np.zeros(count, dtype=np.int8)
    label_before = {first: (last, chars) for first, last, chars in split_groups(tokenization)}
    labels: list[tuple[int, int, int, int]] = []
    chips: dict[tuple[int, bool], _Chip] = {}
    parts: list[str] = []
    position = line = 0
    for i, token_id in enumerate(tokenization.ids):
        if i in label_before:
            last, chars = label_before[i]
            label = visible_text(chars, line_breaks=False)
            width = utf16_len(label)
            labels.append((position, position + width, i, last))
            parts.append(label)
            position += width
        key = (token_id, tokenization.special[i])
        chip = chips.get(key)
        if chip is None:
            chip = chips[key] = _chip(tokenization, i, show_ids, show_bytes)
        kind[i] = chip.kind
        seg_start[i] = position
        text_end[i] = position + chip.text_width
        position += chip.width
        seg_end[i] = position
        parts.append(chip.text)
        if chip.ends_line:
            line = 0
        elif chip.line_tail >= 0:
            line = chip.line_tail
        else:
            line += chip.width
        if line > LONG_LINE:
            parts.append("\n")
            line = 0
        else:
            parts.append(ZWSP)
        position += 1
    columns = np.array(labels, dtype=np.int64).reshape(-1, 4)
    return ColumnLayout(
        "".join(parts), seg_start, seg_end, text_end, kind, columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3]
    )


class Utf16Index:
    """Character index -> Qt position for one text (characters beyond the BMP count twice)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._astral: np.ndarray | None = None
        if not text.isascii():
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            astral = np.cumsum(codes > 0xFFFF)
            if astral.size and astral[-1]:
                self._astral = np.concatenate(([0], astral))

    def position(self, char_index: int) -> int:
        char_index = min(max(char_index, 0), len(self.text))
        return char_index if self._astral is None else char_index + int(self._astral[char_index])


def summary_line(counts: list[tuple[str, int]]) -> str:
    """'model 7 tokens · cl100k_base 13 tokens (1.86× model)': every count against the first column's."""
    if not counts:
        return ""
    base_name, base = counts[0]
    parts = [f"{base_name}: {base:,} tokens"]
    for name, count in counts[1:]:
        ratio = f" ({count / base:.2f}× {base_name})" if base else ""
        parts.append(f"{name}: {count:,} tokens{ratio}")
    return "Same text — " + " · ".join(parts)
