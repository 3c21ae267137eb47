"""Running a planned grid: every cell still planned is generated (or its choices scored), scored and
committed on its own, so Stop, a crash or kill -9 lose nothing and running again resumes. Consecutive
generation cells of one model can be decoded together (batched; results equal to one at a time).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench import models
from workbench.engine.base import Backend, Cancel, GenerationRequest
from workbench.engine.numerics import choice_spread, other_numerics, within_noise
from workbench.errors import RemoteError, WorkbenchError
from workbench.experiments.grid import Config, cell_config, template_key
from workbench.experiments.rescoring import score_own_checks
from workbench.library.datasets import Case
from workbench.library.templates import AnswerRule
from workbench.scoring.answers import compare, score_output, verbalized


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_s: float
    run_in_session: int

    @property
    def rate(self) -> float:
        return self.run_in_session / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def line(self) -> str:
        eta = f"{self.eta_s:.0f} s" if self.eta_s is not None else "?"
        return f"{self.done}/{self.total} cells, {self.rate:.2f} cells/s, ETA {eta}"


def run(
    store,
    experiment_id: int,
    load_backend: Callable[[str], Backend],
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    parallel: int = 1,
) -> str:
    """Run every planned (or server-failed) cell; returns "done", "stopped", or "failed" when a server
    failed some cells (kept as failed with their error; running again retries them). An unreachable server
    ends the run with RemoteError.

    With `parallel` > 1, consecutive generation cells are decoded together (batched, results
    equal to one at a time); each cell is still committed the moment it finishes."""
    experiment = store.experiment(experiment_id)
    spec = experiment["spec"]
    pending = store.pending_cells(experiment_id)
    chat_keys = set(spec.get("special_tokens") or ())
    for cell in pending:  # chat-formatted prompts: control tokens parsed, as prompt_for_model counted them
        cell["special"] = template_key(cell["template"], cell["template_version"]) in chat_keys
    total, done = experiment["total_cells"], experiment["done_cells"]
    store.set_experiment(experiment_id, status="running")
    started = time.perf_counter()
    backends: dict[int, Backend] = {}
    held = HeldBackend()
    checkers = NoiseCheckers()
    finished = [0]
    last_commit = [started]
    failures: list[str] = []  # cells a server failed: kept as 'failed', run again on resume

    def commit(cell: dict[str, Any], result: dict[str, Any]) -> None:
        model = spec["models"][cell["model_index"]]
        backend = backends[cell["model_index"]]
        result.update(model=model["name"], model_sha256=models.model_sha256(model["path"]))
        result.update(numerics=backend.options.numerics, batching=backend.options.batching)
        if backend.remote:
            result["endpoint"] = json.dumps({k: v for k, v in backend.options.describe().items() if k in ENDPOINT_KEYS})
        if _server_failed(result):
            store.fail_cell(cell["id"], result["error"])
            failures.append(result["error"])
            return
        now = time.perf_counter()
        result["grid_ms"], last_commit[0] = (now - last_commit[0]) * 1000, now
        store.finish_cell(cell["id"], result)
        finished[0] += 1
        if on_cell is not None:
            on_cell({**cell, **result, "status": "done"})
        if on_progress is not None:
            on_progress(Progress(done + finished[0], total, time.perf_counter() - started, finished[0]))

    try:
        for model_index, group in _runs_of(pending, parallel):
            if stop is not None and stop.is_set():
                store.set_experiment(experiment_id, status="stopped")
                return "stopped"
            if model_index not in backends:
                backends.clear()  # one model in memory at a time
                checkers.close()
                held.release()  # the opener may close the previous model: it must not be held then
                backends[model_index] = held.switch(load_backend(spec["models"][model_index]["path"]))
            backend = backends[model_index]
            checker = None if backend.remote else checkers.get(backend)  # a server has no other numerics
            if len(group) == 1:
                cell = group[0]
                config = cell_config(spec, cell)
                commit(cell, run_cell(backend, cell, config, spec.get("top_logprobs", 5), checker))
            else:
                configs = [cell_config(spec, cell) for cell in group]
                run_batch(backend, group, configs, spec.get("top_logprobs", 5), parallel, commit, stop)
            _halt_if_unreachable(failures, finished[0], store, experiment_id)
        if stop is not None and stop.is_set() and finished[0] < len(pending):
            store.set_experiment(experiment_id, status="stopped")
            return "stopped"
    except BaseException:
        store.set_experiment(experiment_id, status="stopped")
        raise
    finally:
        checkers.close()
        held.release()
    if failures:  # the server failed some cells: they stay 'failed' until a resume completes them
        store.set_experiment(experiment_id, status="stopped")
        return "failed"
    store.set_experiment(experiment_id, status="done")  # the outputs are complete, whatever their scoring does
    score_own_checks(store, experiment_id, parallel)
    return "done"


ENDPOINT_KEYS = ("engine", "base_url", "model", "api_key")


def _server_failed(result: dict[str, Any]) -> bool:
    return bool(result.pop("transient", False))


def _halt_if_unreachable(failures: list[str], finished: int, store, experiment_id: int) -> None:
    """A server that cannot be reached ends the run (the rest stay planned): one line, resume later."""
    unreachable = [f for f in failures if f.startswith("cannot reach")]
    if unreachable:
        store.set_experiment(experiment_id, status="stopped")
        raise RemoteError(
            f"{unreachable[-1]}; {len(failures)} cell(s) marked failed, {finished} finished in this run; "
            f"resume with: workbench compare --resume {experiment_id}"
        )


def _noise(
    checker: Callable[[], Backend] | None,
    prompt: str,
    words: list[str],
    add_bos: bool,
    special: bool,
    logprobs: list[float],
) -> dict[str, Any]:
    if checker is None or len(words) < 2:
        return {}
    other = checker().continuation_logprobs(prompt, words, add_bos=add_bos, special=special)
    return {"noise_spread": choice_spread(logprobs, other), "within_noise": int(within_noise(logprobs, other))}


def _is_generation(cell: dict[str, Any]) -> bool:
    return (cell["scorer"] or {}).get("scorer") != "label_likelihood"


def _runs_of(cells: list[dict[str, Any]], parallel: int):
    """(model index, cells): consecutive generation cells of one model together when batching,
    everything else one by one, in the planned order."""
    group: list[dict[str, Any]] = []
    for cell in cells:
        batchable = parallel > 1 and _is_generation(cell)
        if group and (not batchable or cell["model_index"] != group[0]["model_index"]):
            yield group[0]["model_index"], group
            group = []
        if batchable:
            group.append(cell)
        else:
            yield cell["model_index"], [cell]
    if group:
        yield group[0]["model_index"], group


def run_batch(
    backend: Backend,
    cells: list[dict[str, Any]],
    configs: list[Config],
    top_logprobs: int,
    parallel: int,
    commit: Callable[[dict[str, Any], dict[str, Any]], None],
    stop: threading.Event | None,
) -> None:
    """Generation cells (each with its resolved Config) decoded together (a server: `parallel` requests in
    flight); each committed as it finishes; Stop lets running ones end."""
    requests, contexts = [], []
    for cell, config in zip(cells, configs, strict=True):
        requests.append(_request(cell, config, top_logprobs, backend.info.add_bos))
        contexts.append((cell, config, time.perf_counter()))
    cancel = Cancel()

    def done(index: int, outcome) -> None:
        cell, config, _queued = contexts[index]
        commit(cell, cell_result(cell, config, outcome))
        if stop is not None and stop.is_set():
            cancel.drain()  # start nothing new; what runs (or is in flight on a server) ends as it ends

    backend.generate_many(requests, parallel, on_done=done, cancel=cancel)


def cell_result(cell: dict[str, Any], config: Config, outcome) -> dict[str, Any]:
    """A finished generation (or its error) as the cell's stored result."""
    case = Case.of_cell(cell)
    rule = AnswerRule.from_dict(cell["scorer"]) or AnswerRule()
    result: dict[str, Any] = {"params": _request(cell, config, 0, True).sampling_record()}
    if outcome is None:  # label likelihood fills in the rest
        return result
    if isinstance(outcome, WorkbenchError):
        if isinstance(outcome, RemoteError) and outcome.transient:
            return {**result, "error": str(outcome), "transient": True}
        result.update(output="", answer=None, score=0.0 if case.expected is not None else None, error=str(outcome))
        result.update(prompt_tokens=0, completion_tokens=0, finish_reason="error", tokens=[], latency_ms=0.0)
        return result
    scored = score_output(outcome.text, case, rule)
    result.update(
        output=outcome.text,
        answer=scored.answer,
        score=scored.score,
        prompt_tokens=outcome.timings.prompt_tokens,
        completion_tokens=outcome.timings.generated_tokens,
        finish_reason=outcome.finish_reason,
        tokens=[t.to_dict() for t in outcome.tokens],
        latency_ms=outcome.timings.prompt_ms + outcome.timings.gen_ms,
    )
    return result


def _request(cell: dict[str, Any], config: Config, top_logprobs: int, add_bos: bool) -> GenerationRequest:
    params = config.params.with_seed(cell["seed"])
    special = bool(cell.get("special"))
    return GenerationRequest(cell["prompt"], params, config.max_tokens, config.stop, top_logprobs, add_bos, special)


class HeldBackend:
    """The backend the grid is using, held (Backend.hold) so it cannot be closed under a running grid."""

    def __init__(self) -> None:
        self._hold = None

    def switch(self, backend: Backend) -> Backend:
        self.release()
        hold = backend.hold()
        hold.__enter__()
        self._hold = hold
        return backend

    def release(self) -> None:
        if self._hold is not None:
            hold, self._hold = self._hold, None
            hold.__exit__(None, None, None)


class NoiseCheckers:
    """For label-likelihood cells: the loaded model again in the other numeric configuration,
    loaded on first use, so each decision can be compared with the arithmetic noise floor."""

    def __init__(self) -> None:
        self._pairs: list[tuple[Backend, Backend]] = []

    def get(self, backend: Backend) -> Callable[[], Backend]:
        def load():
            for owner, checker in self._pairs:
                if owner is backend:
                    return checker
            checker = backend.sibling(other_numerics(backend.options.numerics))
            self._pairs.append((backend, checker))
            return checker

        return load

    def close(self) -> None:
        for _, checker in self._pairs:
            checker.close()
        self._pairs.clear()


def run_cell(
    backend: Backend,
    cell: dict[str, Any],
    config: Config,
    top_logprobs: int,
    checker: Callable[[], Backend] | None = None,
) -> dict[str, Any]:
    """One cell: generate (or score the choices), read the answer, score it. Errors become error runs.
    A label-likelihood decision is also scored in the other numeric configuration (`checker`) and
    flagged when the margin between its two best choices is within that spread."""
    rule = AnswerRule.from_dict(cell["scorer"]) or AnswerRule()
    started = time.perf_counter()
    if rule.scorer != "label_likelihood":
        try:
            outcome = backend.generate(_request(cell, config, top_logprobs, backend.info.add_bos))
        except WorkbenchError as err:  # the grid goes on; the failure is recorded and scores 0
            outcome = err
        result = cell_result(cell, config, outcome)
        result["latency_ms"] = (time.perf_counter() - started) * 1000
        return result
    case = Case.of_cell(cell)
    result = cell_result(cell, config, None)
    add_bos = backend.info.add_bos
    try:
        labels = list(case.choices or ())
        words = [verbalized(rule, label) for label in labels]
        special = bool(cell.get("special"))
        logprobs = backend.continuation_logprobs(cell["prompt"], words, add_bos=add_bos, special=special)
        best = max(range(len(labels)), key=lambda i: logprobs[i])
        result.update(
            output=words[best],
            answer=labels[best],
            score=compare(labels[best], case, rule),
            choice_logprobs=dict(zip(labels, logprobs, strict=True)),
            **_noise(checker, cell["prompt"], words, add_bos, special, logprobs),
            prompt_tokens=len(backend.tokenize(cell["prompt"], add_bos=add_bos, special=special)),
            completion_tokens=0,
            finish_reason="likelihood",
            tokens=[],
        )
    except WorkbenchError as err:
        result.update(cell_result(cell, config, err))
    result["latency_ms"] = (time.perf_counter() - started) * 1000
    return result
