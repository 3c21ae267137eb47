"""promptfoo assertions as workbench assertions: the shorthand strings of CSV tests (`icontains:bonjour`,
`levenshtein(5):x`), `$ref` to assertionTemplates, and the reasons for what cannot run here (JavaScript, inline
Python, assertions that need a hosted API)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import InputError
from workbench.library.assertions import Assertion


@dataclass
class Unmapped:
    what: str
    reason: str


class PathReader(Protocol):
    def path(self, reference: str, what: str) -> Path: ...

    def text(self, reference: str, what: str) -> str: ...


JS_TYPES = {"javascript", "fn", "webhook"}
UNSUPPORTED_TYPES = {
    "cost": "a local model has no cost",
    "assert-set": "nested assertion sets are not supported: list the assertions",
    "select-best": "select-best compares outputs across prompts; use the pairwise review instead",
    "moderation": "needs a hosted moderation API",
    "answer-relevance": "needs an embedding model",
    "context-recall": "RAG context metrics are not supported",
    "context-relevance": "RAG context metrics are not supported",
    "context-faithfulness": "RAG context metrics are not supported",
    "g-eval": "use llm-rubric",
    "model-graded-closedqa": "",
    "model-graded-factuality": "",
}
ALIASES = {"model-graded-closedqa": "closed-qa", "model-graded-factuality": "factuality", "grade": "llm-rubric"}
SHORTHAND = re.compile(r"^(not-)?([a-z-]+)(?:\(([0-9.]+)\))?:(.*)$", re.DOTALL)


def shorthand(text: str) -> dict[str, Any]:
    """promptfoo's assertion strings: `icontains:bonjour`, `not-contains:x`, `levenshtein(5):x`, `is-json`,
    `grade:rubric`, `fn:...`; a string without a type is `equals`."""
    if text in ("is-json", "is-valid-openai-tools-call", "contains-json"):
        return {"type": text}
    match = SHORTHAND.match(text)
    if not match:
        return {"type": "equals", "value": text}
    negate, kind, threshold, value = match.groups()
    found: dict[str, Any] = {"type": (negate or "") + kind, "value": value}
    if threshold:
        found["threshold"] = float(threshold)
    return found


def map_assertion(
    raw: Any,
    refs: dict,
    reader: PathReader,
    where: str,
    unmapped: list[Unmapped],
    allow_code: bool,
    known_models: frozenset[str] = frozenset(),
):
    """`known_models`: the local model names and `connection:NAME`s an assertion's `provider` may name; any
    other provider (a URL, a path, a `remote:` reference) could send the suite's outputs elsewhere, so the
    assertion is left out with the reason."""
    if isinstance(raw, str):
        raw = shorthand(raw)
    if isinstance(raw, dict) and "$ref" in raw:
        key = str(raw["$ref"]).rsplit("/", 1)[-1]
        if key not in refs:
            unmapped.append(Unmapped(where, f"$ref {raw['$ref']} names no assertionTemplates entry"))
            return None
        raw = refs[key]
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        unmapped.append(Unmapped(where, f"not an assertion: {raw!r}"))
        return None
    kind = ALIASES.get(raw["type"], raw["type"])
    bare = kind.removeprefix("not-")
    if bare in JS_TYPES:
        unmapped.append(Unmapped(where, f"{raw['type']}: JavaScript assertions do not run in the workbench"))
        return None
    if UNSUPPORTED_TYPES.get(bare):
        unmapped.append(Unmapped(where, f"{raw['type']}: {UNSUPPORTED_TYPES[bare]}"))
        return None
    data = {k: v for k, v in raw.items() if k in ("type", "value", "threshold", "weight", "metric", "provider")}
    data["type"] = kind
    for key in sorted(set(raw) & {"transform", "rubricPrompt", "options", "config"}):
        unmapped.append(Unmapped(where, f"{key}: not kept (the assertion runs without it)"))
    provider = raw.get("provider")
    if provider is not None and (not isinstance(provider, str) or provider not in known_models):
        unmapped.append(
            Unmapped(where, f"provider {provider!r} is not a local model or saved connection: assertion left out")
        )
        return None
    if isinstance(data.get("value"), str) and data["value"].startswith("file://") and bare != "python":
        data["value"] = reader.text(data["value"], where)
    if bare == "python":
        value = str(raw.get("value", ""))
        if not value.startswith("file://"):
            unmapped.append(Unmapped(where, "python: inline code is not run; put it in a file (file://scorer.py)"))
            return None
        if not allow_code:
            unmapped.append(Unmapped(where, "python: code from an imported suite runs only with --allow-code"))
            return None
        file_part, _, function = value.removeprefix("file://").partition(":")
        data["value"] = f"file://{reader.path(file_part, where)}" + (f":{function}" if function else "")
    try:
        return Assertion.from_dict(data, where).to_dict()
    except InputError as err:
        unmapped.append(Unmapped(where, str(err)))
        return None
