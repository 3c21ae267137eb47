"""The deterministic checks and the reference metrics, each from its maintained implementation: regular
expressions with a time limit (`regex`), JSON Schema (`jsonschema`), Levenshtein (`rapidfuzz`), BLEU / chrF /
TER (`sacrebleu`'s sentence-level functions with their defaults; `tokenize="zh"` for a Chinese reference) and
ROUGE (`rouge-score`; Chinese by character)."""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.library.assertions import Assertion, AssertionResult
from workbench.library.datasets import Case

REGEX_TIMEOUT_S = 1.0
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class CheckError(Exception):
    """A check that cannot be made on this cell; its message becomes the result's error."""


@dataclass(frozen=True)
class CellContext:
    """What a check can look at: the output and the case, and what the run recorded."""

    output: str
    case: Case
    prompt: str = ""
    latency_ms: float | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    token_logprobs: tuple[float, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def reference(self, column: str = "reference") -> str:
        """The case's reference text: its `reference` field, else its expected answer."""
        value = self.case.vars.get(column, self.case.expected)
        if value is None or str(value).strip() == "":
            raise CheckError(f"case '{self.case.id}' has no `{column}` (nor `expected`) to compare with")
        return str(value)


def passed_result(assertion: Assertion, ok: bool, reason: str, value: float | None = None) -> AssertionResult:
    ok = ok != assertion.negate
    return AssertionResult(assertion.label, assertion.type, float(ok), ok, value, reason, weight=assertion.weight)


def graded_result(assertion: Assertion, score: float, value: float, reason: str) -> AssertionResult:
    threshold = assertion.effective_threshold()
    ok = score >= threshold if threshold is not None else True
    return AssertionResult(assertion.label, assertion.type, score, ok, value, reason, weight=assertion.weight)


def _text_value(assertion: Assertion, ctx: CellContext) -> str:
    return str(assertion.value) if assertion.value is not None else ctx.reference("expected")


def _list_value(assertion: Assertion) -> list[str]:
    value = assertion.value
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise CheckError(f"{assertion.type} needs a list of strings as its value")
    return [str(v) for v in value]


def check_text(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    output, kind = ctx.output, assertion.type
    if kind == "equals":
        want = _text_value(assertion, ctx)
        return passed_result(assertion, output.strip() == want.strip(), f"expected {want!r}")
    if kind == "contains":
        want = _text_value(assertion, ctx)
        return passed_result(assertion, want in output, f"looked for {want!r}")
    if kind == "icontains":
        want = _text_value(assertion, ctx)
        return passed_result(assertion, want.casefold() in output.casefold(), f"looked for {want!r} in any case")
    if kind == "starts-with":
        want = _text_value(assertion, ctx)
        return passed_result(assertion, output.lstrip().startswith(want), f"should start with {want!r}")
    if kind == "contains-any":
        wanted = _list_value(assertion)
        found = [w for w in wanted if w in output]
        return passed_result(assertion, bool(found), f"found {found}" if found else f"none of {wanted}")
    if kind == "contains-all":
        wanted = _list_value(assertion)
        missing = [w for w in wanted if w not in output]
        return passed_result(assertion, not missing, f"missing {missing}" if missing else "all found")
    if kind == "regex":
        return check_regex(assertion, output)
    if kind in ("is-json", "contains-json", "json-schema"):
        return check_json(assertion, output)
    if kind == "levenshtein":
        return check_levenshtein(assertion, ctx)
    return check_run(assertion, ctx)


def check_regex(assertion: Assertion, output: str) -> AssertionResult:
    import regex

    try:
        pattern = regex.compile(str(assertion.value))
        found = pattern.search(output, timeout=REGEX_TIMEOUT_S)
    except regex.error as err:
        raise CheckError(f"pattern {assertion.value!r} is not a valid regular expression: {err}") from None
    except TimeoutError:
        raise CheckError(f"pattern {assertion.value!r} ran longer than {REGEX_TIMEOUT_S:g} s and was stopped") from None
    return passed_result(assertion, found is not None, f"matched {found.group(0)!r}" if found else "no match")


def _json_in(text: str, anywhere: bool) -> Any:
    """The output parsed as JSON (a code fence around it is allowed); with `anywhere`, the first JSON object
    or array inside the text. Raises ValueError when there is none."""
    stripped = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)
    try:
        return json.loads(stripped)
    except ValueError:
        if not anywhere:
            raise
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"[\[{]", text)):
        try:
            return decoder.raw_decode(text, start)[0]
        except ValueError:
            continue
    raise ValueError("no JSON object or array in the output")


def _validator(schema: Any):
    import jsonschema

    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as err:
            raise CheckError(f"the JSON schema is not JSON: {err}") from None
    if not isinstance(schema, dict | bool):
        raise CheckError(f"a JSON schema is an object (got {schema!r})")
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise CheckError(f"invalid JSON schema: {err.message}") from None
    return cls(schema)


def check_json(assertion: Assertion, output: str) -> AssertionResult:
    import referencing.exceptions

    schema = assertion.value
    if assertion.type == "json-schema" and schema is None:
        raise CheckError("json-schema needs a schema as its value")
    validator = _validator(schema) if schema is not None else None
    try:
        document = _json_in(output, anywhere=assertion.type == "contains-json")
    except ValueError as err:
        return passed_result(assertion, False, f"not JSON: {err}")
    if validator is None:
        return passed_result(assertion, True, "valid JSON")
    try:
        problems = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.path])
    except referencing.exceptions.Unresolvable as err:
        raise CheckError(f"the JSON schema has a $ref that cannot be resolved: {err}") from None
    if problems:
        first = problems[0]
        where = "/".join(str(p) for p in first.path) or "the document"
        return passed_result(assertion, False, f"{where}: {first.message}")
    return passed_result(assertion, True, "matches the schema")


def check_levenshtein(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    from rapidfuzz.distance import Levenshtein

    want = _text_value(assertion, ctx)
    distance = Levenshtein.distance(ctx.output.strip(), want.strip())
    limit = assertion.effective_threshold()
    similarity = Levenshtein.normalized_similarity(ctx.output.strip(), want.strip())
    reason = f"distance {distance} (at most {limit:g})"
    return AssertionResult(
        assertion.label, "levenshtein", similarity, distance <= limit, float(distance), reason, weight=assertion.weight
    )


def check_run(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    kind, value = assertion.type, assertion.value
    if kind == "latency":
        if ctx.latency_ms is None:
            raise CheckError("the run has no latency recorded")
        limit = _positive(value, "latency needs a value in milliseconds")
        return passed_result(assertion, ctx.latency_ms <= limit, f"{ctx.latency_ms:.0f} ms", ctx.latency_ms)
    if kind == "length":
        return check_length(assertion, ctx)
    if kind == "finish-reason":
        return passed_result(assertion, ctx.finish_reason == str(value), f"finished by {ctx.finish_reason}")
    if kind == "perplexity":
        if not ctx.token_logprobs:
            raise CheckError("the run kept no token log-probabilities to compute a perplexity from")
        perplexity = math.exp(-sum(ctx.token_logprobs) / len(ctx.token_logprobs))
        limit = assertion.threshold
        score = 1.0 / perplexity
        ok = perplexity <= limit if limit is not None else True
        reason = f"perplexity {perplexity:.3g}" + (f" (at most {limit:g})" if limit is not None else "")
        return AssertionResult(assertion.label, kind, score, ok, perplexity, reason, weight=assertion.weight)
    raise CheckError(f"'{kind}' is not a deterministic check")


def _positive(value: Any, message: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise CheckError(message)
    return float(value)


def check_length(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    """value: a maximum, or {min, max, unit: chars|tokens}."""
    spec = assertion.value if isinstance(assertion.value, dict) else {"max": assertion.value}
    unit = spec.get("unit", "chars")
    if unit not in ("chars", "tokens"):
        raise CheckError(f"length: unit is chars or tokens (got {unit!r})")
    size = len(ctx.output) if unit == "chars" else ctx.completion_tokens
    if size is None:
        raise CheckError("the run has no token count")
    low, high = spec.get("min"), spec.get("max")
    if low is None and high is None:
        raise CheckError("length needs a maximum (or {min, max})")
    if any(b is not None and (isinstance(b, bool) or not isinstance(b, int | float)) for b in (low, high)):
        raise CheckError(f"length: min and max are numbers (got {assertion.value!r})")
    ok = (low is None or size >= low) and (high is None or size <= high)
    bounds = f"{low if low is not None else 0}..{high if high is not None else '∞'}"
    return passed_result(assertion, ok, f"{size} {unit} (allowed {bounds})", float(size))


def is_chinese(text: str) -> bool:
    return bool(CJK.search(text))


def check_metric(assertion: Assertion, ctx: CellContext) -> AssertionResult:
    reference = str(assertion.value) if assertion.value is not None else ctx.reference()
    hypothesis = ctx.output.strip()
    kind = assertion.type
    if kind in ("bleu", "chrf", "ter"):
        native = sacrebleu_score(kind, hypothesis, reference)
        score = max(0.0, 1.0 - native / 100.0) if kind == "ter" else native / 100.0
        return graded_result(assertion, score, native, f"{kind} {native:.1f}")
    f_measure = rouge_f(kind, hypothesis, reference)
    return graded_result(assertion, f_measure, f_measure, f"{kind} F {f_measure:.3f}")


def sacrebleu_score(kind: str, hypothesis: str, reference: str) -> float:
    """sacrebleu's sentence-level score with its defaults (the same as `sacrebleu.sentence_bleu` and friends),
    the metric object made once per kind and language rather than per sentence."""
    return _sacrebleu_metric(kind, is_chinese(reference)).sentence_score(hypothesis, [reference]).score


@functools.cache
def _sacrebleu_metric(kind: str, chinese: bool):
    from sacrebleu.metrics import BLEU, CHRF, TER

    if kind == "bleu":
        return BLEU(tokenize="zh" if chinese else "13a", effective_order=True)
    if kind == "chrf":
        return CHRF()
    # sacrebleu applies TER's Asian support only with normalisation; without both, a Chinese sentence is one
    # "word" and TER is 0 or 100
    return TER(normalized=True, asian_support=True) if chinese else TER()


class _CharTokenizer:
    """ROUGE over Chinese by character (rouge-score's own tokenizer drops non-Latin text)."""

    def tokenize(self, text: str) -> list[str]:
        return [c for c in text if not c.isspace() and c.isalnum()]


def rouge_f(kind: str, hypothesis: str, reference: str) -> float:
    name = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL"}[kind]
    return float(_rouge(name, is_chinese(reference)).score(reference, hypothesis)[name].fmeasure)


@functools.cache
def _rouge(name: str, chinese: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([name], tokenizer=_CharTokenizer() if chinese else None)


VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def with_variables(assertion: Assertion, ctx: CellContext) -> Assertion:
    """promptfoo's `{{ var }}` in an assertion's value, filled from the case (`expected` too)."""
    if not isinstance(assertion.value, str) or "{{" not in assertion.value:
        return assertion
    known = {**ctx.case.vars, "expected": ctx.case.expected}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if known.get(name) is None:
            raise CheckError(f"the assertion's value uses {{{{ {name} }}}}, which case '{ctx.case.id}' does not have")
        return str(known[name])

    return replace(assertion, value=VARIABLE.sub(fill, assertion.value))
