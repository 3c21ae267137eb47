"""What every CLI command module shares: the one-line-error parser, the model / sampling / prompt
options, reading a prompt, printing a result, and loading a model or the store from the options.
Command modules import this, never `workbench.cli.main` (which imports them)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from workbench import config, models
from workbench.engine.base import SamplingParams
from workbench.engine.numerics import DEFAULT_BATCHING, DEFAULT_NUMERICS
from workbench.errors import InputError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        command = " ".join(self.prog.split()[1:])  # "workbench templates" -> "templates"; "workbench" -> ""
        see = f"workbench {command} --help" if command else "workbench --help"
        self.exit(EXIT_USAGE, f"workbench: {message} (see '{see}')\n")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        "-m",
        help="model name from `workbench models`, a path to a .gguf file, connection:NAME (a saved server "
        "connection), or with --backend openai the server's model name",
    )
    remote = parser.add_argument_group("remote engine (an OpenAI-compatible server)")
    remote.add_argument("--backend", choices=("local", "openai"), default="local", help="default: local (llama.cpp)")
    remote.add_argument("--base-url", help="the server's OpenAI-compatible URL, e.g. http://127.0.0.1:8080/v1")
    remote.add_argument("--api-key-env", default="", help="environment variable holding the API key (none: no key)")
    remote.add_argument("--connection", help="a saved connection (`workbench connections`)")
    remote.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server (default 120)")
    saved = "default: the model's saved load settings (Models tab, `workbench models --set-load`), else"
    parser.add_argument("--n-ctx", type=int, help=f"context size in tokens ({saved} min(4096, trained))")
    parser.add_argument("--threads", type=int, help=f"CPU threads ({saved} chosen for this machine)")
    parser.add_argument("--gpu-layers", type=int, help=f"layers to offload to a GPU build, -1: all ({saved} 0)")
    parser.add_argument(
        "--numerics",
        help=f"numeric configuration: reference (F32 K/V, no flash attention) or fast (F16 K/V, flash attention); "
        f"{saved} {DEFAULT_NUMERICS}",
    )
    parser.add_argument(
        "--batching",
        default=DEFAULT_BATCHING,
        help="exact (a batched sample is bit-identical to running alone; default) or fast (llama.cpp's full "
        "batching: equal only within the arithmetic noise floor)",
    )


def add_sampling_options(parser: argparse.ArgumentParser, defaults: Any) -> None:
    parser.add_argument("--temperature", "-t", type=float, default=defaults.temperature)
    parser.add_argument("--top-k", type=int, default=defaults.top_k, help="0 disables")
    parser.add_argument("--top-p", type=float, default=defaults.top_p, help="1 disables")
    parser.add_argument("--min-p", type=float, default=defaults.min_p, help="0 disables")
    parser.add_argument("--repeat-penalty", type=float, default=defaults.repeat_penalty, help="1 disables")
    parser.add_argument("--repeat-last-n", type=int, default=defaults.repeat_last_n)
    parser.add_argument("--seed", type=int, default=None, help="default: a fresh random seed, reported")


def add_prompt_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", "-p", help="the prompt text")
    source.add_argument("--prompt-file", "-f", type=Path, help="read the prompt from a UTF-8 file ('-' for stdin)")
    parser.add_argument("--no-bos", action="store_true", help="do not add the model's BOS token")


def read_prompt(args: argparse.Namespace) -> str:
    return args.prompt if args.prompt is not None else read_text_file(args.prompt_file, "prompt file")


def read_text_file(path: Path, what: str) -> str:
    """A UTF-8 text file ('-': standard input), or a one-line InputError naming `what`."""
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{what} {path} is not valid UTF-8 (bad byte at offset {err.start})") from None


def emit(args: argparse.Namespace, document: Any, text: str) -> None:
    if getattr(args, "json", False):
        json.dump(document, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def sampling_params(args: argparse.Namespace, temperature: float | None = None) -> SamplingParams:
    """The sampling options as typed; `temperature` stands in when the option has no value of its own."""
    return SamplingParams(
        temperature=args.temperature if args.temperature is not None else temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repeat_penalty=args.repeat_penalty,
        repeat_last_n=args.repeat_last_n,
        seed=args.seed,
    ).validate()


def overrides(args: argparse.Namespace):  # -> models.engines.Overrides
    """The load options given on the command line; the rest come from each model's saved settings."""
    from workbench.models.engines import Overrides

    return Overrides(
        n_ctx=getattr(args, "n_ctx", None),
        threads=getattr(args, "threads", None),
        gpu_layers=getattr(args, "gpu_layers", None),
        numerics=getattr(args, "numerics", None),
        batching=getattr(args, "batching", None),
        parallel=getattr(args, "parallel", None),
    ).validate()


def load_settings(args: argparse.Namespace, info: models.ModelInfo):  # -> models.library.LoadSettings
    """The model's saved load settings with the command line's in their place (no engine options)."""
    from workbench.models.engines import load_options

    options = load_options(info, overrides(args))
    from workbench.models.library import LoadSettings

    return LoadSettings(options.n_ctx, options.n_threads, options.n_gpu_layers, options.numerics)


def model_name(args: argparse.Namespace) -> str | None:
    """What --model, --backend openai --base-url and --connection name together, for models.resolve."""
    from workbench.engine.openai_compat.endpoint import Endpoint

    backend, base_url = getattr(args, "backend", "local"), getattr(args, "base_url", None)
    connection = getattr(args, "connection", None)
    if connection and (base_url or backend == "openai"):
        raise InputError("give either --connection or --backend openai --base-url, not both")
    if connection:
        if not args.model:
            return models.CONNECTION_PREFIX + connection
        saved = opened_store_connection(connection)
        return Endpoint(**{**saved.__dict__, "model": args.model}).ref()
    if backend == "openai" or base_url:
        if not base_url:
            raise InputError("--backend openai needs --base-url (the server's URL, e.g. http://127.0.0.1:8080/v1)")
        timeout = getattr(args, "timeout", 120.0)
        return Endpoint(base_url, args.model or "", api_key_env=args.api_key_env, timeout_s=timeout).validate().ref()
    return args.model


def opened_store_connection(name: str):  # -> Endpoint
    return open_store().connection(name)


def resolve_model(args: argparse.Namespace) -> models.ModelInfo:
    return models.resolve(model_name(args))


def open_engine(args: argparse.Namespace, info: models.ModelInfo):  # -> Backend
    from workbench.models.engines import open_engine as open_model

    return open_model(info, overrides(args))


def load_backend(args: argparse.Namespace):  # -> Backend (imports kept lazy: llama.cpp is slow to import)
    return open_engine(args, resolve_model(args))


def open_store():
    from workbench.store import Store

    return Store(config.default_db_path())
