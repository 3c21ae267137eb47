"""Generating N samples of one request and keeping them: the one composed job behind `workbench generate`, the
Playground, the Explorer's runs and every other place that asks for samples. One seed is drawn for the whole
run when none is given (sample i uses sample_seed(seed, i)), the backend generates them together (a local
model batched, a server with requests in flight), and the run goes to the history as one record."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.engine.base import Backend, Generation, GenerationRequest, pin_seed, sample_requests
from workbench.engine.many import Cancel, OnSequenceDone, OnSequenceToken
from workbench.errors import InvalidParameterError, WorkbenchError
from workbench.runs.history import save_generation
from workbench.store import Store


@dataclass(frozen=True)
class SampleRun:
    request: GenerationRequest  # with the base seed every sample's seed derives from
    samples: tuple[Generation, ...]  # those that ran, in request order (a stopped run: as far as it went)
    run_id: int | None  # the history record; None when not kept

    @property
    def notes(self) -> list[str]:
        """What the engine could not honour, each said once."""
        return list(dict.fromkeys(note for sample in self.samples for note in sample.notes))


def generate_samples(
    backend: Backend,
    request: GenerationRequest,
    samples: int = 1,
    *,
    store: Store | None = None,
    kind: str = "generate",
    source: str = "",
    width: int | None = None,
    on_token: OnSequenceToken | None = None,
    on_done: OnSequenceDone | None = None,
    cancel: Cancel | None = None,
) -> SampleRun:
    """`samples` draws of `request`, up to `width` at once (default: what the backend decodes together),
    kept in `store` as one run of `kind` when a store is given. The samples that finished are kept even
    when another failed; the first failure is raised after that."""
    if samples < 1:
        raise InvalidParameterError(f"samples must be >= 1 (got {samples})")
    request = pin_seed(request.validate())
    outcomes = backend.generate_many(sample_requests(request, samples), width, on_token, on_done, cancel)
    finished = tuple(o for o in outcomes if isinstance(o, Generation))
    errors = tuple(o for o in outcomes if isinstance(o, WorkbenchError))
    run_id = None
    if store is not None and finished:
        run_id = save_generation(store, backend, request, list(finished), kind, source)
    if errors:
        raise errors[0]
    return SampleRun(request, finished, run_id)
