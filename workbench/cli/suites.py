"""`workbench promptfoo import CONFIG` and `workbench promptfoo run CONFIG`: a promptfoo suite as templates, a
dataset with its assertions and mapped providers, run as a comparison."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from workbench import experiments
from workbench.cli import options as opts
from workbench.models.engines import GridEngines
from workbench.suites import SuiteOptions, import_suite, run_suite


def add_parsers(commands: argparse._SubParsersAction) -> None:
    promptfoo = commands.add_parser("promptfoo", help="promptfoo suites: import a config, or import and run it")
    actions = promptfoo.add_subparsers(dest="action", required=True)
    imported = actions.add_parser("import", help="templates, a dataset and assertions from a promptfoo config")
    ran = actions.add_parser("run", help="import a promptfoo config and run it as a comparison")
    for parser in (imported, ran):
        parser.add_argument("config", type=Path, help="promptfooconfig.yaml")
        parser.add_argument(
            "--allow-outside-files", action="store_true", help="let the suite read files outside its folder"
        )
        parser.add_argument("--allow-code", action="store_true", help="let the suite's python assertion files run")
        parser.add_argument(
            "--allow-unsaved-providers",
            action="store_true",
            help="leave out providers at URLs that are not saved connections instead of refusing the suite",
        )
        parser.add_argument("--json", action="store_true")
    ran.add_argument("--models", help="comma-separated models or connection:NAME (default: the mapped providers)")
    ran.add_argument("--parallel", type=int, default=4, help="cells decoded together (local) or in flight (a server)")
    opts.add_model_options(ran)


def _store():
    from workbench.cli.library import library_store

    return library_store()


def _options(args: argparse.Namespace) -> SuiteOptions:
    return SuiteOptions(args.allow_outside_files, args.allow_code, args.allow_unsaved_providers)


def import_text(document: dict) -> str:
    lines = [
        f"imported {document['name']}: {len(document['templates'])} template(s) ({', '.join(document['templates'])}), "
        f"dataset {document['dataset']} with {document['cases']} case(s) and {document['assertions']} assertion(s)",
        f"models: {', '.join(document['models']) or 'none mapped (run with --models, or the default model)'}",
    ]
    lines += [f"not mapped: {u['what']}: {u['reason']}" for u in document["unmapped"]]
    return "\n".join(lines)


def cmd_promptfoo(args: argparse.Namespace) -> int:
    store = _store()
    if args.action == "import":
        suite = import_suite(store, args.config, _options(args))
        opts.emit(args, suite.to_dict(), import_text(suite.to_dict()))
        return 0
    chosen = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    last = [0.0]

    def progress(p: experiments.Progress) -> None:
        if time.monotonic() - last[0] >= 0.5 or p.done == p.total:
            last[0] = time.monotonic()
            print(f"\r{p.line()}   ", end="" if p.done < p.total else "\n", file=sys.stderr, flush=True)

    with GridEngines(opts.overrides(args)) as engines:
        suite, experiment_id = run_suite(store, args.config, engines, chosen, _options(args), progress, args.parallel)
    from workbench.experiments.rescoring import scoring_summaries

    document = {**suite.to_dict(), "experiment_id": experiment_id}
    document["scorings"] = scoring_summaries(store, experiment_id)
    if not args.json:
        print(f"workbench: experiment {experiment_id}", file=sys.stderr)
    from workbench.experiments.scoring_text import summary_text

    text = import_text(suite.to_dict()) + "\n" + "\n".join(summary_text(s) for s in document["scorings"])
    opts.emit(args, document, text)
    return 0
