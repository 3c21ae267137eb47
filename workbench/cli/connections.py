"""`workbench connections`: saved OpenAI-compatible servers (llama.cpp's server, vLLM, Ollama, hosted APIs)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from workbench.cli import options as opts
from workbench.engine.openai_compat.endpoint import DEFAULT_TIMEOUT_S, Endpoint
from workbench.models import connections


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser("connections", help="saved OpenAI-compatible servers: list, add, check, remove")
    actions = parser.add_subparsers(dest="action", parser_class=type(parser))
    actions.add_parser("list", help="every saved connection (default)").add_argument("--json", action="store_true")
    add = actions.add_parser("add", help="save a connection (replaces one of the same name)")
    add.add_argument("name")
    add.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080/v1")
    add.add_argument("--model", default="", help="the server's model name (default: its only model)")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--api-key-env", default="", help="environment variable holding the API key")
    key.add_argument("--keyring", action="store_true", help="store the key (read from stdin) in the system keyring")
    add.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for an answer")
    add.add_argument("--retries", type=int, default=2, help="retries on 429, 5xx and dropped connections")
    add.add_argument("--json", action="store_true")
    for name, text in (("check", "contact the server: kind, models, settings it takes"), ("remove", "forget it")):
        action = actions.add_parser(name, help=text)
        action.add_argument("name")
        action.add_argument("--json", action="store_true")


def cmd_connections(args: argparse.Namespace) -> int:
    store = opts.open_store()
    if args.action == "add":
        key = _read_key() if args.keyring else None
        endpoint = Endpoint(
            args.base_url, args.model, args.name, args.api_key_env, args.keyring, args.timeout, args.retries
        )
        saved = connections.save_connection(store, endpoint, key)
        opts.emit(args, _record(saved), f"saved connection {saved.connection}: {saved.base_url}")
    elif args.action == "remove":
        connections.remove_connection(store, args.name)
        opts.emit(args, {"removed": args.name}, f"removed connection {args.name}")
    elif args.action == "check":
        report = connections.check_connection(store.connection(args.name))
        text = (
            f"{args.name}: a {report['server']} server at {report['base_url']}, answering with "
            f"{report['server_model']} (serves: {', '.join(report['models'])}); takes {', '.join(report['accepts'])}; "
            f"tokenize {'yes' if report['tokenize'] else 'no'}\nnumbers vs local: {report['numbers']}"
        )
        opts.emit(args, report, text)
    else:
        saved = store.connections()
        lines = [f"{e.connection:<16} {e.base_url:<36} {e.model or '(only model)':<24} key: {_key(e)}" for e in saved]
        opts.emit(args, [_record(e) for e in saved], "\n".join(lines) or "no saved connections")
    return 0


def _read_key() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("API key: ")
    return sys.stdin.readline().strip()


def _key(endpoint: Endpoint) -> str:
    return endpoint.describe()["api_key"]


def _record(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "name": endpoint.connection,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "api_key": _key(endpoint),
        "timeout_s": endpoint.timeout_s,
        "max_retries": endpoint.max_retries,
        "use_as": f"--connection {endpoint.connection}",
    }
