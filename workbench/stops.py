"""The one way a user writes stop strings, in the CLI and in every tab.

A stop string may use backslash escapes: \\n newline, \\t tab, \\r carriage return, \\s space, \\\\ a backslash,
and (in a comma-separated list) \\, a comma. Any other backslash stays as it is.
"""

from __future__ import annotations

from workbench.errors import InvalidParameterError

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "s": " ", "\\": "\\", ",": ","}


def _unescape(text: str) -> str:
    out, index = [], 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text) and text[index + 1] in ESCAPES:
            out.append(ESCAPES[text[index + 1]])
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _split_on_commas(text: str) -> list[str]:
    """Split at commas that are not escaped; the parts keep their escapes."""
    parts, start, index = [], 0, 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == ",":
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def parse_stop(text: str) -> str:
    """One stop string as typed (CLI `--stop`), escapes resolved."""
    stop = _unescape(text)
    if not stop:
        raise InvalidParameterError("a stop string is empty")
    return stop


def parse_stop_list(text: str) -> tuple[str, ...]:
    """Comma-separated stop strings as typed in a settings field: spaces around each entry and blank
    entries are ignored (write \\s for a space)."""
    return tuple(_unescape(part.strip(" ")) for part in _split_on_commas(text) if part.strip(" "))


def format_stop_list(stops: tuple[str, ...]) -> str:
    """The inverse of parse_stop_list, for showing stored stop strings in a field."""
    reverse = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", ",": "\\,"}
    reverse[" "] = "\\s"
    return ", ".join("".join(reverse.get(c, c) for c in stop) for stop in stops)
