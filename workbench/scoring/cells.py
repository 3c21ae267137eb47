"""Scoring many cells with their assertion sets, as one job: the deterministic checks and reference metrics
at once, every judge call of the same judge model as one grid (`Backend.generate_many`: batched locally, K
in flight on a server). A check that cannot be made is that assertion's error; the other cells go on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from workbench.engine.base import Backend
from workbench.engine.embeddings import Embedder
from workbench.errors import InputError, WorkbenchError
from workbench.library.assertions import (
    ANSWER_RULES,
    CODE,
    EMBEDDINGS,
    JUDGES,
    REFERENCE_METRICS,
    Assertion,
    AssertionResult,
    AssertionSet,
    CellScore,
    combine,
)
from workbench.library.templates import AnswerRule
from workbench.scoring import answers
from workbench.scoring.checks import CellContext, CheckError, check_metric, check_text, with_variables
from workbench.scoring.code import run_python
from workbench.scoring.judges import (
    GRADE_PRIMERS,
    JUDGE_TEMPLATES,
    PRIMERS,
    JudgeCall,
    judge_variables,
    judged_result,
    language_of,
)

DEFAULT_JUDGE = "instruct"  # models.INSTRUCT_MODEL_NAME: the embedded instruction-tuned model

JudgeEngines = Callable[[str], Backend]  # a judge model's name -> an open backend (the caller closes them)
Embedders = Callable[[str], "Embedder"]  # an embedding model's name ("" the default) -> an open embedder
RenderJudge = Callable[[str, dict, Backend], str]  # template name, variables, judge -> the judge's prompt


@dataclass
class ScoringJob:
    cells: Sequence[CellContext]
    sets: Sequence[AssertionSet]  # one per cell
    allow_code: Sequence[bool] | None = None  # per cell: may a `python` assertion run (False: from data)


def error_result(assertion: Assertion, message: str) -> AssertionResult:
    return AssertionResult(assertion.label, assertion.type, None, None, None, "", message, assertion.weight)


def check_one(assertion: Assertion, ctx: CellContext, allow_code: bool = True) -> AssertionResult:
    """Every assertion that needs no model; a judge is made by `score_cells`."""
    try:
        assertion = with_variables(assertion, ctx)
        if assertion.type in REFERENCE_METRICS:
            return check_metric(assertion, ctx)
        if assertion.type in CODE:
            if not allow_code:
                raise CheckError("python assertions from a dataset or an imported suite run only with --allow-code")
            return run_python(assertion, ctx)
        if assertion.type in ANSWER_RULES:
            return answer_rule(assertion, ctx)
        return check_text(assertion, ctx)
    except CheckError as err:
        return error_result(assertion, str(err))
    except (TypeError, ValueError, RecursionError, LookupError) as err:  # a value the check cannot take
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        return error_result(assertion, f"the check could not be made on this output ({reason})")


def answer_rule(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    if ctx.case.expected is None:
        raise CheckError(f"case '{ctx.case.id}' has no `expected` answer for {assertion.type}")
    scored = answers.score_output(ctx.output, ctx.case, AnswerRule(assertion.type))
    score = scored.score or 0.0
    reason = f"read {scored.answer!r}, expected {ctx.case.expected!r}"
    return AssertionResult(assertion.label, assertion.type, score, score >= 1.0, score, reason, weight=assertion.weight)


def score_cells(
    job: ScoringJob,
    judges: JudgeEngines | None = None,
    render: RenderJudge | None = None,
    width: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    embedders: Embedders | None = None,
) -> list[CellScore]:
    """Each cell's CellScore, in order. `judges` opens a judge model by name (needed when a set has a
    judge); `render` turns a judge template and its variables into the judge model's prompt."""
    results: list[list[AssertionResult | None]] = []
    pending: dict[str, list[tuple[int, int, JudgeCall]]] = defaultdict(list)
    similar: dict[str, list[tuple[int, int, Assertion]]] = defaultdict(list)
    for index, (ctx, assertion_set) in enumerate(zip(job.cells, job.sets, strict=True)):
        allowed = job.allow_code[index] if job.allow_code is not None else True
        row: list[AssertionResult | None] = []
        for position, assertion in enumerate(assertion_set.assertions):
            if assertion.type in JUDGES:
                row.append(None)
                pending[assertion.provider or DEFAULT_JUDGE].append((index, position, _judge_call(assertion, ctx)))
            elif assertion.type in EMBEDDINGS:
                row.append(None)
                similar[assertion.provider].append((index, position, assertion))
            else:
                row.append(check_one(assertion, ctx, allowed))
        results.append(row)
    for provider, wanted in similar.items():
        _run_similar(provider, wanted, job.cells, results, embedders)
    for provider, calls in pending.items():
        _run_judges(provider, calls, results, judges, render, width, on_progress)
    return [combine([r for r in row if r is not None], s.threshold) for row, s in zip(results, job.sets, strict=True)]


def _judge_call(assertion: Assertion, ctx: CellContext) -> JudgeCall:
    """The judge's template and variables; the prompt is rendered once the judge model is open."""
    try:
        assertion = with_variables(assertion, ctx)  # before the language is read: {{ rubric }} may be Chinese
        template = JUDGE_TEMPLATES[(assertion.type, language_of(assertion, ctx))]
        return JudgeCall(assertion, template, judge_variables(assertion, ctx))
    except CheckError as err:
        return JudgeCall(assertion, JUDGE_TEMPLATES[(assertion.type, "en")], error=str(err))


def _run_judges(provider, calls, results, judges, render, width, on_progress) -> None:
    if judges is None or render is None:
        raise InputError("a judge assertion needs a judge model (none was given to score with)")
    ready = [(i, p, c) for i, p, c in calls if not c.error]
    for i, p, c in calls:
        if c.error:
            results[i][p] = error_result(c.assertion, c.error)
    if not ready:
        return
    try:
        backend = judges(provider)
    except WorkbenchError as err:
        for i, p, c in ready:
            results[i][p] = error_result(c.assertion, f"judge error: the judge model could not be opened: {err}")
        return
    try:
        prompts = [replace(c, prompt=render(c.template, c.variables, backend) + primer(c)) for _, _, c in ready]
    except WorkbenchError as err:
        for i, p, c in ready:
            results[i][p] = error_result(c.assertion, f"judge error: the judge prompt could not be made: {err}")
        return
    done = [0]

    def progress(_index: int, _outcome: object) -> None:
        done[0] += 1
        if on_progress:
            on_progress(done[0], len(prompts))

    outcomes = backend.generate_many([c.request() for c in prompts], width, on_done=progress)
    for (i, p, _), call, outcome in zip(ready, prompts, outcomes, strict=True):
        try:
            results[i][p] = judged_result(call, outcome if outcome is not None else WorkbenchError("not run"))
        except CheckError as err:
            results[i][p] = error_result(call.assertion, str(err))


def primer(call: JudgeCall) -> str:
    primers = GRADE_PRIMERS if call.assertion.type == "llm-grade" else PRIMERS
    return primers["zh" if call.template.endswith("-zh") else "en"]


def _run_similar(provider: str, wanted, cells, results, embedders) -> None:
    """Cosine similarity of each output to its expected text, every text embedded in one call."""
    texts: list[str] = []
    ready = []
    for i, p, assertion in wanted:
        try:
            assertion = with_variables(assertion, cells[i])
            reference = str(assertion.value) if assertion.value is not None else cells[i].reference()
        except CheckError as err:
            results[i][p] = error_result(assertion, str(err))
            continue
        ready.append((i, p, assertion))
        texts += [cells[i].output.strip(), reference]
    if not ready:
        return
    if embedders is None:
        raise InputError("a similar assertion needs an embedding model (none was given to score with)")
    try:
        embedder = embedders(provider)
        vectors = embedder.embed(texts)
    except WorkbenchError as err:
        for i, p, assertion in ready:
            results[i][p] = error_result(assertion, f"embedding error: {err}")
        return
    for k, (i, p, assertion) in enumerate(ready):
        cosine = float(vectors[2 * k] @ vectors[2 * k + 1])
        threshold = assertion.effective_threshold()
        reason = f"cosine {cosine:.3f} with {embedder.name} (at least {threshold:g})"
        results[i][p] = AssertionResult(
            assertion.label, "similar", max(0.0, cosine), cosine >= threshold, cosine, reason, weight=assertion.weight
        )
