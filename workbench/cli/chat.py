"""`workbench chat`: multi-turn conversations, saved in the database, with the prompt as the model sees it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench import models
from workbench.chat import session
from workbench.chat.conversation import ChatPrompt, ChatRenderer, ChatSettings, Conversation
from workbench.chat.server_chat import SERVER_FORMAT, renderer_for
from workbench.cli import options as opts
from workbench.engine.base import SamplingParams
from workbench.errors import InputError
from workbench.library.chat_formats import FORMAT_NAMES, MODEL_FORMAT

CHAT_ACTIONS = {
    "send": "send a message and print the model's answer (a new conversation unless ID is given)",
    "regenerate": "answer the last message again (a fresh seed)",
    "edit": "replace one of your earlier messages; everything after it is cut and answered again",
    "prompt": "the exact next prompt as the model sees it: turns, token counts, context meter",
    "list": "saved conversations, newest first",
    "show": "one conversation with every message",
    "rename": "rename a conversation",
    "delete": "delete a conversation",
    "export": "conversations as JSONL (one conversation per line, OpenAI chat shape)",
}
ANSWERING = ("send", "regenerate", "edit")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    chat = commands.add_parser("chat", help="multi-turn chat with a system prompt; history as the model sees it")
    actions = chat.add_subparsers(dest="action", required=True, parser_class=type(chat))
    for name, help_text in CHAT_ACTIONS.items():
        action = actions.add_parser(name, help=help_text)
        if name == "send":
            action.add_argument("id", type=int, nargs="?", help="conversation id (default: start a new one)")
        elif name == "export":
            action.add_argument("ids", type=int, nargs="*", help="conversation ids (default: all)")
            action.add_argument("--out", "-o", type=Path, required=True, help="the .jsonl file to write")
        elif name != "list":
            action.add_argument("id", type=int, help="conversation id")
        if name in ("send", "edit"):
            action.add_argument("--message", required=True, help="your message")
        if name == "prompt":
            action.add_argument("--message", default="", help="a draft of your next message, shown in place")
        if name == "edit":
            action.add_argument("--turn", type=int, required=True, help="index of your message (0 = the first)")
        if name == "rename":
            action.add_argument("name")
        if name == "send":
            _add_new_options(action)
        if name in (*ANSWERING, "prompt"):
            opts.add_model_options(action)
        action.add_argument("--json", action="store_true")


def _add_new_options(parser: argparse.ArgumentParser) -> None:
    new = parser.add_argument_group("a new conversation (without ID)")
    new.add_argument("--system", default="", help="system prompt")
    new.add_argument("--format", default=MODEL_FORMAT, choices=FORMAT_NAMES, help="chat format (default: the model's)")
    new.add_argument("--name", default="", help="conversation name (default: the first message)")
    new.add_argument("--max-tokens", "-n", type=int, default=256, help="tokens per answer at most")
    opts.add_sampling_options(new, SamplingParams(temperature=0.7))


def cmd_chat(args: argparse.Namespace) -> int:
    store = opts.open_store()
    if args.action == "list":
        found = store.list_conversations()
        lines = [f"{c['id']:>4}  {c['messages']:>3} msgs  {c['model']:<28} {c['name']}" for c in found]
        opts.emit(args, found, "\n".join(lines) or "no conversations yet")
        return 0
    if args.action == "export":
        ids = args.ids or [c["id"] for c in store.list_conversations()]
        count = session.export_jsonl([session.load(store, i) for i in ids], args.out)
        opts.emit(args, {"path": str(args.out), "conversations": count}, f"wrote {count} conversation(s) to {args.out}")
        return 0
    if args.action == "send" and args.id is None:
        conversation = _new_conversation(args)
    else:
        conversation = session.load(store, args.id)
    if args.action in ("show", "rename", "delete"):
        return _manage(args, store, conversation)
    info = opts.resolve_model(args) if opts.model_name(args) else models.resolve(conversation.model_path)
    renderer = renderer_for(info, conversation.chat_format)
    n_ctx = opts.load_settings(args, info).n_ctx
    if args.action == "prompt":
        prompt = renderer.prompt(session.next_turn_preview(conversation, args.message), n_ctx)
        opts.emit(args, prompt.to_dict(), _prompt_text(prompt))
        return 0
    return _answer(args, store, conversation, renderer, info)


def _new_conversation(args: argparse.Namespace) -> Conversation:
    settings = ChatSettings(opts.sampling_params(args), args.max_tokens)
    info = opts.resolve_model(args)
    return session.new_conversation(info, args.system, args.format, settings, args.name)


def _manage(args: argparse.Namespace, store, conversation: Conversation) -> int:
    if args.action == "rename":
        store.rename_conversation(conversation.id, args.name)
        opts.emit(args, {"id": conversation.id, "name": args.name.strip()}, f"renamed to {args.name.strip()}")
    elif args.action == "delete":
        store.delete_conversation(conversation.id)
        opts.emit(args, {"deleted": conversation.id}, f"deleted conversation {conversation.id}")
    else:
        lines = [f"# {conversation.name} ({conversation.model}, format {conversation.chat_format})"]
        if conversation.system_prompt:
            lines.append(f"[system] {conversation.system_prompt}")
        lines += [f"[{i}: {m.role}] {m.content}" for i, m in enumerate(conversation.messages)]
        opts.emit(args, conversation.to_dict(), "\n".join(lines))
    return 0


def _answer(args: argparse.Namespace, store, conversation: Conversation, renderer: ChatRenderer, info) -> int:
    if args.action == "send":
        conversation = session.add_user_message(conversation, args.message)
    elif args.action == "edit":
        conversation = session.edit_user_message(conversation, args.turn, args.message)
    else:
        conversation = session.without_last_answer(conversation)
    if info.path != conversation.model_path:
        raise InputError(
            f"conversation {conversation.id} is held with {conversation.model}; continue it with that model"
        )
    backend = opts.open_engine(args, info)
    try:
        conversation, prompt, generation = session.reply(backend, conversation, renderer, backend.n_ctx, store=store)
    finally:
        backend.close()
    conversation = session.save(store, conversation)
    if prompt.notice:
        print(f"workbench: {prompt.notice}", file=sys.stderr)
    if prompt.dropped:
        print(
            f"workbench: {len(prompt.dropped)} oldest message(s) did not fit the context and were left out",
            file=sys.stderr,
        )
    document = {
        "conversation": conversation.id,
        "answer": conversation.messages[-1].to_dict(),
        "prompt": prompt.to_dict(),
        "generation": generation.to_dict(),
    }
    opts.emit(args, document, conversation.messages[-1].content)
    print(f"workbench: conversation {conversation.id}", file=sys.stderr)
    return 0


def _prompt_text(prompt: ChatPrompt) -> str:
    lines = [prompt.text, "---"]
    for index, turn in enumerate(prompt.turns):
        mark = "  (dropped: did not fit)" if turn.dropped else ""
        lines.append(f"{index:>3} {turn.role:<10} {turn.tokens if turn.tokens is not None else '?':>6} tokens{mark}")
    if prompt.format_name == SERVER_FORMAT:
        lines.append(f"context: counted by the server; {prompt.reserve:,} tokens asked for the answer")
    else:
        lines.append(
            f"context: {prompt.used:,} of {prompt.n_ctx:,} tokens used, {prompt.reserve:,} kept for the answer"
        )
    if prompt.notice:
        lines.append(f"notice: {prompt.notice}")
    return "\n".join(lines)
