"""`workbench` command line: thin over the core; `--json` prints one document on stdout.

Errors a user can cause print one line on stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from workbench import __version__, config
from workbench.engine.numerics import DEFAULT_BATCHING, DEFAULT_NUMERICS
from workbench.errors import InputError, WorkbenchError

EXIT_USER_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        command = " ".join(self.prog.split()[1:])  # "workbench templates" -> "templates"; "workbench" -> ""
        see = f"workbench {command} --help" if command else "workbench --help"
        self.exit(EXIT_USAGE, f"workbench: {message} (see '{see}')\n")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", help="model name from `workbench models`, or a path to a .gguf file")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context size in tokens (default 4096)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: chosen for this machine)")
    parser.add_argument("--gpu-layers", type=int, default=0, help="layers to offload to a GPU build (-1: all)")
    parser.add_argument(
        "--numerics",
        default=DEFAULT_NUMERICS,
        help=f"numeric configuration: reference (F32 K/V, no flash attention) or fast (F16 K/V, flash attention); "
        f"default {DEFAULT_NUMERICS}",
    )
    parser.add_argument(
        "--batching",
        default=DEFAULT_BATCHING,
        help="exact (a batched sample is bit-identical to running alone; default) or fast (llama.cpp's full "
        "batching: equal only within the arithmetic noise floor)",
    )


def _add_sampling_options(parser: argparse.ArgumentParser, defaults: Any) -> None:
    parser.add_argument("--temperature", "-t", type=float, default=defaults.temperature)
    parser.add_argument("--top-k", type=int, default=defaults.top_k, help="0 disables")
    parser.add_argument("--top-p", type=float, default=defaults.top_p, help="1 disables")
    parser.add_argument("--min-p", type=float, default=defaults.min_p, help="0 disables")
    parser.add_argument("--repeat-penalty", type=float, default=defaults.repeat_penalty, help="1 disables")
    parser.add_argument("--repeat-last-n", type=int, default=defaults.repeat_last_n)
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh random seed, reported")


def _add_prompt_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", "-p", help="the prompt text")
    source.add_argument("--prompt-file", "-f", type=Path, help="read the prompt from a UTF-8 file ('-' for stdin)")
    parser.add_argument("--no-bos", action="store_true", help="do not add the model's BOS token")


def build_parser() -> argparse.ArgumentParser:
    from workbench.engine.base import SamplingParams

    defaults = SamplingParams()
    parser = _Parser(prog="workbench", description="Prompt-engineering workbench on local GGUF models.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument(
        "--db", type=Path, default=None, help=f"SQLite file (default: $WORKBENCH_DB or {config.default_db_path()})"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gui = commands.add_parser("gui", help="start the desktop app")
    gui.add_argument("--model", "-m", help="model to load at start")

    models = commands.add_parser("models", help="list models (GGUF metadata, no weights loaded)")
    models.add_argument("--path", action="append", default=[], help="also inspect this .gguf file")
    models.add_argument("--json", action="store_true")

    generate = commands.add_parser("generate", help="generate text with per-token probabilities")
    _add_prompt_options(generate)
    _add_model_options(generate)
    _add_sampling_options(generate, defaults)
    generate.add_argument("--max-tokens", "-n", type=int, default=128)
    generate.add_argument(
        "--stop", action="append", default=[], help="stop string (repeatable; escapes \\n \\t \\s \\\\)"
    )
    generate.add_argument("--top-logprobs", type=int, default=10, help="alternatives per token, 0..20")
    generate.add_argument("--samples", type=int, default=1, help="independent samples (seed, seed+1, ...)")
    generate.add_argument(
        "--parallel", type=int, default=4, help="samples decoded together (1: one after another; results are equal)"
    )
    generate.add_argument("--no-log", action="store_true", help="do not save the run to the database")
    generate.add_argument("--json", action="store_true")

    next_token = commands.add_parser("next", help="the next-token distribution after a prompt")
    _add_prompt_options(next_token)
    _add_model_options(next_token)
    _add_sampling_options(next_token, defaults)
    next_token.add_argument("--top", type=int, default=20, help="how many candidates to list")
    next_token.add_argument(
        "--numeric-check",
        action="store_true",
        help="also evaluate the prompt in the other numeric configuration and report how far they differ",
    )
    next_token.add_argument("--json", action="store_true")

    tokenizers = commands.add_parser("tokenizers", help="list tokenizers: model vocabularies and OpenAI encodings")
    tokenizers.add_argument("--add", type=Path, metavar="FILE", help="add an OpenAI .tiktoken file (checked by hash)")
    tokenizers.add_argument("--json", action="store_true")

    tokenize = commands.add_parser("tokenize", help="cut a text into tokens with one or more tokenizers")
    source = tokenize.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text")
    source.add_argument("--file", type=Path, help="a UTF-8 text file ('-' for stdin)")
    tokenize.add_argument(
        "--tokenizer",
        action="append",
        default=[],
        metavar="NAME",
        help="model (default model), a model name, or cl100k_base, o200k_base, ... (repeatable; default: model)",
    )
    tokenize.add_argument("--special", action="store_true", help="parse special-token strings like <|endoftext|>")
    tokenize.add_argument("--bos", action="store_true", help="let model tokenizers add their BOS token")
    tokenize.add_argument("--json", action="store_true")

    from workbench.commands_library import add_parsers as add_library_parsers

    add_library_parsers(commands)
    from workbench.commands_compare import add_parsers as add_compare_parsers

    add_compare_parsers(commands, _add_sampling_options, _add_model_options, defaults)

    runs = commands.add_parser("runs", help="list saved runs, or show one")
    runs.add_argument("id", nargs="?", type=int, help="show this run with every token")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--json", action="store_true")
    return parser


def read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None:
        return args.prompt
    path: Path = args.prompt_file
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"prompt file not found: {path}") from None
    except OSError as err:
        raise InputError(f"cannot read prompt file {path}: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"prompt file {path} is not valid UTF-8 (bad byte at offset {err.start})") from None


def emit(args: argparse.Namespace, document: Any, text: str) -> None:
    if getattr(args, "json", False):
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.db is not None:
        os.environ["WORKBENCH_DB"] = str(args.db)
    from workbench import commands

    try:
        return commands.run(args)
    except WorkbenchError as err:
        print(f"workbench: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a bug: still one line, the traceback only on request
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(
            f"workbench: internal error: {type(err).__name__}: {err} (set WORKBENCH_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 70
