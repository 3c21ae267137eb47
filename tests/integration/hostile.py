"""Shared by the hostile-input corpus: run the CLI's `main()` in-process and check that a bad input ended in
exactly one line on stderr, the expected exit status, no traceback, and the database unchanged and whole."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workbench.cli.main import main

TABLES = ("runs", "samples", "templates", "template_versions", "datasets", "cases", "experiments", "grid_runs")


def counts(db: Path) -> dict[str, int] | None:
    """Rows per table, after checking the file's integrity; None when there is no database (yet)."""
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES if t in names}


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def check(argv: list[str], code_wanted: int, fragment: str, capsys, db: Path) -> str:
    """Run `argv`; assert one `workbench: ...` line containing `fragment` and no row added; the line."""
    before = counts(db)
    code, err = run(argv, capsys)
    lines = err.strip().splitlines()
    assert code == code_wanted, err
    assert len(lines) == 1 and lines[0].startswith("workbench: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    after = counts(db)
    assert after is None or before is None or after == before  # nothing half-written
    return lines[0]
