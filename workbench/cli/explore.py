"""`workbench score`: how surprising a text is to the model, token by token."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli import options as opts
from workbench.engine.base import SamplingParams
from workbench.errors import InputError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score", help="every token's log-probability under the model (teacher forcing), perplexity, bits per byte"
    )
    source = score.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the text")
    source.add_argument("--file", type=Path, help="a UTF-8 text file ('-' for stdin)")
    score.add_argument(
        "--prompt",
        default="",
        help="score the text as a continuation of this prompt, token by token as generation computes it",
    )
    score.add_argument("--top", type=int, default=5, help="alternatives listed per token, 1..20")
    score.add_argument("--no-bos", action="store_true", help="no BOS: the first token is then not scored")
    opts.add_model_options(score)
    score.add_argument("--json", action="store_true")
    _add_tree_parsers(commands)


TREE_ACTIONS = {
    "new": "a tree rooted at a prompt",
    "next": "the next-token distribution at a node (raw and after the sampling settings)",
    "pick": "append a chosen token at a node (by id, or by its text)",
    "greedy": "append the most probable token",
    "roll": "sample one token with the settings and a recorded seed",
    "auto": "continue N tokens (greedy at -t 0, else sampled), with a repetition meter",
    "runs": "N sampled continuations overlaid with counts per branch",
    "beams": "beam search from the prompt, drawn into the tree",
    "show": "every node and every branch with its total log-probability",
    "list": "saved trees, newest first",
    "export": "the whole tree as one JSON document",
    "delete": "delete a tree",
}


def _add_tree_parsers(commands: argparse._SubParsersAction) -> None:
    tree = commands.add_parser("tree", help="the text chain by hand: branch trees of next-token choices")
    actions = tree.add_subparsers(dest="action", required=True, parser_class=type(tree))
    for name, help_text in TREE_ACTIONS.items():
        action = actions.add_parser(name, help=help_text)
        if name == "new":
            action.add_argument("--prompt", "-p", required=True)
            action.add_argument("--name", default="")
            action.add_argument("--no-bos", action="store_true")
        elif name != "list":
            action.add_argument("id", type=int, help="tree id")
        if name in ("next", "pick", "greedy", "roll", "auto", "runs"):
            action.add_argument("--node", type=int, help="node id (default: the root, the prompt)")
        if name in ("next", "roll", "auto", "runs"):
            opts.add_sampling_options(action, SamplingParams())
        if name == "next":
            action.add_argument("--top", type=int, default=20, help="candidates listed, 1..50")
        if name == "pick":
            which = action.add_mutually_exclusive_group(required=True)
            which.add_argument("--token", type=int, help="token id")
            which.add_argument("--text", help="a token's text (must be one token of the vocabulary)")
        if name in ("auto", "runs", "beams"):
            action.add_argument("--steps", "-n", type=int, default=16, help="tokens per continuation")
        if name == "runs":
            action.add_argument("--runs", type=int, default=8, help="how many continuations, 1..64")
        if name == "beams":
            action.add_argument("--beams", type=int, default=4, help="1..8")
        if name not in ("list", "delete", "new") or name == "new":
            opts.add_model_options(action)
        action.add_argument("--json", action="store_true")


def cmd_score(args: argparse.Namespace) -> int:
    from workbench.explore.surprise import score_text

    text = args.text if args.text is not None else opts.read_text_file(args.file, "text file")
    if not text:
        raise InputError("the text to score is empty")
    backend = opts.load_backend(args)
    result = score_text(backend, text, add_bos=not args.no_bos, top=args.top, prompt=args.prompt)
    lines = []
    for token in result.tokens:
        if token.logprob is None:
            lines.append(f"{token.text!r:<24} (first token: nothing to condition on)")
            continue
        best = ", ".join(f"{t.text!r} {t.logprob:.2f}" for t in token.top[:3])
        lines.append(f"{token.text!r:<24} {token.logprob:>8.3f}  rank {token.rank:<6} top: {best}")
    lines.append(
        f"{len(result.scored)} tokens scored: total log-probability {result.total_logprob:.3f}, "
        f"perplexity {result.perplexity:.2f}, {result.bits_per_byte:.3f} bits per byte ({result.model})"
    )
    opts.emit(args, result.to_dict(), "\n".join(lines))
    return 0


def beam_conflicts(args: argparse.Namespace) -> list[str]:
    """Settings that contradict beam search, said by name."""
    conflicts = []
    if args.temperature not in (None, 0):
        conflicts.append(f"--temperature {args.temperature:g} (beam search ranks by probability, it rolls no dice)")
    if args.samples != 1:
        conflicts.append(f"--samples {args.samples} (it returns its B beams)")
    if args.stop:
        conflicts.append("--stop (a beam ends at the model's end of text or at --max-tokens)")
    if args.repeat_penalty != 1.0:
        conflicts.append(f"--repeat-penalty {args.repeat_penalty:g} (beams are ranked by the raw model)")
    return conflicts


def run_beams(args: argparse.Namespace, prompt: str) -> int:
    from workbench.engine.llama.beam import check_beams

    check_beams(args.beams, args.beams)
    conflicts = beam_conflicts(args)
    if conflicts:
        raise InputError("--beams does not take " + "; ".join(conflicts))
    args.parallel = max(args.parallel, args.beams)
    backend = opts.load_backend(args)
    from workbench.engine.llama.beam import beam_search

    result = beam_search(backend, prompt, args.beams, args.max_tokens, add_bos=not args.no_bos)
    document = {"model": backend.info.name, **backend.options.describe(), **result.to_dict()}
    lines = []
    for i, beam in enumerate(result.beams):
        lines.append(f"--- beam {i + 1}: total log-probability {beam.total_logprob:.3f} ({beam.finish_reason}) ---")
        lines.append(prompt + beam.text)
    opts.emit(args, document, "\n".join(lines))
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    from workbench.explore import tree as trees

    store = opts.open_store()
    if args.action == "list":
        found = store.list_trees()
        lines = [f"{t['id']:>4} {t['nodes']:>5} nodes  {t['updated_at'][:19]}  {t['name']}" for t in found]
        opts.emit(args, found, "\n".join(lines) or "no trees yet")
        return 0
    if args.action == "delete":
        store.delete_tree(args.id)
        opts.emit(args, {"id": args.id, "deleted": True}, f"tree {args.id} deleted")
        return 0
    if args.action in ("show", "export"):
        tree = trees.load_tree(store, args.id)
        opts.emit(args, tree.to_dict(), _tree_text(tree) if args.action == "show" else "")
        return 0
    if args.action != "new":
        trees.load_tree(store, args.id)  # a clear error for a tree id that does not exist, before loading a model
    args.parallel = {"beams": getattr(args, "beams", 1), "runs": min(getattr(args, "runs", 1), 8)}.get(args.action, 1)
    backend = opts.load_backend(args)
    if args.action == "new":
        tree = trees.new_tree(store, backend, args.prompt, args.name, add_bos=not args.no_bos)
        opts.emit(args, tree.to_dict(), f"tree {tree.id} (root node {tree.root}): {args.prompt!r}")
        return 0
    tree = trees.load_tree(store, args.id)
    if tree.model_path != backend.info.path:
        raise InputError(f"tree {tree.id} was grown with {tree.model}; continue it with --model {tree.model_path}")
    if args.action == "next":
        _, dist = trees.next_at(backend, tree, args.node, opts.sampling_params(args), args.top)
        lines = [
            f"{c.id:>7} {c.text!r:<16} p {c.prob:7.2%}  sampled {c.prob_sampled:7.2%}"
            + (f"  removed by {c.removed_by}" if c.removed_by else "")
            for c in dist.candidates
        ]
        lines.append(f"kept {dist.kept_count} tokens, mass {dist.kept_mass:.3f}, entropy {dist.entropy_bits:.2f} bits")
        opts.emit(args, dist.to_dict(), "\n".join(lines))
        return 0
    node = args.node if hasattr(args, "node") else None
    if args.action == "pick":
        token = args.token if args.token is not None else _single_token(backend, args.text)
        tree = trees.pick(store, backend, tree, node, token)
    elif args.action == "greedy":
        tree = trees.greedy(store, backend, tree, node)
    elif args.action == "roll":
        tree, _ = trees.roll(store, backend, tree, node, opts.sampling_params(args), args.seed)
    elif args.action == "auto":
        tree, last = trees.auto(store, backend, tree, node, args.steps, opts.sampling_params(args))
        ids = [n.token_id for n in tree.path(last)]
        document = {**tree.to_dict(), "last_node": last, "repetition": trees.repetition(ids)}
        opts.emit(args, document, _tree_text(tree))
        return 0
    elif args.action == "runs":
        tree = trees.add_runs(store, backend, tree, node, args.runs, args.steps, opts.sampling_params(args))
    else:
        tree, _ = trees.add_beams(store, backend, tree, None, args.beams, args.steps)
    opts.emit(args, tree.to_dict(), _tree_text(tree))
    return 0


def _single_token(backend, text: str) -> int:
    ids = backend.tokenize(text, add_bos=False)
    if len(ids) != 1:
        raise InputError(f"{text!r} is {len(ids)} tokens for this model; pick one token (or give --token ID)")
    return ids[0]


def _tree_text(tree) -> str:
    lines = [f"tree {tree.id}: {tree.name} ({tree.model}) prompt {tree.prompt!r}"]

    def walk(node_id: int, depth: int) -> None:
        node = tree.nodes[node_id]
        if node.parent is not None:
            count = f" x{node.count}" if node.count else ""
            text = node.bytes.decode("utf-8", errors="replace")
            lines.append(f"{'  ' * depth}[{node.id}] {text!r} {node.logprob:.2f} ({node.how}){count}")
        for child in node.children:
            walk(child, depth + (node.parent is not None))

    walk(tree.root, 0)
    for leaf in tree.leaves():
        lines.append(f"branch {leaf.id}: total {tree.total_logprob(leaf.id):.3f}  {tree.continuation(leaf.id)!r}")
    return "\n".join(lines)
