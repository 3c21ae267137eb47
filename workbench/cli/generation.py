"""`workbench gui`, `generate` and `next`: call the core, then format (text or JSON)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from workbench.cli import options as opts
from workbench.cli.options import load_backend, open_store, sampling_params
from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.runs.samples import generate_samples
from workbench.stops import parse_stop


def cmd_gui(args: argparse.Namespace) -> int:
    from workbench.ui.app import main as gui_main

    return gui_main(model=args.model)


def _request(args: argparse.Namespace, prompt: str, params: SamplingParams) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt,
        params=params,
        max_tokens=args.max_tokens,
        stop=tuple(parse_stop(s) for s in args.stop),
        top_logprobs=args.top_logprobs,
        add_bos=not args.no_bos,
    ).validate()


def cmd_generate(args: argparse.Namespace) -> int:
    prompt = opts.read_prompt(args)
    if args.beams is not None:
        from workbench.cli.explore import run_beams

        return run_beams(args, prompt)
    params = sampling_params(args, temperature=SamplingParams().temperature)
    request = _request(args, prompt, params)
    backend = load_backend(args)
    store = None if args.no_log else open_store()
    run = generate_samples(backend, request, args.samples, store=store, kind="generate", width=args.parallel)
    for note in run.notes:
        print(f"workbench: {note}", file=sys.stderr)
    request, samples, run_id = run.request, list(run.samples), run.run_id
    params = request.params
    prompt_tokens = samples[0].timings.prompt_tokens
    document: dict[str, Any] = {
        "model": backend.info.name,
        "model_path": backend.info.path,
        "n_ctx": backend.n_ctx,
        **backend.options.describe(),
        "run_id": run_id,
        "params": {**request.settings_record(), "seed": params.seed},
        "prompt_tokens": prompt_tokens,
        "samples": [s.to_dict() for s in samples],
    }
    text = "\n\n".join(
        (f"--- sample {i + 1} (seed {s.seed}) ---\n" if len(samples) > 1 else "")
        + prompt
        + s.text
        + f"\n[{s.finish_reason}, {s.timings.generated_tokens} tokens, {s.timings.tokens_per_s:.1f} tok/s]"
        for i, s in enumerate(samples)
    )
    opts.emit(args, document, text)
    return 0


def _control_name(backend, token_id: int) -> str:
    """A control token (end of text, end of turn) spells no text: it is shown by its name, e.g. <|endoftext|>."""
    return backend.vocabulary.piece(token_id, special=True).decode("utf-8", errors="replace") or f"<token {token_id}>"


def cmd_next(args: argparse.Namespace) -> int:
    prompt = opts.read_prompt(args)
    params = sampling_params(args)
    backend = load_backend(args)
    result = backend.next_token(prompt, params, top=args.top, add_bos=not args.no_bos)
    document = {
        "model": backend.info.name,
        **backend.options.describe(),
        "params": params.__dict__,
        **result.to_dict(),
    }
    rows = [f"{'rank':>4} {'id':>7}  {'token':<16} {'prob':>8} {'sampled':>8}  removed by"]
    for rank, c in enumerate(result.candidates, start=1):
        shown = repr(c.text) if c.text else f"<{c.bytes.hex(' ')}>" if c.bytes else _control_name(backend, c.id)
        rows.append(f"{rank:>4} {c.id:>7}  {shown:<16} {c.prob:>8.4f} {c.prob_sampled:>8.4f}  {c.removed_by or ''}")
    rows.append(f"kept {result.kept_count} tokens holding {result.kept_mass:.1%} of the raw probability")
    rows.append(f"numerics: {backend.options.numerics}, batching: {backend.options.batching}")
    if args.numeric_check:
        from workbench.engine.numerics import numeric_check, other_numerics

        ids = backend.tokenize(prompt, add_bos=not args.no_bos)
        other = backend.sibling(other_numerics(backend.options.numerics))
        try:
            check = numeric_check(backend, other, ids, top_k=args.top)
        finally:
            other.close()
        document["numeric_check"] = check.to_dict()
        rows.append("numeric check: " + check.summary())
    opts.emit(args, document, "\n".join(rows))
    return 0
