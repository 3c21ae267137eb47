"""`workbench models`: list, inspect, add (copy or link), remove, choose the default, load settings, benchmark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench import models
from workbench.cli import options as opts
from workbench.engine.numerics import NUMERICS
from workbench.models import library as model_library


def add_parsers(commands: Any) -> None:
    parser = commands.add_parser("models", help="list and manage models (GGUF metadata, no weights loaded)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--show", metavar="NAME", help="every detail of one model: metadata, chat template, settings")
    action.add_argument("--add", type=Path, metavar="FILE", help="register a .gguf file (copied; --link to link it)")
    action.add_argument("--remove", metavar="NAME", help="unregister a model (a copy made by --add is deleted)")
    action.add_argument("--set-default", metavar="NAME", help="the model used when none is named")
    action.add_argument("--set-load", metavar="NAME", help="save load settings (--n-ctx --threads ...) for a model")
    action.add_argument("--benchmark", metavar="NAME", help="measure prompt and generation tokens/s, store them")
    parser.add_argument("--link", action="store_true", help="with --add: remember the file where it is, no copy")
    parser.add_argument("--path", action="append", default=[], help="also inspect this .gguf file")
    parser.add_argument("--n-ctx", type=int, help="with --set-load / --show: context size in tokens")
    parser.add_argument("--threads", type=int, help="with --set-load: CPU threads (0: chosen for this machine)")
    parser.add_argument("--gpu-layers", type=int, help="with --set-load: layers offloaded to a GPU build (-1: all)")
    parser.add_argument("--numerics", choices=sorted(NUMERICS), help="with --set-load: numeric configuration")
    parser.add_argument("--json", action="store_true")


def cmd_models(args: argparse.Namespace) -> int:
    if args.show:
        return _show(args)
    if args.add:
        return _add(args)
    if args.remove:
        message = model_library.remove_model(models.resolve(args.remove), opts.open_store())
        opts.emit(args, {"removed": args.remove, "message": message}, message)
        return 0
    if args.set_default:
        info = None if args.set_default == "embedded" else models.resolve(args.set_default)
        model_library.set_default(info, opts.open_store())
        chosen = models.default_model()
        opts.emit(args, chosen.to_dict(), f"default model: {chosen.name} ({chosen.path})")
        return 0
    if args.set_load:
        return _set_load(args)
    if args.benchmark:
        return _benchmark(args)
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    found = models.list_models() + [models.inspect(p) for p in args.path]
    lines = [
        f"{'*' if m.is_default else ' '} {m.name:<30} {m.architecture:<8} {m.quantization:<7} "
        f"{m.parameter_count / 1e6:>6.0f}M  ctx {m.context_length or '?':>6}  vocab {m.vocab_size or '?':>7}  "
        f"{'chat template' if m.has_chat_template else 'no chat template'}  [{m.source}] {m.path}"
        for m in found
    ]
    opts.emit(args, [m.to_dict() for m in found], "\n".join([*lines, "(* the default model)"]))
    return 0


def details(info: models.ModelInfo, n_ctx: int | None = None) -> dict[str, Any]:
    """Everything the Models tab shows for one model (the CLI's `--show --json` is the same document)."""
    settings = model_library.saved_load_settings(info)
    if n_ctx:
        settings = model_library.LoadSettings(**{**settings.to_dict(), "n_ctx": n_ctx})
    prefs = models.preferences().get(info.path)
    return {
        **info.to_dict(),
        "chat_template": models.chat_template(info),
        "load_settings": settings.to_dict(),
        "memory_estimate": model_library.memory_estimate(info, settings).to_dict(),
        "warnings": model_library.load_warnings(info, settings),
        "benchmark": prefs.benchmark if prefs else {},
    }


def _show(args: argparse.Namespace) -> int:
    document = details(models.resolve(args.show), args.n_ctx)
    memory = document["memory_estimate"]
    lines = [f"{key}: {value}" for key, value in document.items() if key not in ("chat_template", "memory_estimate")]
    lines.append(
        f"memory estimate: weights {memory['weights_bytes'] / 2**20:,.0f} MiB + K/V cache "
        f"{memory['kv_bytes'] / 2**20:,.0f} MiB = {memory['total_bytes'] / 2**20:,.0f} MiB"
    )
    lines.append(
        "chat template:\n" + (document["chat_template"] or "(none: the model was not trained on a chat format)")
    )
    opts.emit(args, document, "\n".join(lines))
    for warning in document["warnings"]:
        print(f"workbench: warning: {warning}", file=sys.stderr)
    return 0


def _add(args: argparse.Namespace) -> int:
    info = model_library.add_model(args.add, "link" if args.link else "copy", opts.open_store())
    how = "linked (the file stays where it is)" if args.link else f"copied to {info.path}"
    opts.emit(args, info.to_dict(), f"added {info.name}: {how}")
    return 0


def _set_load(args: argparse.Namespace) -> int:
    info = models.resolve(args.set_load)
    settings = opts.load_settings(args, info)
    warnings = model_library.save_load_settings(info, settings, opts.open_store())
    opts.emit(
        args,
        {"model": info.name, "load_settings": settings.to_dict(), "warnings": warnings},
        f"{info.name}: {settings.to_dict()}",
    )
    for warning in warnings:
        print(f"workbench: warning: {warning}", file=sys.stderr)
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    info = models.resolve(args.benchmark)
    backend = opts.open_engine(args, info)
    try:
        result = model_library.quick_benchmark(backend, opts.open_store())
    finally:
        backend.close()
    opts.emit(
        args,
        {"model": info.name, **result},
        f"{info.name}: prompt {result['prompt_tokens_per_s']} tok/s ({result['prompt_tokens']} tokens), "
        f"generation {result['generation_tokens_per_s']} tok/s ({result['generated_tokens']} tokens)",
    )
    return 0
