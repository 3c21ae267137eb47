"""Assertions: promptfoo's vocabulary for scoring an output, kept as data.

An `Assertion` names a check (`contains`, `chrf`, `llm-rubric`, ...), its value, a weight and a threshold;
an `AssertionSet` is several of them with the rule that makes a cell pass. A result is always a score in
0..1 and a pass/fail, with the metric's own value (chrF 0-100, a Levenshtein distance) kept beside it and
a reason; a check that cannot be made (a regex that runs too long, a judge that cannot be read, a metric
on a case without a reference) is an error result, never a silent 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import InputError

DETERMINISTIC = (
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "contains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "json-schema",
    "levenshtein",
    "latency",
    "length",
    "finish-reason",
    "perplexity",
)
REFERENCE_METRICS = ("bleu", "chrf", "ter", "rouge-1", "rouge-2", "rouge-l")
JUDGES = ("llm-rubric", "factuality", "closed-qa", "llm-grade")  # llm-grade: a 1-5 grade (the workbench's own)
CODE = ("python",)
EMBEDDINGS = ("similar",)  # cosine similarity of embeddings from a model the user picks (`provider`)
ANSWER_RULES = ("exact", "choice", "number")  # the workbench's own answer readers (experiments.scoring)
TYPES = DETERMINISTIC + REFERENCE_METRICS + JUDGES + CODE + EMBEDDINGS + ANSWER_RULES
NEGATABLE = frozenset(DETERMINISTIC[:10])  # promptfoo's `not-contains` and friends
ALIASES = {"rouge-n": "rouge-1", "contains-any-of": "contains-any"}
DEFAULT_THRESHOLDS = {m: 0.5 for m in REFERENCE_METRICS} | {"levenshtein": 5.0, "llm-rubric": 0.5}
DEFAULT_THRESHOLDS |= {"factuality": 0.5, "closed-qa": 0.5, "similar": 0.75, "llm-grade": 0.5}
KEYS = frozenset({"type", "value", "threshold", "weight", "metric", "provider", "rubricPrompt", "transform"})


@dataclass(frozen=True)
class Assertion:
    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str = ""  # a name to report it under (promptfoo's `metric`)
    provider: str = ""  # for judges: the judge model (a name, a GGUF path or connection:NAME); "" the default
    negate: bool = False

    @property
    def label(self) -> str:
        return self.metric or ("not-" if self.negate else "") + self.type

    @property
    def is_judge(self) -> bool:
        return self.type in JUDGES

    def effective_threshold(self) -> float | None:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS.get(self.type)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": ("not-" if self.negate else "") + self.type}
        for key in ("value", "threshold", "metric", "provider"):
            if getattr(self, key) not in (None, ""):
                data[key] = getattr(self, key)
        if self.weight != 1.0:
            data["weight"] = self.weight
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "assertion") -> Assertion:
        if isinstance(data, str):
            data = {"type": data}
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise InputError(f"{where}: an assertion is a mapping with a `type` (got {data!r})")
        unknown = set(data) - KEYS
        if unknown:
            raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})")
        kind = ALIASES.get(data["type"], data["type"])
        negate = kind.startswith("not-") and kind[4:] in NEGATABLE
        kind = kind[4:] if negate else kind
        if kind not in TYPES:
            raise InputError(f"{where}: unknown assertion type '{data['type']}' (known: {', '.join(TYPES)})")
        if kind in ("json-schema", "is-json", "contains-json") and isinstance(data.get("value"), dict):
            check_schema(data["value"], where)
        provider = str(data.get("provider") or "")
        if provider.startswith("remote:"):
            raise InputError(
                f"{where}: provider {provider[:60]!r}: name a saved connection (connection:NAME) or a local model; "
                "a remote: reference in an assertion could send outputs and your key anywhere"
            )
        weight, threshold = data.get("weight", 1.0), data.get("threshold")
        if not _number(weight) or weight < 0:
            raise InputError(f"{where}: weight must be a number >= 0 (got {weight!r})")
        if threshold is not None and not _number(threshold):
            raise InputError(f"{where}: threshold must be a number (got {threshold!r})")
        return cls(
            kind,
            data.get("value"),
            None if threshold is None else float(threshold),
            float(weight),
            str(data.get("metric") or ""),
            str(data.get("provider") or ""),
            negate,
        )


def check_schema(schema: dict[str, Any], where: str) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as err:
        raise InputError(f"{where}: invalid JSON schema: {err.message}") from None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class AssertionSet:
    """Several assertions; a cell passes when every one passes, or with `threshold` when the weighted mean
    score reaches it (promptfoo's test-level threshold)."""

    assertions: tuple[Assertion, ...]
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"assert": [a.to_dict() for a in self.assertions]}
        if self.threshold is not None:
            data["threshold"] = self.threshold
        return data

    @classmethod
    def from_list(cls, items: Any, threshold: float | None = None, where: str = "assert") -> AssertionSet:
        if not isinstance(items, list) or not items:
            raise InputError(f"{where}: a list of assertions is needed")
        return cls(tuple(Assertion.from_dict(item, f"{where}[{i}]") for i, item in enumerate(items)), threshold)

    @classmethod
    def parse_names(cls, text: str) -> AssertionSet:
        """`--scorer chrf,contains:猫,llm-rubric:"is polite"`: comma-separated TYPE or TYPE:VALUE."""
        items: list[dict[str, Any]] = []
        for part in _split_top(text):
            kind, _, value = part.strip('"').partition(":")
            item: dict[str, Any] = {"type": kind.strip()}
            if value:
                value = value.strip().strip('"')
                item["value"] = _typed(value) if kind.strip() in NUMERIC_VALUES else value
            items.append(item)
        return cls.from_list(items, where="--scorer")

    @property
    def has_judges(self) -> bool:
        return any(a.is_judge for a in self.assertions)

    @property
    def has_embeddings(self) -> bool:
        return any(a.type in EMBEDDINGS for a in self.assertions)

    def label(self) -> str:
        return ", ".join(a.label for a in self.assertions)


NUMERIC_VALUES = frozenset({"length", "latency"})  # `contains:007` stays the text 007


def _typed(text: str) -> Any:
    """A number written on the command line is a number (length:200, latency:500)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _split_top(text: str) -> list[str]:
    """Split on commas outside double quotes."""
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in (p.strip() for p in parts) if p]


@dataclass(frozen=True)
class AssertionResult:
    label: str
    type: str
    score: float | None  # 0..1; None: an error
    passed: bool | None
    value: float | None = None  # the metric's own figure (chrF 0-100, a distance, P(pass))
    reason: str = ""
    error: str = ""
    weight: float = 1.0
    judge: dict[str, Any] = field(default_factory=dict)  # a judge's prompt, raw text, tokens' alternatives

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssertionResult:
        return cls(**data)


@dataclass(frozen=True)
class CellScore:
    score: float | None
    passed: bool | None
    results: tuple[AssertionResult, ...]

    @property
    def error(self) -> str:
        return "; ".join(f"{r.label}: {r.error}" for r in self.results if r.error)

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "passed": self.passed, "results": [r.to_dict() for r in self.results]}


def combine(results: list[AssertionResult], threshold: float | None) -> CellScore:
    """Weighted mean of the scores; pass: every assertion passed, or the mean reached `threshold`. Any
    error makes the cell's score unknown (it is counted as a scorer error, never as a fail)."""
    if any(r.error for r in results):
        return CellScore(None, None, tuple(results))
    weights = sum(r.weight for r in results)
    score = sum((r.score or 0.0) * r.weight for r in results) / weights if weights else 0.0
    passed = score >= threshold if threshold is not None else all(r.passed for r in results)
    return CellScore(score, passed, tuple(results))
