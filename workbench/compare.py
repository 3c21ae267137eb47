"""Experiments: templates x cases x sampling configurations x models x samples.

`plan` checks everything that can be checked before a token is generated (variables, scorers,
size), then writes every cell to SQLite. `run` executes the cells still planned, committing
each on its own, so Stop, a crash or kill -9 lose nothing and `run` again resumes. Cells are
ordered model -> template -> case -> config -> sample: consecutive prompts share the template's
prefix (reused from llama.cpp's KV cache) and the samples of a cell share the whole prompt.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench import models
from workbench.datasets import Case
from workbench.engine.base import GenerationRequest, SamplingParams, sample_seed, seed_or_fresh
from workbench.engine.numerics import choice_spread, other_numerics, within_noise
from workbench.errors import InputError, TemplateError, WorkbenchError
from workbench.prompting import prompt_for_model, uses_special_tokens
from workbench.scoring import compare, rule_for, score_output, verbalized
from workbench.templates import AnswerRule, GenerationSettings, Template, render

LARGE_GRID = 10_000  # more cells than this need an explicit yes


class ConfirmationNeeded(InputError):
    """The grid is large enough that a person should say yes first."""


@dataclass(frozen=True)
class Config:
    """One sampling configuration of the grid. `max_tokens` / `stop` left None, and the temperature
    when `template_temperature` is set, come from each template's own settings (GenerationSettings),
    else from FALLBACK; a value given here overrides every template."""

    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    template_temperature: bool = False

    def for_template(self, settings: GenerationSettings) -> Config:
        """The configuration a cell of this template runs with: every field explicit."""
        params = self.params
        if self.template_temperature and settings.temperature is not None:
            params = params.with_temperature(settings.temperature)
        max_tokens = _first(self.max_tokens, settings.max_tokens, FALLBACK_MAX_TOKENS)
        stop = _first(self.stop, settings.stop, FALLBACK_STOP)
        return Config(params, max_tokens, stop)

    def label(self) -> str:
        p = self.params
        temperature = "T(template)" if self.template_temperature else f"T{p.temperature:g}"
        max_tokens = "max(template)" if self.max_tokens is None else f"max{self.max_tokens}"
        return f"{temperature} k{p.top_k} p{p.top_p:g} min-p{p.min_p:g} rep{p.repeat_penalty:g} {max_tokens}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": asdict(self.params),
            "max_tokens": self.max_tokens,
            "stop": None if self.stop is None else list(self.stop),
            "template_temperature": self.template_temperature,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        stop = data.get("stop")
        return cls(
            SamplingParams(**data["params"]),
            data.get("max_tokens"),
            None if stop is None else tuple(stop),
            bool(data.get("template_temperature", False)),
        )


FALLBACK_MAX_TOKENS = 64  # a template that recommends nothing: a short answer on one line, greedy
FALLBACK_STOP: tuple[str, ...] = ("\n",)


def _first(*values):
    return next(v for v in values if v is not None)


@dataclass
class GridSpec:
    templates: list[str]  # names, or name@version
    dataset: str
    configs: list[Config] = field(default_factory=lambda: [Config()])
    models: list[str | None] = field(default_factory=lambda: [None])
    samples: int = 1
    scorer: str | None = None  # overrides every template's rule
    name: str = ""
    top_logprobs: int = 5


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


def parse_floats(text: str, what: str) -> list[float]:
    """'0, 0.7,1' -> [0.0, 0.7, 1.0]: one sampling configuration per value."""
    try:
        values = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise InputError(f"{what}: write numbers separated by commas, got {text!r}") from None
    if not values:
        raise InputError(f"{what}: give at least one value")
    return values


def sweep(config: Config, temperatures: list[float]) -> list[Config]:
    """The same configuration at several temperatures (the grid's settings axis), overriding the templates'."""
    return [replace(config, params=config.params.with_temperature(t), template_temperature=False) for t in temperatures]


def grid_spec(
    templates: list[str],
    dataset: str,
    params: SamplingParams,
    temperatures: str | None = None,
    max_tokens: int | None = None,
    stop: tuple[str, ...] | None = None,
    models: list[str | None] | None = None,
    samples: int = 1,
    scorer: str | None = None,
    name: str = "",
    top_logprobs: int = 5,
) -> GridSpec:
    """The grid a person asked for, as the CLI and the Compare tab both build it. `temperatures`
    ("0, 0.7"), `max_tokens` and `stop` left empty come from each template's settings; given, they
    override every template. `params.temperature` is the fallback for templates that set none."""
    config = Config(params.validate(), max_tokens, stop, template_temperature=True)
    if max_tokens is not None and max_tokens < 1:
        raise InputError(f"max tokens must be >= 1 (got {max_tokens})")
    if stop is not None and any(s == "" for s in stop):
        raise InputError("a stop string is empty")
    configs = (
        sweep(config, parse_floats(temperatures, "temperatures")) if temperatures and temperatures.strip() else [config]
    )
    return GridSpec(
        templates=[t.strip() for t in templates if t.strip()],
        dataset=dataset,
        configs=configs,
        models=models or [None],
        samples=samples,
        scorer=scorer or None,
        name=name,
        top_logprobs=top_logprobs,
    )


def _key(name: str, version: int) -> str:
    return f"{name}@{version}"


def cell_config(spec: dict[str, Any], cell: dict[str, Any]) -> Config:
    """What a planned cell runs with: the grid's configuration resolved against its template's settings
    (recorded in the experiment when it was planned, so a later template edit changes nothing)."""
    config = Config.from_dict(spec["configs"][cell["config_index"]])
    stored = (spec.get("template_settings") or {}).get(_key(cell["template"], cell["template_version"]))
    return config.for_template(GenerationSettings.from_dict(stored))


def _template(store, reference: str) -> Template:
    name, sep, version = reference.partition("@")
    if sep and not version.isdigit():
        raise InputError(f"template reference {reference!r}: write NAME or NAME@VERSION")
    return store.get_template(name, int(version) if sep else None)


def check_grid(templates: list[Template], cases: list[Case], scorer: str | None) -> None:
    """Refuse before running: variables a template needs that the dataset lacks, bad rules, bad bodies."""
    problems = []
    available = set().union(*(case.vars for case in cases))
    for template in templates:
        needed = set(template.variables or template.used_variables())
        missing = sorted(needed - available)
        if missing:
            problems.append(f"template {template.name} needs {', '.join(missing)}, which the dataset does not have")
            continue
        for case in cases:
            try:
                render(template, case.vars)
                rule = rule_for(template.answer, case, scorer)
            except TemplateError as err:
                problems.append(f"case {case.id}: {err}")
                break
            if rule.scorer == "label_likelihood" and not case.choices:
                problems.append(
                    f"template {template.name} scores by label likelihood but case {case.id} has no choices"
                )
                break
    if problems:
        raise InputError("the grid cannot run: " + "; ".join(problems))


def plan(store, spec: GridSpec, confirm_large: bool = False) -> int:
    if not spec.templates:
        raise InputError("choose at least one template")
    if spec.samples < 1 or not spec.configs or not spec.models:
        raise InputError("a grid needs at least one sample, one configuration and one model")
    templates = [_template(store, reference) for reference in spec.templates]
    dataset = store.get_dataset(spec.dataset)
    if not dataset.cases:
        raise InputError(f"dataset {dataset.name} has no cases")
    check_grid(templates, dataset.cases, spec.scorer)
    infos = [models.resolve(m) for m in spec.models]
    total = len(templates) * len(dataset.cases) * len(spec.configs) * len(infos) * spec.samples
    if total > LARGE_GRID and not confirm_large:
        raise ConfirmationNeeded(f"the grid has {total:,} cells; confirm to run it (CLI: --yes)")
    for config in spec.configs:
        config.params.validate()
    base_seed = seed_or_fresh(spec.configs[0].params.seed)
    cells = []
    for model_index, info in enumerate(infos):
        for template in templates:
            version_id = store.template_version_id(template.name, template.version)
            for position, case in enumerate(dataset.cases):
                prompt = prompt_for_model(template, case.vars, info, count=False).text
                rule = rule_for(template.answer, case, spec.scorer)
                for config_index, config in enumerate(spec.configs):
                    for sample in range(spec.samples):
                        seed = config.params.seed if config.params.seed is not None else base_seed
                        cells.append(
                            {
                                "template_version_id": version_id,
                                "template": template.name,
                                "template_version": template.version,
                                "case_id": case.id,
                                "config_index": config_index,
                                "model_index": model_index,
                                "sample_index": sample,
                                "prompt": prompt,
                                "vars": case.vars,
                                "expected": case.expected,
                                "choices": list(case.choices) if case.choices else None,
                                "scorer": rule.to_dict(),
                                "seed": sample_seed(seed, sample, position),
                            }
                        )
    record = {
        "templates": [{"name": t.name, "version": t.version} for t in templates],
        "configs": [c.to_dict() for c in spec.configs],
        "template_settings": {_key(t.name, t.version): t.settings.to_dict() for t in templates},
        "special_tokens": [_key(t.name, t.version) for t in templates if uses_special_tokens(t)],
        "models": [{"name": i.name, "path": i.path} for i in infos],
        "samples": spec.samples,
        "scorer": spec.scorer,
        "base_seed": base_seed,
        "top_logprobs": spec.top_logprobs,
    }
    name = spec.name or f"{dataset.name}: {', '.join(t.name for t in templates)}"
    return store.create_experiment(name, dataset.name, record, cells)


_sha_cache: dict[tuple[str, int, float], str] = {}


def model_sha256(path: str) -> str:
    """First 16 hex digits of the model file's SHA-256 (cached per file, size and time)."""
    stat = Path(path).stat()
    key = (path, stat.st_size, stat.st_mtime)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _sha_cache[key] = digest.hexdigest()[:16]
    return _sha_cache[key]


def run(
    store,
    experiment_id: int,
    load_backend: Callable[[str], Any],
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    parallel: int = 1,
) -> str:
    """Run every planned cell; returns the final status ("done" or "stopped").

    With `parallel` > 1, consecutive generation cells are decoded together (batched, results
    equal to one at a time); each cell is still committed the moment it finishes."""
    experiment = store.experiment(experiment_id)
    spec = experiment["spec"]
    pending = store.pending_cells(experiment_id)
    chat_keys = set(spec.get("special_tokens") or ())
    for cell in pending:  # chat-formatted prompts: control tokens parsed, as prompt_for_model counted them
        cell["special"] = _key(cell["template"], cell["template_version"]) in chat_keys
    total, done = experiment["total_cells"], experiment["done_cells"]
    store.set_experiment(experiment_id, status="running")
    started = time.perf_counter()
    backends: dict[int, Any] = {}
    held = HeldBackend()
    checkers = NoiseCheckers()
    finished = [0]
    last_commit = [started]

    def commit(cell: dict[str, Any], result: dict[str, Any]) -> None:
        model = spec["models"][cell["model_index"]]
        backend = backends[cell["model_index"]]
        result.update(model=model["name"], model_sha256=model_sha256(model["path"]))
        result.update(numerics=backend.options.numerics, batching=backend.options.batching)
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
                backends[model_index] = held.switch(load_backend(spec["models"][model_index]["path"]))
            backend = backends[model_index]
            if len(group) == 1:
                cell = group[0]
                config = cell_config(spec, cell)
                commit(cell, run_cell(backend, cell, config, spec.get("top_logprobs", 5), checkers.get(backend)))
            else:
                configs = [cell_config(spec, cell) for cell in group]
                run_batch(backend, group, configs, spec.get("top_logprobs", 5), parallel, commit, stop)
        if stop is not None and stop.is_set() and finished[0] < len(pending):
            store.set_experiment(experiment_id, status="stopped")
            return "stopped"
    except BaseException:
        store.set_experiment(experiment_id, status="stopped")
        raise
    finally:
        checkers.close()
        held.release()
    store.set_experiment(experiment_id, status="done")
    return "done"


def _noise(
    checker, prompt: str, words: list[str], add_bos: bool, special: bool, logprobs: list[float]
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


def run_batch(backend, cells, configs, top_logprobs: int, parallel: int, commit, stop) -> None:
    """Generation cells (each with its resolved Config) decoded together; each committed as it
    finishes; Stop lets running ones end."""
    from workbench.engine.batched import BatchCancel, generate_many

    requests, contexts = [], []
    for cell, config in zip(cells, configs, strict=True):
        requests.append(_request(cell, config, top_logprobs, backend.info.add_bos))
        contexts.append((cell, config, time.perf_counter()))
    cancel = BatchCancel()

    def done(index: int, outcome) -> None:
        cell, config, _queued = contexts[index]
        commit(cell, cell_result(cell, config, outcome))
        if stop is not None and stop.is_set():
            cancel.draining.set()

    generate_many(backend, requests, parallel, on_done=done, cancel=cancel)


def cell_result(cell: dict[str, Any], config: Config, outcome) -> dict[str, Any]:
    """A finished generation (or its error) as the cell's stored result."""
    case = Case(cell["case_id"], cell["vars"], cell["expected"], tuple(cell["choices"]) if cell["choices"] else None)
    rule = AnswerRule.from_dict(cell["scorer"]) or AnswerRule()
    result: dict[str, Any] = {"params": _request(cell, config, 0, True).sampling_record()}
    if outcome is None:  # label likelihood fills in the rest
        return result
    if isinstance(outcome, WorkbenchError):
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

    def switch(self, backend):
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
        self._pairs: list[tuple[Any, Any]] = []

    def get(self, backend) -> Callable[[], Any]:
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
    backend, cell: dict[str, Any], config: Config, top_logprobs: int, checker: Callable[[], Any] | None = None
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
    case = Case(cell["case_id"], cell["vars"], cell["expected"], tuple(cell["choices"]) if cell["choices"] else None)
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
