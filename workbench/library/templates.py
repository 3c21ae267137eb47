"""Prompt templates: the four prompting styles (plus chat), rendered by a sandboxed Jinja2.

A template's body is Jinja2 with `StrictUndefined` in `ImmutableSandboxedEnvironment`: a
missing variable, a syntax error or an unsafe attribute is a `TemplateError` naming the
template, the line and the variable. Few-shot examples are data: the body loops over
`examples` (the first `k` of the template's list), so K changes without editing text.
"""

from __future__ import annotations

import difflib
import re
import traceback
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import jinja2
import jinja2.meta

from workbench.errors import TemplateError
from workbench.library.assertions import AssertionSet
from workbench.library.bounded import BoundedSandbox, bounded_render
from workbench.library.chat_formats import PLAIN, compile_template
from workbench.stops import format_stop_list, parse_stop_list

KINDS = ("prompt", "instruction", "few_shot", "chain_of_thought", "chat")
KIND_LABELS = {
    "prompt": "prompt / cloze",
    "instruction": "instruction",
    "few_shot": "few-shot",
    "chain_of_thought": "chain-of-thought",
    "chat": "chat",
}
SCORERS = ("exact", "contains", "regex", "choice", "number", "label_likelihood")
RESERVED = frozenset({"examples", "k"})  # names the renderer provides
CHAT_ROLE_LINE = re.compile(r"^### (system|user|assistant)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class AnswerRule:
    """How the comparison reads an answer out of an output (see the comparison issue).

    `verbalizer` maps a dataset label to the word or option this template asks for
    (positive -> "A" / " great" / "正面"), so one labelled dataset scores every style.
    """

    scorer: str = "exact"
    pattern: str = ""  # for `regex`: group 1 (or the whole match) is the answer
    verbalizer: dict[str, str] = field(default_factory=dict)

    def validate(self) -> AnswerRule:
        if self.scorer not in SCORERS:
            raise TemplateError(f"unknown scorer '{self.scorer}' (one of: {', '.join(SCORERS)})")
        if self.scorer == "regex":
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise TemplateError(
                    f"answer pattern {self.pattern!r} is not a valid regular expression: {err}"
                ) from None
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AnswerRule | None:
        if not data:
            return None
        if not isinstance(data, dict):
            raise TemplateError("`answer` must be a mapping with `scorer` (and `pattern` or `verbalizer`)")
        verbalizer = {str(k): str(v) for k, v in (data.get("verbalizer") or {}).items()}
        return cls(str(data.get("scorer", "exact")), str(data.get("pattern", "")), verbalizer).validate()


@dataclass(frozen=True)
class GenerationSettings:
    """A template's recommended generation settings. A grid uses them unless the user sets the
    same setting for the whole grid; a field left None says nothing (the grid's fallback applies).

    Chain of thought needs room to reason and a stop at the next question; a direct answer
    needs a few tokens and a stop at the end of the line."""

    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None  # () means: no stop strings
    temperature: float | None = None

    def validate(self) -> GenerationSettings:
        whole = isinstance(self.max_tokens, int) and not isinstance(self.max_tokens, bool)
        if self.max_tokens is not None and not (whole and self.max_tokens >= 1):
            raise TemplateError(f"settings: max_tokens must be a whole number >= 1 (got {self.max_tokens!r})")
        if self.stop is not None and any(not isinstance(s, str) or s == "" for s in self.stop):
            raise TemplateError("settings: every stop string must be non-empty text")
        temperature = self.temperature
        number = isinstance(temperature, int | float) and not isinstance(temperature, bool)
        if temperature is not None and not (number and 0 <= temperature < float("inf")):
            raise TemplateError(f"settings: temperature must be a number >= 0 (got {temperature!r})")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Only the settings the template sets (its YAML `settings:` mapping)."""
        data: dict[str, Any] = {}
        if self.max_tokens is not None:
            data["max_tokens"] = self.max_tokens
        if self.stop is not None:
            data["stop"] = list(self.stop)
        if self.temperature is not None:
            data["temperature"] = self.temperature
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GenerationSettings:
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise TemplateError("`settings` must be a mapping (max_tokens, stop, temperature)")
        unknown = set(data) - SETTING_KEYS
        if unknown:
            known = ", ".join(sorted(SETTING_KEYS))
            raise TemplateError(f"settings: unknown key(s) {', '.join(sorted(unknown))} (known: {known})")
        stop = data.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and not isinstance(stop, list | tuple):
            raise TemplateError("settings: `stop` must be a string or a list of strings")
        temperature = data.get("temperature")
        if isinstance(temperature, int) and not isinstance(temperature, bool):
            temperature = float(temperature)
        return cls(data.get("max_tokens"), tuple(stop) if stop is not None else None, temperature).validate()

    @classmethod
    def from_fields(cls, max_tokens: int | None, stop: str, no_stop: bool, temperature: str) -> GenerationSettings:
        """From an editor's fields: an empty field says nothing; `stop` is written with the one stop syntax."""
        stops = () if no_stop else parse_stop_list(stop) or None
        value = None
        if temperature.strip():
            try:
                value = float(temperature)
            except ValueError:
                raise TemplateError(f"settings: temperature must be a number >= 0 (got {temperature!r})") from None
        return cls(max_tokens or None, stops, value).validate()

    def describe(self) -> str:
        """One line for lists and tooltips, e.g. "max 256 · stop \\nQ: · T0"."""
        parts = []
        if self.max_tokens is not None:
            parts.append(f"max {self.max_tokens}")
        if self.stop is not None:
            parts.append(f"stop {format_stop_list(self.stop)}" if self.stop else "no stop")
        if self.temperature is not None:
            parts.append(f"T{self.temperature:g}")
        return " · ".join(parts)


SETTING_KEYS = frozenset({"max_tokens", "stop", "temperature"})


@dataclass(frozen=True)
class Template:
    name: str
    kind: str
    body: str
    description: str = ""
    tags: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()  # declared; empty means "whatever the body uses"
    examples: tuple[dict[str, Any], ...] = ()
    k: int | None = None  # how many examples the body sees; None: all
    answer: AnswerRule | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    checks: AssertionSet | None = None  # the YAML's `assert:` list: how a comparison scores open-ended output
    version: int = 0  # 0: not saved yet
    created_at: str = ""
    updated_at: str = ""

    def validate(self) -> Template:
        if not self.name or not self.name.strip():
            raise TemplateError("a template needs a name")
        if self.kind not in KINDS:
            raise TemplateError(f"template {self.name}: unknown kind '{self.kind}' (one of: {', '.join(KINDS)})")
        if self.k is not None and not 0 <= self.k <= len(self.examples):
            raise TemplateError(f"template {self.name}: k = {self.k} but it has {len(self.examples)} examples")
        reserved = RESERVED.intersection(self.variables)
        if reserved:
            raise TemplateError(f"template {self.name}: {', '.join(sorted(reserved))} is provided by the renderer")
        try:
            self.settings.validate()
        except TemplateError as err:
            raise TemplateError(f"template {self.name}: {err}") from None
        parse(self)
        return self

    def used_variables(self) -> tuple[str, ...]:
        """The variables the body reads, in the declared order first, then the rest sorted."""
        try:
            found = jinja2.meta.find_undeclared_variables(_ENV.parse(self.body)) - RESERVED
        except jinja2.TemplateSyntaxError:
            return self.variables  # validate() / render() report the syntax error itself
        declared = [v for v in self.variables if v in found or v in self.variables]
        return tuple(declared + sorted(found - set(declared)))

    def content_key(self) -> tuple:
        """What makes two saves the same version (the text and data, not the time)."""
        answer = self.answer.to_dict() if self.answer else None
        examples = tuple(map(_freeze, self.examples))
        settings = _freeze(self.settings.to_dict())
        checks = _freeze(self.checks.to_dict()) if self.checks else None
        return (self.kind, self.body, self.variables, examples, self.k, _freeze(answer), settings, checks)

    def with_changes(self, **changes: Any) -> Template:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"], data["variables"], data["examples"] = list(self.tags), list(self.variables), list(self.examples)
        data["answer"] = self.answer.to_dict() if self.answer else None
        data["settings"] = self.settings.to_dict()
        data["checks"] = self.checks.to_dict() if self.checks else None
        return data


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


_ENV = BoundedSandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, trim_blocks=True)


def parse(template: Template) -> jinja2.Template:
    try:
        return _ENV.from_string(template.body)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"template {template.name}, line {err.lineno}: syntax error: {err.message}") from None


@dataclass(frozen=True)
class Rendered:
    text: str
    messages: tuple[dict[str, str], ...] = ()  # chat templates: the turns, before the model's chat format


def render(
    template: Template,
    variables: dict[str, Any],
    k: int | None = None,
    chat_format: ChatFormat | None = None,
) -> Rendered:
    """Fill the body; `k` overrides how many examples it sees. Raises TemplateError, never Jinja's own."""
    compiled = parse(template)
    count = len(template.examples) if k is None and template.k is None else (k if k is not None else template.k)
    if not 0 <= count <= len(template.examples):
        raise TemplateError(f"template {template.name}: k = {count} but it has {len(template.examples)} examples")
    missing = [v for v in template.variables if v not in variables]
    if missing:
        raise TemplateError(f"template {template.name}: missing variable {', '.join(missing)}")
    context = {**variables, "examples": list(template.examples[:count]), "k": count}
    try:
        text = bounded_render(compiled, context)
    except TemplateError as err:  # a limit: the time, the size, the recursion
        raise TemplateError(f"template {template.name}: {err}") from None
    except jinja2.UndefinedError as err:
        raise TemplateError(f"template {template.name}, line {_line(err)}: {_undefined(err)}") from None
    except jinja2.exceptions.SecurityError as err:
        raise TemplateError(f"template {template.name}, line {_line(err)}: refused by the sandbox: {err}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as err:
        raise TemplateError(f"template {template.name}, line {_line(err)}: {type(err).__name__}: {err}") from None
    if template.kind != "chat":
        return Rendered(text)
    messages = split_chat(text)
    return Rendered(chat_format(messages) if chat_format else plain_transcript(messages), tuple(messages))


def _line(err: Exception) -> int | str:
    frames = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == "<template>"]
    return frames[-1] if frames else "?"


def _undefined(err: jinja2.UndefinedError) -> str:
    match = re.match(r"'([^']+)' is undefined", str(err))
    return f"undefined variable '{match.group(1)}'" if match else str(err)


# -- chat --------------------------------------------------------------------------------------
ChatFormat = Any  # Callable[[list[dict[str, str]]], str]


def split_chat(text: str) -> list[dict[str, str]]:
    """A chat body writes its turns under `### system`, `### user`, `### assistant` lines."""
    parts = CHAT_ROLE_LINE.split(text)
    messages = []
    for role, content in zip(parts[1::2], parts[2::2], strict=True):
        messages.append({"role": role, "content": content.strip("\n")})
    if not messages:
        raise TemplateError("a chat template writes its turns under lines like '### user'")
    return messages


def plain_transcript(messages: list[dict[str, str]]) -> str:
    """For models without a chat template: `User: ...` lines, ending where the assistant speaks."""
    return compile_template(PLAIN)(messages, True)


def parse_verbalizer(text: str) -> dict[str, str]:
    """`positive=A, neutral=B` -> {"positive": "A", "neutral": "B"} (values keep inner spaces: ' great')."""
    pairs = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            pairs[key.strip()] = value.strip("\n")
    return pairs


def body_diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    """A unified diff of two template bodies, line by line (the History view and `templates diff`)."""
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm=""))
