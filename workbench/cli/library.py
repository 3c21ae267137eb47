"""CLI: `workbench templates ...` and `workbench datasets ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.chat.prompting import prompt_for_model
from workbench.cli import options as opts
from workbench.errors import InputError
from workbench.library import files as library_files
from workbench.library.datasets import read_dataset, write_dataset
from workbench.library.templates import KIND_LABELS, Template, body_diff


def add_parsers(commands: argparse._SubParsersAction) -> None:
    templates = commands.add_parser("templates", help="the template library: list, show, render, import, export")
    actions = templates.add_subparsers(dest="action", required=True, parser_class=type(templates))
    listing = actions.add_parser("list", help="name, kind, version, variables, tags")
    listing.add_argument("--kind", choices=list(KIND_LABELS))
    listing.add_argument("--tag")
    listing.add_argument("--search", help="full-text search over names, descriptions and bodies")
    show = actions.add_parser("show", help="one template with its body and examples")
    show.add_argument("name")
    show.add_argument("--version", type=int)
    history = actions.add_parser("history", help="every version of a template, newest first")
    history.add_argument("name")
    diff = actions.add_parser("diff", help="what changed between two versions of a template")
    diff.add_argument("name")
    diff.add_argument("old", type=int, help="a version number")
    diff.add_argument("new", type=int, nargs="?", help="another version (default: the current one)")
    rendering = actions.add_parser("render", help="fill a template and count its tokens for a model")
    rendering.add_argument("name")
    rendering.add_argument("--var", action="append", default=[], metavar="K=V", help="a variable (repeatable)")
    rendering.add_argument("--case", metavar="DATASET:ID", help="take the variables from a dataset case")
    rendering.add_argument("--k", type=int, help="how many few-shot examples (default: the template's)")
    rendering.add_argument("--version", type=int)
    rendering.add_argument("--model", "-m", help="model whose tokenizer counts (and chat template formats)")
    rendering.add_argument(
        "--n-ctx", type=int, help="context size to check against (default: the model's saved load setting)"
    )
    delete = actions.add_parser("delete", help="retire a template (its versions stay for the runs that used them)")
    delete.add_argument("name")
    for name, help_text in (("import", "import every template and dataset file under DIR"), ("export", "write all")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("dir", type=Path)
    for parser in actions.choices.values():
        parser.add_argument("--json", action="store_true")

    data = commands.add_parser("datasets", help="datasets of cases: list, show, import, export")
    data_actions = data.add_subparsers(dest="action", required=True, parser_class=type(data))
    data_actions.add_parser("list", help="name, cases, variables")
    data_show = data_actions.add_parser("show", help="a dataset with its cases")
    data_show.add_argument("name")
    data_import = data_actions.add_parser("import", help="a .jsonl or .csv file")
    data_import.add_argument("file", type=Path)
    data_import.add_argument("--name", help="dataset name (default: the file's stem)")
    data_export = data_actions.add_parser("export", help="write a dataset as .jsonl or .csv")
    data_export.add_argument("name")
    data_export.add_argument("file", type=Path)
    for parser in data_actions.choices.values():
        parser.add_argument("--json", action="store_true")


def library_store():
    """The store, with the starter library imported the first time a database is used."""

    store = opts.open_store()
    library_files.ensure_starter_library(store)
    return store


def cmd_templates(args: argparse.Namespace) -> int:
    return {
        "list": _list,
        "show": _show,
        "history": _history,
        "diff": _diff,
        "render": _render,
        "import": _import,
        "export": _export,
        "delete": _delete,
    }[args.action](args)


def _delete(args: argparse.Namespace) -> int:
    library_store().delete_template(args.name)
    opts.emit(args, {"name": args.name, "deleted": True}, f"template {args.name} deleted (versions kept)")
    return 0


def _summary(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "kind": t.kind,
        "version": t.version,
        "variables": list(t.variables or t.used_variables()),
        "tags": list(t.tags),
        "description": t.description,
    }


def _list(args: argparse.Namespace) -> int:
    found = library_store().list_templates(kind=args.kind, tag=args.tag, search=args.search)
    lines = [f"{t.name:<30} {KIND_LABELS[t.kind]:<17} v{t.version:<3} {', '.join(t.tags)}" for t in found]
    opts.emit(args, [_summary(t) for t in found], "\n".join(lines) or "no templates match")
    return 0


def _show(args: argparse.Namespace) -> int:
    template = library_store().get_template(args.name, args.version)
    title = f"{template.name} v{template.version} ({KIND_LABELS[template.kind]})"
    settings = template.settings.describe()
    text = f"{title}: {template.description}\n" + (f"settings: {settings}\n" if settings else "") + template.body
    opts.emit(args, template.to_dict(), text)
    return 0


def _history(args: argparse.Namespace) -> int:
    versions = library_store().template_history(args.name)
    lines = [f"v{t.version:<3} {t.created_at}  {t.body[:60]!r}" for t in versions]
    opts.emit(args, [t.to_dict() for t in versions], "\n".join(lines))
    return 0


def _diff(args: argparse.Namespace) -> int:
    store = library_store()
    old = store.get_template(args.name, args.old)
    new = store.get_template(args.name, args.new)
    lines = body_diff(old.body, new.body, f"v{old.version}", f"v{new.version}")
    document = {"template": args.name, "from": old.version, "to": new.version, "diff": lines}
    opts.emit(args, document, "\n".join(lines) or f"v{old.version} and v{new.version} have the same body")
    return 0


def parse_vars(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--var takes NAME=VALUE, got {pair!r}")
        values[key] = value.replace("\\n", "\n")
    return values


def _render(args: argparse.Namespace) -> int:
    store = library_store()
    template = store.get_template(args.name, args.version)
    variables: dict[str, Any] = {}
    case_id = None
    if args.case:
        dataset_name, sep, case_id = args.case.rpartition(":")
        if not sep or not dataset_name:
            raise InputError(f"--case takes DATASET:ID, got {args.case!r}")
        variables.update(store.get_dataset(dataset_name).case(case_id).vars)
    variables.update(parse_vars(args.var))
    info = opts.resolve_model(args)
    n_ctx = opts.load_settings(args, info).n_ctx
    prompt = prompt_for_model(template, variables, info, k=args.k, n_ctx=n_ctx).check_fits()
    opts.emit(args, {**prompt.to_dict(), "case": case_id}, prompt.text)
    print(f"{prompt.tokens} tokens for {info.name}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    report = library_files.import_dir(library_store(), args.dir)
    return _report(args, report)


def _export(args: argparse.Namespace) -> int:
    report = library_files.export_dir(library_store(), args.dir)
    return _report(args, report)


def _report(args: argparse.Namespace, report: library_files.ImportReport) -> int:
    for problem in report.problems:
        print(f"workbench: {problem}", file=sys.stderr)
    lines = [f"template {name}: {status}" for name, status in report.templates.items()]
    lines += [f"dataset {name}: {status}" for name, status in report.datasets.items()]
    opts.emit(args, report.to_dict(), "\n".join(lines) or "nothing found")
    return 1 if report.problems else 0


def cmd_datasets(args: argparse.Namespace) -> int:
    store = library_store()
    if args.action == "list":
        found = store.list_datasets()
        lines = [f"{d['name']:<24} {d['cases']:>4} cases  vars: {', '.join(d['variables'])}" for d in found]
        opts.emit(args, found, "\n".join(lines) or "no datasets yet")
    elif args.action == "show":
        dataset = store.get_dataset(args.name)
        records = [c.to_record() for c in dataset.cases]
        document = {"name": dataset.name, "source": dataset.source, "variables": dataset.variables(), "cases": records}
        opts.emit(args, document, "\n".join(str(r) for r in records))
    elif args.action == "import":
        dataset = read_dataset(args.file, args.name)
        if not dataset.cases:  # one line: why nothing can be imported (the first problem, and how many more)
            first = f" ({dataset.problems[0]}" if dataset.problems else ""
            more = f"; {len(dataset.problems) - 1} more problem(s)" if len(dataset.problems) > 1 else ""
            raise InputError(f"{args.file}: no valid case to import{first}{more}{')' if first else ''}")
        for problem in dataset.problems:
            print(f"workbench: {problem}", file=sys.stderr)
        status = store.save_dataset(dataset)
        document = {"name": dataset.name, "status": status, "cases": len(dataset.cases), "problems": dataset.problems}
        opts.emit(args, document, f"dataset {dataset.name}: {status}, {len(dataset.cases)} cases")
        return 1 if dataset.problems else 0
    else:
        write_dataset(store.get_dataset(args.name), args.file)
        opts.emit(args, {"name": args.name, "file": str(args.file)}, f"wrote {args.file}")
    return 0
