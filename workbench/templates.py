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
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workbench.errors import TemplateError

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
        return (self.kind, self.body, self.variables, tuple(map(_freeze, self.examples)), self.k, _freeze(answer))

    def with_changes(self, **changes: Any) -> Template:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"], data["variables"], data["examples"] = list(self.tags), list(self.variables), list(self.examples)
        data["answer"] = self.answer.to_dict() if self.answer else None
        return data


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, trim_blocks=True
)


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
        text = compiled.render(context)
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
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def model_chat_format(chat_template: str, bos: str = "", eos: str = "") -> ChatFormat:
    """The model's own chat template (GGUF `tokenizer.chat_template`), rendered like llama.cpp's server."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        compiled = env.from_string(chat_template)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"the model's chat template does not parse: {err.message}") from None

    def raise_exception(message: str) -> None:
        raise TemplateError(f"the model's chat template refused the messages: {message}")

    def format_messages(messages: list[dict[str, str]]) -> str:
        return compiled.render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos, raise_exception=raise_exception
        )

    return format_messages


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
