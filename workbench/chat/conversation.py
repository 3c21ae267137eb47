"""A conversation and the one prompt the model sees for its next turn.

A chat model has no memory: each turn the whole history (system prompt, every earlier question and
answer, the new question) is rendered by the chat format into one text and continued. When that text
and the room kept for the answer would not fit the context, the oldest turns after the system prompt
are dropped, and `ChatPrompt.dropped` says which: never silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from workbench import models
from workbench.engine.base import SamplingParams, TokenStep
from workbench.errors import ContextOverflowError, InputError, InvalidParameterError, TemplateError
from workbench.library.chat_formats import (
    BUILTIN_FORMATS,
    MODEL_FORMAT,
    Formatter,
    check_format,
    compile_template,
    format_stop,
)
from workbench.text import tokenizers

ROLES = ("user", "assistant")


@dataclass(frozen=True)
class ChatMessage:
    role: str  # user or assistant
    content: str
    tokens: tuple[TokenStep, ...] = ()  # an assistant turn's tokens as generated (empty when typed or imported)
    seed: int | None = None
    finish_reason: str | None = None
    run_id: int | None = None  # the run that holds this answer's token records

    def as_turn(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tokens:
            document.update(tokens=[t.to_dict() for t in self.tokens], seed=self.seed)
        if self.finish_reason:
            document["finish_reason"] = self.finish_reason
        if self.run_id is not None:
            document["run_id"] = self.run_id
        return document


@dataclass(frozen=True)
class ChatSettings:
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.7))
    max_tokens: int = 256
    top_logprobs: int = 10

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.params.__dict__.copy(), "max_tokens": self.max_tokens, "top_logprobs": self.top_logprobs}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ChatSettings:
        if not data:
            return cls()
        return cls(SamplingParams(**data.get("params", {})), data.get("max_tokens", 256), data.get("top_logprobs", 10))


@dataclass(frozen=True)
class Conversation:
    name: str
    model: str
    model_path: str
    system_prompt: str = ""
    chat_format: str = MODEL_FORMAT
    settings: ChatSettings = field(default_factory=ChatSettings)
    messages: tuple[ChatMessage, ...] = ()
    id: int | None = None

    def turns(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [m.as_turn() for m in self.messages]

    def with_messages(self, messages: tuple[ChatMessage, ...] | list[ChatMessage]) -> Conversation:
        return replace(self, messages=tuple(messages))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "model_path": self.model_path,
            "system_prompt": self.system_prompt,
            "chat_format": self.chat_format,
            "settings": self.settings.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
        }


# -- the model's chat format ------------------------------------------------------------------
@dataclass(frozen=True)
class ChatFormatChoice:
    """The format in use for a model, and what the user must be told about it."""

    name: str  # "model" or a built-in format
    template: str
    notice: str  # empty: the model's own format, rendered as trained


def default_builtin(info: models.ModelInfo) -> str:
    return "gemma" if info.architecture.startswith("gemma") else "plain"


def choose_format(info: models.ModelInfo, wanted: str) -> ChatFormatChoice:
    check_format(wanted)
    own = models.chat_template(info)
    if wanted == MODEL_FORMAT and own:
        return ChatFormatChoice(MODEL_FORMAT, own, "")
    name = default_builtin(info) if wanted == MODEL_FORMAT else wanted
    label = BUILTIN_FORMATS[name].label
    if own:
        notice = f"{label} is not {info.name}'s own chat format; it was trained on the template in its GGUF"
    else:
        notice = f"{info.name} has no chat template: it was never trained on {label}, so expect it to continue text"
    return ChatFormatChoice(name, BUILTIN_FORMATS[name].template, notice)


@dataclass(frozen=True)
class TurnCount:
    role: str
    tokens: int | None  # None: the template cannot render this prefix alone
    dropped: bool = False


@dataclass(frozen=True)
class ChatPrompt:
    """The exact next prompt: its text, its token ids (special tokens parsed), each turn's share."""

    text: str
    ids: tuple[int, ...]
    turns: tuple[TurnCount, ...]  # system (when present), then every message; dropped ones flagged
    dropped: tuple[int, ...]  # indexes into the conversation's messages
    n_ctx: int
    reserve: int
    format_name: str
    notice: str
    add_bos: bool
    stop: tuple[str, ...]

    @property
    def used(self) -> int:
        return len(self.ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.text,
            "tokens": self.used,
            "n_ctx": self.n_ctx,
            "reserve": self.reserve,
            "format": self.format_name,
            "notice": self.notice,
            "dropped_messages": list(self.dropped),
            "turns": [{"role": t.role, "tokens": t.tokens, "dropped": t.dropped} for t in self.turns],
        }


def check_ready(conversation: Conversation, n_ctx: int) -> int:
    """The room kept for the answer, once the conversation can be answered within `n_ctx` (every renderer)."""
    reserve = conversation.settings.max_tokens
    if reserve >= n_ctx:
        raise InvalidParameterError(f"max tokens ({reserve:,}) must be smaller than the context ({n_ctx:,} tokens)")
    if not conversation.messages or conversation.messages[-1].role != "user":
        raise InputError("the conversation must end with a user message before the model answers")
    return reserve


class ChatRenderer:
    """Renders a conversation for one model in one format, counting tokens with the model's vocabulary."""

    def __init__(self, info: models.ModelInfo, wanted_format: str = MODEL_FORMAT) -> None:
        self.info = info
        self.tokenizer = tokenizers.get_tokenizer(info.path)
        self.bos = self._token_text(info.bos_token_id)
        self.eos = self._token_text(info.eos_token_id)
        self.choice = choose_format(info, wanted_format)
        try:
            self.formatter = compile_template(self.choice.template, self.bos, self.eos)
        except TemplateError as err:
            self._fall_back(err)

    def _token_text(self, token_id: int | None) -> str:
        if token_id is None or token_id < 0:
            return ""
        return self.tokenizer.token_bytes(token_id).decode("utf-8", errors="replace")

    def _fall_back(self, err: TemplateError) -> None:
        name = default_builtin(self.info)
        label = BUILTIN_FORMATS[name].label
        self.choice = ChatFormatChoice(name, BUILTIN_FORMATS[name].template, f"{err}: using {label} instead")
        self.formatter: Formatter = compile_template(self.choice.template, self.bos, self.eos)

    def render(self, turns: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text; the model's own template falling back, with a notice, when it fails."""
        try:
            return self._text(turns, add_generation_prompt)
        except TemplateError as err:
            if self.choice.name != MODEL_FORMAT:
                raise
            self._fall_back(err)
            return self._text(turns, add_generation_prompt)

    def _text(self, turns: list[dict[str, str]], add_generation_prompt: bool) -> str:
        text = self.formatter(turns, add_generation_prompt)
        if self.info.add_bos and self.bos and text.startswith(self.bos):
            text = text[len(self.bos) :]  # the tokenizer adds BOS itself (llama.cpp strips it the same way)
        return text

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, special=True, bos=self.info.add_bos))

    def stop(self) -> tuple[str, ...]:
        return format_stop(self.choice.name, self.eos)

    def prompt(self, conversation: Conversation, n_ctx: int) -> ChatPrompt:
        """The next prompt, dropping the oldest turns after the system prompt until it and the room
        for the answer fit; ContextOverflowError when even the last message alone does not fit."""
        reserve = check_ready(conversation, n_ctx)
        messages = list(conversation.messages)
        first = 0
        while True:
            kept = conversation.with_messages(messages[first:])
            text = self.render(kept.turns())
            ids = self.tokenizer.encode(text, special=True, bos=self.info.add_bos)
            if len(ids) + reserve <= n_ctx:
                break
            first = _next_user_turn(messages, first)
            if first is None:
                raise ContextOverflowError(
                    f"the system prompt and the last message take {len(ids):,} tokens; with {reserve:,} kept for "
                    f"the answer they do not fit the context of {n_ctx:,} (shorten them or lower max tokens)"
                )
        dropped = tuple(range(first))
        return ChatPrompt(
            text=text,
            ids=tuple(ids),
            turns=self._turn_counts(conversation, first),
            dropped=dropped,
            n_ctx=n_ctx,
            reserve=reserve,
            format_name=self.choice.name,
            notice=self.choice.notice,
            add_bos=self.info.add_bos,
            stop=self.stop(),
        )

    def _turn_counts(self, conversation: Conversation, first: int) -> tuple[TurnCount, ...]:
        """Each turn's tokens: how much rendering up to it adds (so the counts sum to the prompt, save the
        assistant's opening). Dropped turns are counted as they were before being dropped."""
        system = 1 if conversation.system_prompt else 0
        full = conversation.turns()
        kept = full[:system] + full[system + first :]
        full_deltas, kept_deltas = self._deltas(full), self._deltas(kept)
        counts = [TurnCount("system", kept_deltas[0])] if system else []
        for index, message in enumerate(conversation.messages):
            if index < first:
                counts.append(TurnCount(message.role, full_deltas[system + index], True))
            else:
                counts.append(TurnCount(message.role, kept_deltas[system + index - first]))
        return tuple(counts)

    def _deltas(self, turns: list[dict[str, str]]) -> list[int | None]:
        deltas: list[int | None] = []
        before = self._count_prefix([])
        if before is None:  # a template that needs a message: the empty prompt is just the BOS (if any)
            before = self.count("")
        for end in range(1, len(turns) + 1):
            now = self._count_prefix(turns[:end])
            deltas.append(None if now is None else now - before)
            before = now if now is not None else before
        return deltas

    def _count_prefix(self, turns: list[dict[str, str]]) -> int | None:
        try:
            return self.count(self._text(turns, False))
        except TemplateError:
            return None


def _next_user_turn(messages: list[ChatMessage], first: int) -> int | None:
    """The index of the next user message after `first` that is not the last one (None: nothing to drop)."""
    for index in range(first + 1, len(messages) - 1):
        if messages[index].role == "user":
            return index
    last = len(messages) - 1
    return last if first < last else None
