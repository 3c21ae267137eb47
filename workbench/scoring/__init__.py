"""Scoring outputs: promptfoo-style assertions (deterministic checks, reference metrics, model judges and
python functions), combined per cell into a score in 0..1 and a pass, and agreement with the user's labels."""

from workbench.library.assertions import Assertion, AssertionResult, AssertionSet, CellScore
from workbench.scoring.cells import ScoringJob, check_one, score_cells
from workbench.scoring.checks import CellContext

__all__ = [
    "Assertion",
    "AssertionResult",
    "AssertionSet",
    "CellContext",
    "CellScore",
    "ScoringJob",
    "check_one",
    "score_cells",
]
