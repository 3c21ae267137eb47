"""CSV that is safe to open in a spreadsheet: OWASP's CSV-injection rule. A cell that begins with `=`, `+`, `-`,
`@`, a tab or a carriage return would be run as a formula by Excel, LibreOffice or Sheets, so it is written with
a leading apostrophe (shown as text there). The workbench reads its own files back losslessly: one apostrophe is
removed wherever it was added (a value that itself begins with apostrophes before such a character gets one more
on writing)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _needs_quote(text: str) -> bool:
    return text.lstrip(QUOTE)[:1] in FORMULA_STARTS


def neutralise(value: Any) -> Any:
    """The cell as written: a string a spreadsheet would run gets an apostrophe in front."""
    if isinstance(value, str) and _needs_quote(value):
        return QUOTE + value
    return value


def restore(value: str) -> str:
    """The inverse of neutralise, for reading the workbench's own CSV files."""
    if value.startswith(QUOTE) and _needs_quote(value[1:]):
        return value[1:]
    return value


def write_csv(columns: list[str], rows: Iterable[dict[str, Any]]) -> str:
    """The rows as CSV text (header first), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")  # RFC 4180; a CR in a cell is quoted
    writer.writeheader()
    for row in rows:
        writer.writerow({key: neutralise(value) for key, value in row.items()})
    return buffer.getvalue()
