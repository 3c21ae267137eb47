"""K requests in flight against a server: each result is handed over (on the caller's thread) the moment
it is complete, so a grid commits cells one by one while the server batches them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from workbench.engine.base import Backend, Generation, GenerationRequest
from workbench.errors import RemoteError, WorkbenchError

Outcome = Generation | WorkbenchError


def generate_concurrently(
    backend: Backend,
    requests: list[GenerationRequest],
    width: int,
    on_done: Callable[[int, Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> list[Outcome | None]:
    """Every request, at most `width` at once. A failure is that request's outcome (the others go on),
    except an unreachable server: nothing more is sent and the requests in flight end as they end.
    `stop` sends nothing more; the outcomes of requests never sent are None."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    pending = list(range(len(requests)))[::-1]
    halted = False
    with ThreadPoolExecutor(max_workers=max(1, width), thread_name_prefix="remote") as pool:
        running: dict[Future, int] = {}
        while pending or running:
            while pending and len(running) < width and not halted and not (stop is not None and stop.is_set()):
                index = pending.pop()
                running[pool.submit(_one, backend, requests[index])] = index
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


def _one(backend: Backend, request: GenerationRequest) -> Outcome:
    try:
        return backend.generate(request)
    except WorkbenchError as err:
        return err
