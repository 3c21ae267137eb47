"""What a user does in a chat: send, regenerate, edit an earlier message (the rest is cut), stop; saving,
reopening, renaming, deleting and exporting conversations. The Chat tab and `workbench chat` call these."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench import models
from workbench.chat.conversation import ChatMessage, ChatPrompt, ChatRenderer, ChatSettings, Conversation
from workbench.engine.base import Backend, Generation, GenerationRequest, OnToken, TokenStep
from workbench.errors import InputError
from workbench.fsutil import atomic_write_text
from workbench.library.chat_formats import MODEL_FORMAT, check_format
from workbench.runs.history import save_generation
from workbench.store import Store

MAX_MESSAGE_CHARS = 200_000


def new_conversation(
    info: models.ModelInfo,
    system_prompt: str = "",
    chat_format: str = MODEL_FORMAT,
    settings: ChatSettings | None = None,
    name: str = "",
) -> Conversation:
    settings = settings or ChatSettings()
    settings.params.validate()
    return Conversation(
        name=name.strip() or "New chat",
        model=info.name,
        model_path=info.path,
        system_prompt=system_prompt.strip(),
        chat_format=check_format(chat_format),
        settings=settings,
    )


def check_message(text: str) -> str:
    if not text.strip():
        raise InputError("the message is empty: type something for the model to answer")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(f"the message is {len(text):,} characters; a chat message takes up to {MAX_MESSAGE_CHARS:,}")
    return text


def add_user_message(conversation: Conversation, text: str) -> Conversation:
    if conversation.messages and conversation.messages[-1].role == "user":
        raise InputError("the last message has no answer yet: let the model answer, or edit that message")
    check_message(text)
    named = conversation
    if not conversation.messages and conversation.name == "New chat":
        named = replace(conversation, name=_title(text))
    return named.with_messages([*conversation.messages, ChatMessage("user", check_message(text))])


def _title(text: str) -> str:
    first_line = text.strip().splitlines()[0]
    return first_line if len(first_line) <= 48 else first_line[:47] + "…"


def edit_user_message(conversation: Conversation, index: int, text: str) -> Conversation:
    """Replace user message `index`; every message after it is cut (the model answers the new text)."""
    if not 0 <= index < len(conversation.messages):
        raise InputError(f"no message {index} (the conversation has {len(conversation.messages)})")
    if conversation.messages[index].role != "user":
        raise InputError(f"message {index} is the model's answer; only your messages can be edited")
    kept = conversation.messages[:index]
    return conversation.with_messages([*kept, ChatMessage("user", check_message(text))])


def without_last_answer(conversation: Conversation) -> Conversation:
    """For regenerate: the conversation up to the last user message."""
    messages = list(conversation.messages)
    while messages and messages[-1].role == "assistant":
        messages.pop()
    if not messages:
        raise InputError("there is no message to answer yet")
    return conversation.with_messages(messages)


def next_turn_preview(conversation: Conversation, draft: str = "", editing: int | None = None) -> Conversation:
    """The conversation as it will be sent: with the draft message (even empty) as the last user turn, or
    with message `editing` replaced by the draft and what follows it cut."""
    messages = list(conversation.messages[:editing] if editing is not None else conversation.messages)
    if messages and messages[-1].role == "user" and editing is None:
        return conversation.with_messages(messages)
    return conversation.with_messages([*messages, ChatMessage("user", draft)])


def request_for(prompt: ChatPrompt, settings: ChatSettings) -> GenerationRequest:
    """The generation request for the next turn: the prompt's exact ids, special tokens parsed."""
    return GenerationRequest(
        prompt=prompt.text,
        params=settings.params,
        max_tokens=settings.max_tokens,
        stop=prompt.stop,
        top_logprobs=settings.top_logprobs,
        add_bos=prompt.add_bos,
        special=True,
        prompt_ids=prompt.ids,
    ).validate()


def answer_message(generation: Generation, run_id: int | None = None) -> ChatMessage:
    text = generation.text.strip()
    return ChatMessage("assistant", text, generation.tokens, generation.seed, generation.finish_reason, run_id)


def reply(
    backend: Backend,
    conversation: Conversation,
    renderer: ChatRenderer,
    n_ctx: int,
    on_token: OnToken | None = None,
    store: Store | None = None,
) -> tuple[Conversation, ChatPrompt, Generation]:
    """The model's next turn: render the history, generate, append the answer (a stopped one too). With
    `store`, the generation is kept as a run of the history (its tokens live there)."""
    prompt = renderer.prompt(conversation, n_ctx)
    request = request_for(prompt, conversation.settings)
    if backend.remote:  # the server renders the messages with its model's template
        generation = backend.chat(conversation.turns(), request, on_token)
    else:
        generation = backend.generate(request, on_token)
    run_id = None
    if store is not None:
        source = f"conversation {conversation.id}" if conversation.id is not None else "conversation"
        run_id = save_generation(store, backend, request, [generation], "chat", source)
    answer = answer_message(generation, run_id)
    return conversation.with_messages([*conversation.messages, answer]), prompt, generation


# -- storage ----------------------------------------------------------------------------------
def save(store: Store, conversation: Conversation) -> Conversation:
    """Insert or update; an answer kept as a run stores its tokens there only (one record, one place)."""
    record = conversation.to_dict()
    messages = record.pop("messages")
    for message in messages:
        if message.get("run_id") is not None:
            message["tokens"] = None
    if record["id"] is None:
        record.pop("id")
    return replace(conversation, id=store.save_conversation(record, messages))


def load(store: Store, conversation_id: int) -> Conversation:
    row = store.conversation(conversation_id)
    messages = tuple(
        ChatMessage(
            m["role"],
            m["content"],
            tuple(TokenStep.from_dict(t) for t in _message_tokens(store, m)),
            m["seed"],
            m["finish_reason"],
            m.get("run_id"),
        )
        for m in row["messages"]
    )
    return Conversation(
        name=row["name"],
        model=row["model"],
        model_path=row["model_path"],
        system_prompt=row["system_prompt"] or "",
        chat_format=row["chat_format"] or MODEL_FORMAT,
        settings=ChatSettings.from_dict(row["settings"]),
        messages=messages,
        id=row["id"],
    )


def _message_tokens(store: Store, message: dict[str, Any]) -> list[dict[str, Any]]:
    if message.get("run_id") is None:
        return message["tokens"]
    samples = store.get_run(message["run_id"])["samples"]
    return samples[0]["tokens"] if samples else []


def export_record(conversation: Conversation) -> dict[str, Any]:
    """One JSONL line: the OpenAI chat shape (`messages` with roles), plus where it came from."""
    return {
        "messages": conversation.turns(),
        "name": conversation.name,
        "model": conversation.model,
        "chat_format": conversation.chat_format,
        "id": conversation.id,
    }


def export_jsonl(conversations: Iterable[Conversation], path: Path) -> int:
    """Write one conversation per line (written whole or not at all); returns how many."""
    lines = [json.dumps(export_record(c), ensure_ascii=False) for c in conversations]
    if not lines:
        raise InputError("there are no conversations to export")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")
    return len(lines)
