"""The one SQLite file (WAL) and the only package that writes SQL. Schema: docs/SCHEMA.md."""

from __future__ import annotations

from workbench.store.experiments import ExperimentsMixin
from workbench.store.library import LibraryMixin
from workbench.store.runs import RunsMixin, RunSummary
from workbench.store.schema import MIGRATIONS


class Store(RunsMixin, LibraryMixin, ExperimentsMixin):
    """Runs, templates (versioned), datasets and their cases, experiments and ratings in one file."""


__all__ = ["MIGRATIONS", "RunSummary", "Store"]
