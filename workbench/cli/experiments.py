"""CLI: `workbench compare`, `workbench experiments`, `workbench export`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from workbench import experiments
from workbench.cli import options as opts
from workbench.engine.base import SamplingParams
from workbench.errors import InputError
from workbench.library.datasets import read_dataset
from workbench.models.engines import GridEngines
from workbench.scoring.answers import SCORER_NAMES
from workbench.stops import parse_stop


def add_parsers(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("compare", help="run templates side by side over a dataset and score them")
    run.add_argument("--templates", help="comma-separated template names (NAME or NAME@VERSION)")
    run.add_argument(
        "--preset",
        metavar="NAME",
        help="a ready experiment from the starter library (e.g. base-vs-instruct-sentiment): its templates, "
        "dataset and models, unless given; --list-presets shows them",
    )
    run.add_argument("--list-presets", action="store_true", help="list the ready experiments and exit")
    run.add_argument("--dataset", help="a dataset name, or a .jsonl/.csv file (imported first)")
    run.add_argument("--resume", type=int, metavar="ID", help="run the cells of experiment ID not yet done")
    run.add_argument("--samples", type=int, default=1, help="samples per cell (majority vote reported too)")
    run.add_argument("--max-tokens", "-n", type=int, help="for every template (default: each template's own, else 64)")
    run.add_argument(
        "--stop",
        action="append",
        help="stop string for every template (repeatable; escapes \\n \\t \\s \\\\; default: each template's, "
        "else a newline)",
    )
    run.add_argument("--no-stop", action="store_true", help="no stop strings, whatever the templates recommend")
    run.add_argument("--top-logprobs", type=int, default=5, help="alternatives stored per token, 0..20")
    run.add_argument(
        "--scorer",
        help=f"an answer rule for every template ({', '.join(SCORER_NAMES)}), or assertions for every cell: "
        'comma-separated TYPE or TYPE:VALUE, e.g. chrf or "chrf,llm-rubric:is one sentence"',
    )
    run.add_argument("--allow-code", action="store_true", help="let python assertions in the dataset's rows run")
    run.add_argument(
        "--temperatures", metavar="LIST", help="one configuration per temperature, e.g. 0,0.7,1.0 (overrides templates)"
    )
    run.add_argument("--name", default="", help="experiment name")
    run.add_argument("--yes", action="store_true", help=f"run grids over {experiments.LARGE_GRID:,} cells")
    run.add_argument(
        "--parallel",
        type=int,
        default=4,
        help="cells decoded together locally (1: one at a time; equal results), or requests in flight on a server",
    )
    opts.add_model_options(run)
    run.add_argument(
        "--models", help="comma-separated models (names, .gguf paths, connection:NAME) for a multi-model grid"
    )
    opts.add_sampling_options(run, SamplingParams())
    run.set_defaults(temperature=None)  # each template's own, else greedy
    run.add_argument("--json", action="store_true")

    listing = commands.add_parser("experiments", help="comparison experiments: list, show, rename, delete")
    actions = listing.add_subparsers(dest="action", required=True, parser_class=type(listing))
    actions.add_parser("list", help="newest first")
    show = actions.add_parser("show", help="the summary, paired tests and (with --cells) the results table")
    show.add_argument("id", type=int)
    show.add_argument(
        "--cells", action="store_true", help="also the results table: a row per case, a column per template"
    )
    show.add_argument("--only-failures", action="store_true", help="table: only cases some template got wrong")
    show.add_argument(
        "--only-disagreements", action="store_true", help="table: only cases the templates judged differently"
    )
    delete = actions.add_parser("delete")
    delete.add_argument("id", type=int)
    rename = actions.add_parser("rename")
    rename.add_argument("id", type=int)
    rename.add_argument("new_name")
    for parser in actions.choices.values():
        parser.add_argument("--json", action="store_true")

    rate = commands.add_parser(
        "rate", help="judge two outputs of a comparison (the A/B review), or list pairs to judge"
    )
    rate.add_argument("experiment", type=int)
    rate.add_argument("left", type=int, nargs="?", help="run id shown on the left")
    rate.add_argument("right", type=int, nargs="?", help="run id shown on the right")
    rate.add_argument("choice", nargs="?", choices=experiments.RATING_CHOICES)
    rate.add_argument("--pairs", action="store_true", help="list the unrated pairs (same case, different outputs)")
    rate.add_argument("--seed", type=int, default=0, help="order of --pairs (random left/right, shuffled)")
    rate.add_argument("--rater", default=None, help="who judged (default: the user name)")
    rate.add_argument("--json", action="store_true")

    export = commands.add_parser(
        "export", help="an experiment's runs or summary, or human preferences (rankings, A/B ratings), as JSONL or CSV"
    )
    export.add_argument("--experiment", type=int, metavar="ID", help="the experiment (runs and summary need one)")
    export.add_argument("--run", type=int, metavar="ID", help="preferences or ranked: only this run's rankings")
    export.add_argument(
        "--what",
        choices=("runs", "preferences", "ranked", "summary"),
        default="runs",
        help="preferences: every ranked pair and A/B rating as {prompt, chosen, rejected} (TRL's DPO / reward "
        "trainers); ranked: one row per ranking with the whole order. Without --experiment/--run: all of them",
    )
    export.add_argument(
        "--format",
        choices=("jsonl", "csv", "promptfoo"),
        default="jsonl",
        help="promptfoo: the experiment as promptfoo's eval output JSON (promptfoo import FILE reads it)",
    )
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")


def _store():
    from workbench.cli.library import library_store

    return library_store()


def _apply_preset(args: argparse.Namespace, store) -> None:
    from workbench.library import presets

    preset = presets.get_preset(args.preset)
    for name in presets.ensure_ingredients(store, preset):
        print(f"workbench: imported {name} from the starter library", file=sys.stderr)
    args.templates = args.templates or ",".join(preset.templates)
    args.dataset = args.dataset or preset.dataset
    args.models = args.models or ",".join(preset.models)
    args.name = args.name or preset.name
    if args.samples == 1:
        args.samples = preset.samples


def _spec(args: argparse.Namespace, store) -> experiments.GridSpec:
    if args.preset:
        _apply_preset(args, store)

    if not args.templates or not args.dataset:
        raise InputError("compare needs --templates and --dataset (or --resume ID)")
    dataset = args.dataset
    if dataset.endswith((".jsonl", ".csv")) or Path(dataset).is_file():
        read = read_dataset(Path(dataset))
        for problem in read.problems:
            print(f"workbench: {problem}", file=sys.stderr)
        store.save_dataset(read)
        dataset = read.name
    if args.no_stop and args.stop:
        raise InputError("--stop and --no-stop contradict each other")
    stop = () if args.no_stop else tuple(parse_stop(s) for s in args.stop) if args.stop else None
    temperature = args.temperature
    params = opts.sampling_params(args, temperature=0.0 if temperature is None else temperature)
    temperatures = args.temperatures or (None if temperature is None else str(temperature))
    return experiments.grid_spec(
        templates=args.templates.split(","),
        dataset=dataset,
        params=params,
        temperatures=temperatures,
        max_tokens=args.max_tokens,
        stop=stop,
        models=[m.strip() for m in args.models.split(",")] if args.models else [opts.model_name(args)],
        samples=args.samples,
        scorer=args.scorer,
        name=args.name,
        top_logprobs=args.top_logprobs,
        allow_code=args.allow_code,
    )


def cmd_compare(args: argparse.Namespace) -> int:
    if args.list_presets:
        from workbench.library import presets

        found = presets.list_presets()
        opts.emit(args, [p.to_dict() for p in found], "\n".join(f"{p.name}: {p.description}" for p in found))
        return 0

    store = _store()
    if args.resume is not None:
        experiment_id = args.resume
        experiment = store.experiment(experiment_id)
        if experiment["done_cells"] == experiment["total_cells"]:
            print(f"workbench: experiment {experiment_id} is already complete", file=sys.stderr)
    else:
        experiment_id = experiments.plan(store, _spec(args, store), confirm_large=args.yes)
        print(f"workbench: experiment {experiment_id} planned", file=sys.stderr)
    last = [0.0]

    def progress(p: experiments.Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or p.done == p.total:
            last[0] = now
            print(f"\r{p.line()}   ", end="" if p.done < p.total else "\n", file=sys.stderr, flush=True)

    with GridEngines(opts.overrides(args)) as engines:
        outcome = experiments.run(store, experiment_id, engines, on_progress=progress, parallel=args.parallel)
    if outcome == "failed":
        failed = store.experiment(experiment_id)["failed_cells"]
        print(
            f"workbench: {failed} cell(s) failed on the server (see `workbench experiments show {experiment_id}`); "
            f"run them again with: workbench compare --resume {experiment_id}",
            file=sys.stderr,
        )
    report = _report(store, experiment_id)
    opts.emit(args, report, _summary_text(report))
    return 0


def _report(store, experiment_id: int) -> dict:
    """The answer-rule summary and every kept scoring's summary."""
    from workbench.experiments.rescoring import scoring_summaries

    report = experiments.summarize(store, experiment_id)
    report["scorings"] = scoring_summaries(store, experiment_id)
    return report


def _summary_text(report: dict) -> str:
    lines = [f"experiment {report['experiment_id']}: {report['name']} ({report['done']}/{report['total']} cells)"]
    if report.get("server_failed"):
        lines.append(
            f"{report['server_failed']} cell(s) failed on the server; run them again with: "
            f"workbench compare --resume {report['experiment_id']}"
        )
    lines.append(f"{'template':<34} {'accuracy':>8} {'95% CI':>15} {'n':>4} {'vote':>6} {'fail':>4} {'cell ms':>8}")
    for row in report["summary"]:
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        ci = "" if row["ci_low"] is None else f"{row['ci_low']:.2f}-{row['ci_high']:.2f}"
        vote = "-" if row["majority_accuracy"] is None else f"{row['majority_accuracy']:.3f}"
        lines.append(
            f"{row['template']:<34} {accuracy:>8} {ci:>15} {row['n']:>4} {vote:>6} {row['failures']:>4} "
            f"{row['mean_latency_ms']:>8.0f}"
        )
    speed = report["throughput"]
    if speed["cells_per_s"]:
        lines.append(
            f"grid: {speed['cells_timed']} cells in {speed['wall_s']:.1f} s of wall time: {speed['cells_per_s']:.2f} "
            f"cells/s, {speed['completion_tokens_per_s']:.1f} generated tokens/s "
            "(cell ms: a cell's time in flight, including batch neighbours)"
        )
    lines += [experiments.pairwise_line(pair) for pair in report["pairwise"]]
    from workbench.experiments.scoring_text import summary_text

    lines += [summary_text(scoring) for scoring in report.get("scorings", [])]
    return "\n".join(lines)


def _table(grid: experiments.ResultsGrid) -> tuple[list[dict], str]:
    """The results table as JSON rows and as text (the Compare tab shows the same cells)."""
    rows = [
        {
            "case_id": case,
            **{column: experiments.cell_text(grid.samples(r, c)) for c, column in enumerate(grid.columns)},
        }
        for r, case in enumerate(grid.cases)
    ]
    widths = [max([len(column)] + [len(row[column]) for row in rows]) for column in grid.columns]
    case_width = max([4] + [len(case) for case in grid.cases])
    lines = ["case".ljust(case_width) + "  " + "  ".join(c.ljust(w) for c, w in zip(grid.columns, widths, strict=True))]
    for row in rows:
        cells = "  ".join(row[c].ljust(w) for c, w in zip(grid.columns, widths, strict=True))
        lines.append(row["case_id"].ljust(case_width) + "  " + cells)
    return rows, "\n".join(lines) if rows else "(no case matches the filters)"


def _show(args: argparse.Namespace, store) -> None:
    report = _report(store, args.id)
    text = _summary_text(report)
    if args.cells or args.only_failures or args.only_disagreements:
        spec = store.experiment(args.id)["spec"]
        runs = store.experiment_runs(args.id, with_tokens=False)
        columns = [row["template"] for row in report["summary"]]
        grid = experiments.results_grid(runs, spec, columns, args.only_failures, args.only_disagreements)
        report["cells"], table = _table(grid)
        text += "\n\n" + table
    opts.emit(args, report, text)


def cmd_experiments(args: argparse.Namespace) -> int:
    store = _store()
    if args.action == "list":
        found = store.list_experiments()
        lines = [
            f"{e['id']:>4} {e['status']:<8} {e['done_cells']}/{e['total_cells']:<6} {e['created_at'][:19]} {e['name']}"
            for e in found
        ]
        opts.emit(args, found, "\n".join(lines) or "no experiments yet")
    elif args.action == "show":
        _show(args, store)
    elif args.action == "rename":
        store.set_experiment(args.id, name=args.new_name)
        opts.emit(args, {"id": args.id, "name": args.new_name}, f"experiment {args.id} renamed")
    else:
        store.delete_experiment(args.id)
        opts.emit(args, {"id": args.id, "deleted": True}, f"experiment {args.id} deleted")
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    import getpass
    import random

    store = _store()
    store.experiment(args.experiment)
    if args.pairs:
        pairs = experiments.review_pairs(store, args.experiment, random.Random(args.seed))
        document = [
            {
                "case_id": a["case_id"],
                "left": a["id"],
                "right": b["id"],
                "left_output": a["output"],
                "right_output": b["output"],
            }
            for a, b in pairs
        ]
        lines = [f"case {d['case_id']}: {d['left']} vs {d['right']}" for d in document]
        opts.emit(args, document, "\n".join(lines) or "nothing left to rate")
        return 0
    if args.left is None or args.right is None or args.choice is None:
        raise InputError("give LEFT RIGHT CHOICE (run ids and left/right/tie/skip), or --pairs")
    rater = args.rater or getpass.getuser()
    rating_id = experiments.rate(store, args.experiment, args.left, args.right, args.choice, rater)
    document = {
        "id": rating_id,
        "experiment_id": args.experiment,
        "left": args.left,
        "right": args.right,
        "choice": args.choice,
        "rater": rater,
    }
    opts.emit(args, document, f"rating {rating_id} saved: {args.choice}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from workbench.experiments import ranking
    from workbench.fsutil import atomic_write_text

    store = _store()
    if args.format == "promptfoo":
        return _export_promptfoo(args, store)
    if args.what in ("preferences", "ranked"):
        rows = ranking.export_rows(store, args.what, experiment=args.experiment, run=args.run)
    elif args.experiment is None:
        raise InputError(f"--what {args.what} exports one experiment: give --experiment ID")
    else:
        rows = experiments.export_rows(store, args.experiment, args.what)
    text = experiments.to_text(rows, args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
    if not rows:
        # an empty export is a valid answer (nothing ranked yet), so scripts go on; the notice says why
        print(f"workbench: nothing to export: no {args.what} recorded yet", file=sys.stderr)
    return 0


def _export_promptfoo(args: argparse.Namespace, store) -> int:
    import json

    from workbench.suites import promptfoo_export

    if args.experiment is None:
        raise InputError("--format promptfoo exports one experiment: give --experiment ID")
    if args.out is None:
        sys.stdout.write(json.dumps(promptfoo_export.eval_document(store, args.experiment), ensure_ascii=False) + "\n")
        return 0
    count = promptfoo_export.write_eval(store, args.experiment, args.out)
    print(f"wrote {count} results to {args.out} (promptfoo import {args.out} reads it)", file=sys.stderr)
    return 0
