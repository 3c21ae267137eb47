"""`workbench runs` (the history: list, search, show, star, tag, delete, diff, re-run, copy as code) and
`workbench rank` (order a run's samples, InstructGPT-style)."""

from __future__ import annotations

import argparse
import getpass
import sys

from workbench import models
from workbench.cli import options as opts
from workbench.experiments import ranking
from workbench.runs import history, runcode
from workbench.store import RunQuery


def add_parsers(commands: argparse._SubParsersAction) -> None:
    runs = commands.add_parser("runs", help="the history of runs: list and search, or act on one run")
    runs.add_argument("id", nargs="?", type=int, help="show (or act on) this run, with every token")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--search", default="", help="words of a prompt or an output (Chinese: any substring)")
    runs.add_argument("--since", default="", help="only runs from this date on (YYYY-MM-DD)")
    runs.add_argument("--until", default="", help="only runs up to this date (YYYY-MM-DD, inclusive)")
    runs.add_argument("--starred", action="store_true", help="only starred runs")
    runs.add_argument("--tag", default="", help="only runs with this tag; with an ID: add the tag to that run")
    rated = runs.add_mutually_exclusive_group()
    rated.add_argument("--ranked", action="store_true", help="only runs whose samples were ranked")
    rated.add_argument("--unranked", action="store_true", help="only runs not ranked yet")
    runs.add_argument("--kind", choices=history.KINDS, help="only runs from the CLI (generate) or one tab")
    action = runs.add_mutually_exclusive_group()
    action.add_argument("--star", action="store_true", help="with an ID: star the run")
    action.add_argument("--unstar", action="store_true", help="with an ID: remove its star")
    action.add_argument("--untag", metavar="TAG", help="with an ID: remove a tag")
    action.add_argument("--delete", action="store_true", help="with an ID: delete the run, its samples and rankings")
    action.add_argument("--diff", type=int, metavar="OTHER", help="with an ID: where the two runs' tokens part")
    action.add_argument("--rerun", action="store_true", help="with an ID: generate again with its seeds and compare")
    action.add_argument("--code", choices=("python", "curl"), help="with an ID: a snippet that reproduces it")
    runs.add_argument("--sample", type=int, default=1, help="which sample --diff, --rerun and --code use (1..K)")
    opts.add_model_options(runs)  # --model filters a listing; the other options apply to --rerun
    runs.add_argument("--json", action="store_true")

    rank = commands.add_parser("rank", help="rank a run's samples best first (every pair becomes a preference)")
    rank.add_argument("run", type=int)
    rank.add_argument("--order", required=True, help="sample numbers best first, e.g. 3,1,2,4; 1=2 ties them")
    rank.add_argument("--rater", default=None, help="who ranked (default: the user name)")
    rank.add_argument("--json", action="store_true")


def query(args: argparse.Namespace) -> RunQuery:
    ranked = True if args.ranked else False if args.unranked else None
    return RunQuery(
        search=args.search,
        model=models.resolve(args.model).name if args.model else "",  # listing: --model filters
        since=args.since,
        until=args.until,
        starred=args.starred,
        tag=args.tag,
        ranked=ranked,
        kind=args.kind or "",
    ).validate()


def cmd_runs(args: argparse.Namespace) -> int:
    store = opts.open_store()
    if args.id is None:
        found = store.list_runs(args.limit, query(args))
        lines = [_summary_line(r) for r in found]
        opts.emit(args, [r.to_dict() for r in found], "\n".join(lines) or "no runs match")
        return 0
    run = store.get_run(args.id)
    sample = args.sample - 1
    if args.star or args.unstar:
        store.set_run_star(args.id, args.star)
    elif args.tag or args.untag:
        tags = set(run["tags"]) | {args.tag} if args.tag else set(run["tags"]) - {args.untag}
        store.set_run_tags(args.id, sorted(tags))
    elif args.delete:
        store.delete_run(args.id)
        opts.emit(args, {"deleted": args.id}, f"deleted run {args.id}")
        return 0
    elif args.diff is not None:
        return _diff(args, run, store.get_run(args.diff))
    elif args.rerun:
        return _rerun(args, run, sample)
    elif args.code:
        code = runcode.python_snippet(run, sample) if args.code == "python" else runcode.curl_command(run, sample)
        opts.emit(args, {"run": args.id, "language": args.code, "code": code}, code)
        return 0
    run = store.get_run(args.id)
    lines = [f"run {run['id']} {run['created_at']} {run['kind']} {run['model']}", run["prompt"]]
    lines += [f"--- sample {s['idx'] + 1}: {s['finish_reason']}, seed {s['seed']}\n{s['text']}" for s in run["samples"]]
    opts.emit(args, run, "\n".join(lines))
    return 0


def _summary_line(r) -> str:
    tags = f"  [{', '.join(r.tags)}]" if r.tags else ""
    ranked = " ranked" if r.ranked else ""
    star = "★" if r.starred else " "
    return (
        f"{r.id:>5} {star} {r.created_at[:19]} {r.kind:<10} {r.model:<28} {r.samples} sample(s){ranked}  "
        f"{r.prompt[:40]!r}{tags}"
    )


def _diff(args: argparse.Namespace, left: dict, right: dict) -> int:
    result = history.diff_runs(left, right, args.sample - 1, args.sample - 1)
    if result.identical:
        text = f"runs {left['id']} and {right['id']} are identical token for token ({result.common_tokens} tokens)"
    else:
        text = (
            f"the same for {result.common_tokens} tokens ({result.common_text!r}), then run {left['id']} "
            f"{_side(result.left)}, run {right['id']} {_side(result.right)}"
        )
    notes = "".join(f"\nnote: {n}" for n in result.notes)
    opts.emit(args, {"left_run": left["id"], "right_run": right["id"], **result.to_dict()}, text + notes)
    return 0


def _side(side: history.SideAt | None) -> str:
    if side is None or side.token_id is None:
        return "ends"
    other = "not in its alternatives" if side.prob_of_other is None else f"{side.prob_of_other:.2%}"
    return f"took {side.text!r} (p = {side.prob:.2%}; the other run's token: {other})"


def _rerun(args: argparse.Namespace, run: dict, sample: int) -> int:
    info = models.resolve(run["model_path"])
    if not args.numerics and run.get("numerics"):
        args.numerics = run["numerics"]
    if not args.n_ctx and run.get("n_ctx"):
        args.n_ctx = run["n_ctx"]
    backend = opts.open_engine(args, info)
    try:
        generation = backend.generate(history.reproduce_request(run, sample))
    finally:
        backend.close()
    stored = [t["id"] for t in run["samples"][sample]["tokens"]]
    same = [t.id for t in generation.tokens] == stored
    document = {"run": run["id"], "sample": sample + 1, "identical": same, "generation": generation.to_dict()}
    verdict = "identical token for token" if same else "DIFFERENT from the stored run"
    opts.emit(args, document, f"{generation.text}\n--- {verdict} (seed {generation.seed})")
    return 0 if same else 1


def cmd_rank(args: argparse.Namespace) -> int:
    store = opts.open_store()
    run = store.get_run(args.run)
    ranks = ranking.parse_order(args.order, len(run["samples"]))
    rater = args.rater or getpass.getuser()
    store.save_ranking(args.run, ranks, rater)
    saved = ranking.Ranking(args.run, ranks, rater)
    document = {"run": args.run, "ranks": list(ranks), "order": saved.order_text(), "pairs": len(saved.pairs())}
    opts.emit(args, document, f"run {args.run} ranked {saved.order_text()}: {len(saved.pairs())} preference pairs")
    if len(saved.pairs()) == 0:
        print("workbench: every sample tied: this ranking adds no pair", file=sys.stderr)
    return 0
