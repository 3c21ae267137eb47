"""The one SQLite file (WAL) and the only package that writes SQL. Schema: docs/SCHEMA.md."""

from __future__ import annotations

from workbench.store.chats import ChatsMixin
from workbench.store.connections import ConnectionsMixin
from workbench.store.experiments import ExperimentsMixin
from workbench.store.library import LibraryMixin
from workbench.store.model_prefs import ModelPrefs, ModelPrefsMixin
from workbench.store.runs import RunQuery, RunsMixin, RunSummary
from workbench.store.schema import MIGRATIONS
from workbench.store.scorings import ScoringsMixin
from workbench.store.trees import TreesMixin


class Store(
    RunsMixin,
    LibraryMixin,
    ExperimentsMixin,
    TreesMixin,
    ModelPrefsMixin,
    ChatsMixin,
    ConnectionsMixin,
    ScoringsMixin,
):
    """Runs, templates (versioned), datasets and their cases, experiments and ratings, and the Explorer's
    branch trees, chat conversations, model preferences, server connections, scorings and labels in one file."""


__all__ = ["MIGRATIONS", "ModelPrefs", "RunQuery", "RunSummary", "Store"]
