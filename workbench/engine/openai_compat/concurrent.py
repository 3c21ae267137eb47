"""K requests in flight against a server: each result is handed over (on the caller's thread) the moment
it is complete, so a grid commits cells one by one while the server batches them."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from workbench.engine.base import Backend, Cancel, GenerationRequest, OnSequenceDone, OnSequenceToken, OnToken, Outcome
from workbench.errors import RemoteError, WorkbenchError


def generate_concurrently(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    width: int,
    on_token: OnSequenceToken | None = None,
    on_done: OnSequenceDone | None = None,
    cancel: Cancel | None = None,
) -> list[Outcome | None]:
    """Every request, at most `width` at once. A failure is that request's outcome (the others go on),
    except an unreachable server: nothing more is sent and the requests in flight end as they end.
    A cancelled or drained group sends nothing more; the outcomes of requests never sent are None.
    `on_token` is called from the sending threads; `on_done` on the caller's."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    pending = list(range(len(requests)))[::-1]
    halted = False
    with ThreadPoolExecutor(max_workers=max(1, width), thread_name_prefix="remote") as pool:
        running: dict[Future, int] = {}
        while pending or running:
            while pending and len(running) < width and not halted and not _stopped(cancel):
                index = pending.pop()
                if cancel is not None and cancel.is_cancelled(index):
                    continue
                stream = None if on_token is None else _per_request(on_token, index)
                running[pool.submit(_one, backend, requests[index], stream)] = index
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                outcome = future.result()
                outcomes[index] = outcome
                halted = halted or (isinstance(outcome, RemoteError) and outcome.unreachable)
                if on_done is not None:
                    on_done(index, outcome)
    return outcomes


def _stopped(cancel: Cancel | None) -> bool:
    return cancel is not None and cancel.starts_nothing_new()


def _per_request(on_token: OnSequenceToken, index: int) -> OnToken:
    return lambda step: on_token(index, step)


def _one(backend: Backend, request: GenerationRequest, on_token: OnToken | None) -> Outcome:
    try:
        return backend.generate(request, on_token)
    except WorkbenchError as err:
        return err
