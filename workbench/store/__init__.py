"""The one SQLite file (WAL) and the only package that writes SQL. Schema: docs/SCHEMA.md."""

from __future__ import annotations

from workbench.store.library import LibraryMixin
from workbench.store.runs import RunsMixin, RunSummary
from workbench.store.schema import MIGRATIONS


class Store(RunsMixin, LibraryMixin):
    """Runs, templates (versioned), datasets and their cases in one file."""


__all__ = ["MIGRATIONS", "RunSummary", "Store"]
