"""Every CSV the workbench writes is safe to open in a spreadsheet (OWASP's CSV-injection rule), and the
workbench reads its own files back unchanged."""

from __future__ import annotations

import csv
import io

import pytest

from workbench.csvsafe import neutralise, restore, write_csv
from workbench.library.datasets import Case, Dataset, read_dataset, write_dataset

HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("http://evil")', "'=x", "''+y", "-3"]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_cells_are_neutralised_and_restored(value):
    written = neutralise(value)
    assert written.startswith("'") and written.lstrip("'")[:1] in "=+-@\t\r"
    assert restore(written) == value


@pytest.mark.parametrize("value", ["plain", "", "it's", "'quoted'", "a=b", "3-2", 42, None])
def test_harmless_cells_are_left_alone(value):
    assert neutralise(value) == value
    if isinstance(value, str):
        assert restore(value) == value


def test_written_csv_has_no_cell_a_spreadsheet_would_run():
    text = write_csv(["a", "b"], [{"a": value, "b": "ok"} for value in HOSTILE])
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert all(cell[:1] not in "=+-@\t\r" for cell in cells if cell)


def test_a_dataset_round_trips_through_csv_with_hostile_cells(tmp_path):
    cases = [Case(f"c{i}", {"text": value}, expected=value) for i, value in enumerate(HOSTILE)]
    path = tmp_path / "hostile.csv"
    write_dataset(Dataset("hostile", cases), path)
    raw = path.read_text(encoding="utf-8")
    assert "\n=1+1" not in raw and ",=1+1" not in raw
    back = read_dataset(path)
    assert [(c.vars["text"], c.expected) for c in back.cases] == [(v, v) for v in HOSTILE]
