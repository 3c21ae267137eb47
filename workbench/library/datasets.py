"""Datasets of cases: JSONL or CSV, one case a line; `id`, `expected` and `choices` are special,
every other key is a template variable. Bad lines are reported with file and line and skipped."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.csvsafe import restore, write_csv
from workbench.errors import InputError
from workbench.fsutil import atomic_write_text
from workbench.library.assertions import AssertionSet

SPECIAL_KEYS = ("id", "expected", "choices", "assert")


@dataclass(frozen=True)
class Case:
    id: str
    vars: dict[str, Any]
    expected: str | None = None
    choices: tuple[str, ...] | None = None
    checks: tuple[dict[str, Any], ...] = ()  # the row's own `assert` list (promptfoo's per-test assertions)

    @classmethod
    def of_cell(cls, cell: dict[str, Any]) -> Case:
        """The case a comparison cell (a grid_runs row) answered: its id, variables, expected answer, choices."""
        return cls(cell["case_id"], cell["vars"], cell["expected"], tuple(cell["choices"]) if cell["choices"] else None)

    def to_record(self) -> dict[str, Any]:
        """The line as import reads it back."""
        record: dict[str, Any] = {"id": self.id, **self.vars}
        if self.expected is not None:
            record["expected"] = self.expected
        if self.choices is not None:
            record["choices"] = list(self.choices)
        if self.checks:
            record["assert"] = list(self.checks)
        return record


@dataclass
class Dataset:
    name: str
    cases: list[Case]
    description: str = ""
    source: str = ""
    problems: list[str] = field(default_factory=list)  # "file:line: why", for lines that were skipped

    def variables(self) -> list[str]:
        seen: dict[str, None] = {}
        for case in self.cases:
            seen.update(dict.fromkeys(case.vars))
        return list(seen)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise InputError(
            f"dataset {self.name} has no case '{case_id}' (ids: {', '.join(c.id for c in self.cases[:10])}…)"
        )


def case_from_record(record: Any, position: int) -> Case:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    data = dict(record)
    case_id = str(data.pop("id", position))
    expected = data.pop("expected", None)
    choices = data.pop("choices", None)
    if choices is not None:
        if not isinstance(choices, list) or not all(isinstance(c, str | int | float) for c in choices):
            raise ValueError("`choices` must be a list of strings")
        choices = tuple(str(c) for c in choices)
    checks = data.pop("assert", None) or []
    if not isinstance(checks, list):
        raise ValueError("`assert` must be a list of assertions")
    try:
        AssertionSet.from_list(checks, where="assert") if checks else None
    except InputError as err:
        raise ValueError(str(err)) from None
    if not data:
        raise ValueError("no template variables on this line")
    return Case(case_id, data, None if expected is None else str(expected), choices, tuple(checks))


def read_dataset(path: Path, name: str | None = None) -> Dataset:
    """Read a .jsonl or .csv file; unreadable lines go to `problems`, duplicates ids too."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise InputError(f"{path}: datasets are .jsonl or .csv files")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"dataset file not found: {path}") from None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 (bad byte at offset {err.start})") from None
    records = _jsonl_records(text) if suffix in (".jsonl", ".ndjson") else _csv_records(text)
    dataset = Dataset(name or path.stem, [], source=path.name)
    seen: set[str] = set()
    for line, record in records:
        try:
            if isinstance(record, Exception):
                raise record
            case = case_from_record(record, len(dataset.cases) + 1)
            if case.id in seen:
                raise ValueError(f"duplicate id '{case.id}'")
        except ValueError as err:
            dataset.problems.append(f"{path}:{line}: {err}")
            continue
        seen.add(case.id)
        dataset.cases.append(case)
    return dataset


def _jsonl_records(text: str) -> list[tuple[int, Any]]:
    records: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as err:
            records.append((number, ValueError(f"not JSON: {err.msg} (column {err.colno})")))
    return records


def _csv_records(text: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    records: list[tuple[int, Any]] = []
    for row in reader:
        line = reader.line_num
        if None in row or None in row.values():
            records.append((line, ValueError("the number of cells does not match the header")))
            continue
        record: dict[str, Any] = {k: restore(v) for k, v in row.items() if k}  # our own CSV neutralises formulas
        if record.get("choices"):
            try:
                record["choices"] = json.loads(record["choices"])
            except json.JSONDecodeError:
                record["choices"] = [c.strip() for c in record["choices"].split("|")]
        elif "choices" in record:
            del record["choices"]
        if record.get("expected") == "":
            del record["expected"]
        records.append((line, record))
    return records


def write_dataset(dataset: Dataset, path: Path) -> None:
    """JSONL or CSV by suffix, in the format `read_dataset` reads (a round trip)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        columns = ["id", *dataset.variables(), "expected", "choices"]
        rows = []
        for case in dataset.cases:
            row = {"id": case.id, **case.vars, "expected": case.expected or ""}
            row["choices"] = json.dumps(list(case.choices), ensure_ascii=False) if case.choices else ""
            rows.append(row)
        content = write_csv(columns, rows)
    else:
        content = "".join(json.dumps(c.to_record(), ensure_ascii=False) + "\n" for c in dataset.cases)
    atomic_write_text(path, content)
