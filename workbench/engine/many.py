"""The one-at-a-time way any engine can generate many requests (the shapes are base's: Outcome, Cancel)."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.engine.base import (
    Backend,
    Cancel,
    GenerationRequest,
    OnSequenceDone,
    OnSequenceToken,
    Outcome,
)
from workbench.errors import RemoteError, WorkbenchError


def one_at_a_time(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    on_token: OnSequenceToken | None = None,
    on_done: OnSequenceDone | None = None,
    cancel: Cancel | None = None,
) -> list[Outcome | None]:
    """`generate_many` for one request at a time: each outcome handed over as it ends; None for a request
    never started (cancelled, drained, or after the server became unreachable)."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    for index, request in enumerate(requests):
        if cancel is not None and (cancel.starts_nothing_new() or cancel.is_cancelled(index)):
            continue
        stream = None if on_token is None else (lambda step, i=index: on_token(i, step))
        try:
            outcome: Outcome = backend.generate(request, stream)
        except WorkbenchError as err:
            outcome = err
        outcomes[index] = outcome
        if on_done is not None:
            on_done(index, outcome)
        if isinstance(outcome, RemoteError) and outcome.unreachable:
            break
    return outcomes
