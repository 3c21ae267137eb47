"""`workbench rescore`, `label` and `calibrate`: score a finished experiment again with any assertions (nothing is
generated again), label its cells yourself, and see whether a scorer agrees with you."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import options as opts
from workbench.errors import InputError
from workbench.experiments import rescoring, scoring_text
from workbench.scoring import AssertionSet


def add_parsers(commands: argparse._SubParsersAction) -> None:
    rescore = commands.add_parser(
        "rescore", help="score a finished experiment's outputs again with other assertions (nothing is regenerated)"
    )
    rescore.add_argument("experiment", type=int)
    source = rescore.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--scorer",
        help='comma-separated TYPE or TYPE:VALUE, e.g. chrf,contains:猫,"llm-rubric:is one polite sentence"',
    )
    source.add_argument("--assertions", type=Path, help="a YAML/JSON file: a list of promptfoo-style assertions")
    rescore.add_argument("--threshold", type=float, help="pass when the weighted mean score reaches this")
    rescore.add_argument("--name", help="what to call this scoring (default: its assertions)")
    rescore.add_argument("--judge", help="judge model for judge assertions (default: the embedded instruct model)")
    rescore.add_argument("--parallel", type=int, help="judge calls decoded together / in flight")
    rescore.add_argument("--allow-code", action="store_true", help="let python assertions from a file run")
    rescore.add_argument("--json", action="store_true")

    label = commands.add_parser("label", help="your own verdict on a comparison cell (by its run id)")
    label.add_argument("run", type=int, help="the cell's run id (workbench export --experiment ID shows them)")
    label.add_argument("verdict", choices=("pass", "fail", "clear"))
    label.add_argument("--grade", type=int, choices=range(1, 6), metavar="1-5")
    label.add_argument("--note", default="")
    label.add_argument("--json", action="store_true")

    pairwise = commands.add_parser(
        "pairwise", help="a model judge compares two templates' outputs case by case, in both orders"
    )
    pairwise.add_argument("experiment", type=int)
    pairwise.add_argument("--a", required=True, help="template A")
    pairwise.add_argument("--b", required=True, help="template B")
    pairwise.add_argument("--criterion", required=True, help="what makes a response better")
    pairwise.add_argument("--judge", help="judge model (default: the embedded instruct model)")
    pairwise.add_argument("--parallel", type=int, help="judge calls decoded together / in flight")
    pairwise.add_argument("--json", action="store_true")

    calibrate = commands.add_parser("calibrate", help="a scoring's agreement with your labels: kappa, confusion")
    calibrate.add_argument("experiment", type=int)
    calibrate.add_argument("--scoring", required=True, help="the scoring's name (workbench experiments show ID)")
    calibrate.add_argument("--json", action="store_true")


def _store():
    from workbench.cli.library import library_store

    return library_store()


def _assertions(args: argparse.Namespace) -> AssertionSet:
    if args.scorer:
        parsed = AssertionSet.parse_names(args.scorer)
        return AssertionSet(parsed.assertions, args.threshold)
    import yaml

    text = opts.read_text_file(args.assertions, "assertions file")
    try:
        items = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"{args.assertions} is not valid YAML: {str(err).splitlines()[0]}") from None
    if isinstance(items, dict):
        items = items.get("assert")
    return AssertionSet.from_list(items, args.threshold, where=str(args.assertions))


def cmd_rescore(args: argparse.Namespace) -> int:
    store = _store()
    assertions = _assertions(args)
    if args.parallel is not None and args.parallel < 1:
        raise InputError(f"--parallel must be >= 1 (got {args.parallel})")

    def progress(done: int, total: int) -> None:
        if not args.json:
            print(f"\rjudged {done}/{total}", end="", file=sys.stderr, flush=True)

    try:
        done = rescoring.rescore(
            store, args.experiment, assertions, args.name, args.judge, args.parallel, progress, args.allow_code
        )
    finally:
        if assertions.has_judges and not args.json:
            print(file=sys.stderr)
    report = rescoring.scoring_summary(store, args.experiment, done.name)
    report.update(cells=done.cells, scorer_errors=done.errors, assertions=assertions.to_dict())
    opts.emit(args, report, scoring_text.summary_text(report))
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    store = _store()
    passed = None if args.verdict == "clear" else args.verdict == "pass"
    store.save_label(args.run, passed, args.grade, args.note)
    document = {"run_id": args.run, "passed": passed, "grade": args.grade, "note": args.note}
    opts.emit(args, document, f"cell {args.run}: {args.verdict}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    report = rescoring.calibration(_store(), args.experiment, args.scoring)
    opts.emit(args, report, scoring_text.calibration_text(report))
    return 0


def cmd_pairwise(args: argparse.Namespace) -> int:
    from workbench.experiments.pairwise import judge_pairs

    if args.parallel is not None and args.parallel < 1:
        raise InputError(f"--parallel must be >= 1 (got {args.parallel})")
    report = judge_pairs(_store(), args.experiment, args.a, args.b, args.criterion, args.judge, args.parallel)
    opts.emit(args, report.to_dict(), scoring_text.pairwise_text(report.to_dict()))
    return 0
