"""`workbench score`: how surprising a text is to the model, token by token."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import options as opts
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


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    try:
        data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {args.file}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{args.file} is not valid UTF-8 (bad byte at offset {err.start})") from None


def cmd_score(args: argparse.Namespace) -> int:
    from workbench.explore.surprise import score_text

    text = _read_text(args)
    if not text:
        raise InputError("the text to score is empty")
    backend = opts.load_backend(args)
    result = score_text(backend, text, add_bos=not args.no_bos, top=args.top, prompt=args.prompt)
    lines = []
    for token in result.tokens:
        if token.logprob is None:
            lines.append(f"{token.text!r:<24} (first token: nothing to condition on)")
            continue
        best = ", ".join(f"{t!r} {lp:.2f}" for _, t, lp in token.top[:3])
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
