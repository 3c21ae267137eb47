"""Experiments: templates x cases x sampling configurations x models x samples.

`plan` checks everything that can be checked before a token is generated (variables, scorers,
size), then writes every cell to SQLite (`runner.run` executes them). Cells are ordered
model -> template -> case -> config -> sample: consecutive prompts share the template's prefix
(reused from llama.cpp's KV cache) and the samples of a cell share the whole prompt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench import models
from workbench.chat.prompting import prompt_for_model, uses_special_tokens
from workbench.engine.base import SamplingParams, sample_seed, seed_or_fresh
from workbench.errors import InputError, TemplateError
from workbench.library.assertions import AssertionSet
from workbench.library.datasets import Case
from workbench.library.templates import SCORERS, GenerationSettings, Template, render
from workbench.scoring.answers import rule_for

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
    scorer: str | None = None  # an answer rule for every template, or assertions (chrf,llm-rubric:...) for every cell
    name: str = ""
    top_logprobs: int = 5
    allow_code: bool = False  # python assertions from the dataset's rows may run


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
    allow_code: bool = False,
) -> GridSpec:
    """The grid a person asked for, as the CLI and the Compare tab both build it. `temperatures`
    ("0, 0.7"), `max_tokens` and `stop` left empty come from each template's settings; given, they
    override every template. `params.temperature` is the fallback for templates that set none."""
    config = Config(params.validate(), max_tokens, stop, template_temperature=True)
    grid_assertions(scorer)  # a bad --scorer is refused before anything is planned
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
        allow_code=allow_code,
    )


def template_key(name: str, version: int) -> str:
    return f"{name}@{version}"


def cell_config(spec: dict[str, Any], cell: dict[str, Any]) -> Config:
    """What a planned cell runs with: the grid's configuration resolved against its template's settings
    (recorded in the experiment when it was planned, so a later template edit changes nothing)."""
    config = Config.from_dict(spec["configs"][cell["config_index"]])
    stored = (spec.get("template_settings") or {}).get(template_key(cell["template"], cell["template_version"]))
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
    grid_checks = grid_assertions(spec.scorer)
    answer_override = None if grid_checks is not None else spec.scorer
    check_grid(templates, dataset.cases, answer_override)
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
                rule = rule_for(template.answer, case, answer_override)
                scorer = {**rule.to_dict(), **cell_checks(grid_checks, template, case)}
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
                                "scorer": scorer,
                                "seed": sample_seed(seed, sample, position),
                            }
                        )
    record = {
        "templates": [{"name": t.name, "version": t.version} for t in templates],
        "configs": [c.to_dict() for c in spec.configs],
        "template_settings": {template_key(t.name, t.version): t.settings.to_dict() for t in templates},
        "special_tokens": [template_key(t.name, t.version) for t in templates if uses_special_tokens(t)],
        "models": [{"name": i.name, "path": i.path} for i in infos],
        "samples": spec.samples,
        "scorer": spec.scorer,
        "base_seed": base_seed,
        "top_logprobs": spec.top_logprobs,
        "allow_code": spec.allow_code,
    }
    name = spec.name or f"{dataset.name}: {', '.join(t.name for t in templates)}"
    return store.create_experiment(name, dataset.name, record, cells)


def grid_assertions(scorer: str | None) -> AssertionSet | None:
    """`--scorer` naming assertions (chrf, llm-rubric:..., several with commas) scores every cell with them;
    an answer-rule name (exact, choice, ...) only replaces the templates' answer rules."""
    if not scorer or scorer in SCORERS:
        return None
    return AssertionSet.parse_names(scorer)


def cell_checks(grid_checks: AssertionSet | None, template: Template, case: Case) -> dict[str, Any]:
    """A cell's assertions as kept in its scorer record: the grid's, else the template's plus the row's own."""
    if grid_checks is not None:
        return {"checks": grid_checks.to_dict()}
    items = [a.to_dict() for a in template.checks.assertions] if template.checks else []
    items += list(case.checks)
    if not items:
        return {}
    return {"checks": AssertionSet.from_list(items, template.checks.threshold if template.checks else None).to_dict()}
