"""`workbench` command line: thin over the core; `--json` prints one document on stdout.

Errors a user can cause print one line on stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from workbench import __version__, config, logs
from workbench.cli.options import (
    Parser,
    add_model_options,
    add_prompt_options,
    add_sampling_options,
)
from workbench.errors import WorkbenchError

EXIT_USER_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    from workbench.engine.base import SamplingParams

    defaults = SamplingParams()
    parser = Parser(prog="workbench", description="Prompt-engineering workbench on local GGUF models.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument(
        "--db", type=Path, default=None, help=f"SQLite file (default: $WORKBENCH_DB or {config.default_db_path()})"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also print the log's lines on stderr")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    gui = commands.add_parser("gui", help="start the desktop app")
    gui.add_argument("--model", "-m", help="model to load at start")

    from workbench.cli.models import add_parsers as add_model_parsers

    add_model_parsers(commands)

    generate = commands.add_parser("generate", help="generate text with per-token probabilities")
    add_prompt_options(generate)
    add_model_options(generate)
    add_sampling_options(generate, defaults)
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
    generate.add_argument(
        "--beams",
        type=int,
        metavar="B",
        help="beam search: the B (1..8) most probable continuations, best first, with the search tree "
        "(no temperature, samples, stop strings or repeat penalty; not saved as a run)",
    )
    generate.set_defaults(temperature=None)  # None: 0.8, or no temperature at all for --beams
    generate.add_argument("--json", action="store_true")

    next_token = commands.add_parser("next", help="the next-token distribution after a prompt")
    add_prompt_options(next_token)
    add_model_options(next_token)
    add_sampling_options(next_token, defaults)
    next_token.add_argument("--top", type=int, default=20, help="how many candidates to list")
    next_token.add_argument(
        "--numeric-check",
        action="store_true",
        help="also evaluate the prompt in the other numeric configuration and report how far they differ",
    )
    next_token.add_argument("--json", action="store_true")

    tokenizers = commands.add_parser("tokenizers", help="list tokenizers: model vocabularies and OpenAI encodings")
    tokenizers.add_argument("--add", type=Path, metavar="FILE", help="add an OpenAI .tiktoken file (checked by hash)")
    tokenizers.add_argument(
        "--add-llama-vocabularies",
        action="store_true",
        help="extract llama.cpp's vocabulary files (GPT-2, Llama 3, Qwen 2, ...) from llama-cpp-python's source "
        "archive of the installed version (downloaded from the package index unless --from-sdist is given)",
    )
    tokenizers.add_argument("--from-sdist", type=Path, metavar="FILE", help="a llama_cpp_python-*.tar.gz to use")
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

    from workbench.cli.library import add_parsers as add_library_parsers

    add_library_parsers(commands)
    from workbench.cli.experiments import add_parsers as add_compare_parsers
    from workbench.cli.explore import add_parsers as add_explore_parsers

    add_compare_parsers(commands)
    add_explore_parsers(commands)
    from workbench.cli.chat import add_parsers as add_chat_parsers

    add_chat_parsers(commands)

    from workbench.cli.history import add_parsers as add_history_parsers

    add_history_parsers(commands)
    from workbench.cli.connections import add_parsers as add_connection_parsers

    add_connection_parsers(commands)
    from workbench.cli.scoring import add_parsers as add_scoring_parsers

    add_scoring_parsers(commands)
    from workbench.cli.suites import add_parsers as add_suite_parsers

    add_suite_parsers(commands)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    from workbench.cli import (
        chat,
        connections,
        experiments,
        explore,
        generation,
        history,
        library,
        models,
        scoring,
        suites,
        tokens,
    )

    handler = {
        "gui": generation.cmd_gui,
        "models": models.cmd_models,
        "chat": chat.cmd_chat,
        "connections": connections.cmd_connections,
        "generate": generation.cmd_generate,
        "next": generation.cmd_next,
        "runs": history.cmd_runs,
        "rank": history.cmd_rank,
        "tokenizers": tokens.cmd_tokenizers,
        "tokenize": tokens.cmd_tokenize,
        "templates": library.cmd_templates,
        "datasets": library.cmd_datasets,
        "compare": experiments.cmd_compare,
        "experiments": experiments.cmd_experiments,
        "export": experiments.cmd_export,
        "rate": experiments.cmd_rate,
        "score": explore.cmd_score,
        "tree": explore.cmd_tree,
        "rescore": scoring.cmd_rescore,
        "label": scoring.cmd_label,
        "calibrate": scoring.cmd_calibrate,
        "pairwise": scoring.cmd_pairwise,
        "promptfoo": suites.cmd_promptfoo,
    }[args.command]
    return handler(args)


def undecodable_argument(argv: list[str]) -> str | None:
    """Python hands bytes that are not UTF-8 to a program as lone surrogates; name the first such argument."""
    for position, argument in enumerate(argv, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError as err:
            byte = ord(argument[err.start]) - 0xDC00
            shown = argument.encode("utf-8", "surrogateescape")[:40].decode("utf-8", "replace")
            return (
                f"argument {position} ({shown!r}) is not valid UTF-8 (byte 0x{byte:02x} at offset {err.start}); "
                "the workbench reads text as UTF-8: convert it (iconv) or pass a UTF-8 file with --prompt-file"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problem = undecodable_argument(argv)
    if problem:
        print(f"workbench: {problem}", file=sys.stderr)
        return EXIT_USER_ERROR
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.db is not None:
        os.environ["WORKBENCH_DB"] = str(args.db)
    logs.setup(verbose=args.verbose)
    logs.log.debug("command %s (database %s)", args.command, config.default_db_path())
    try:
        return dispatch(args)
    except WorkbenchError as err:
        logs.log.warning("%s failed: %s: %s", args.command, type(err).__name__, err)
        print(f"workbench: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # a bug: still one line, the traceback only on request (and in the log)
        logs.log.exception("%s: internal error", args.command)
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(
            f"workbench: internal error: {type(err).__name__}: {err} (set WORKBENCH_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 70
