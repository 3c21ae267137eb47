"""CLI: `workbench tokenizers` and `workbench tokenize`."""

from __future__ import annotations

import argparse
import sys

from workbench.cli import options as opts
from workbench.errors import InputError
from workbench.text import tokenizers
from workbench.text.display import piece_label


def cmd_tokenizers(args: argparse.Namespace) -> int:
    if args.add is not None:
        from workbench.text import tiktoken_files

        name = tiktoken_files.add_file(args.add)
        print(f"added {name} ({tiktoken_files.workbench_folder()})", file=sys.stderr)
    if args.add_llama_vocabularies:
        from workbench.text import llama_vocabs

        added = llama_vocabs.add_vocabularies(args.from_sdist)
        print(f"added {len(added)} llama.cpp vocabularies ({llama_vocabs.vocab_folder()})", file=sys.stderr)
    elif args.from_sdist is not None:
        raise InputError("--from-sdist goes with --add-llama-vocabularies")
    found = tokenizers.list_tokenizers()
    lines = [
        f"{t.name:<28} {t.kind:<8} vocab {t.vocab_size or '?':>7}  "
        + (t.description if t.available else f"unavailable: {t.reason}")
        for t in found
    ]
    opts.emit(args, [t.to_dict() for t in found], "\n".join(lines))
    return 0


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return tokenizers.check_text(args.text)
    if str(args.file) == "-":
        data = sys.stdin.buffer.read(tokenizers.MAX_TEXT_BYTES + 1)
        if len(data) > tokenizers.MAX_TEXT_BYTES:
            raise InputError(f"stdin holds more than {tokenizers.MAX_TEXT_BYTES // 2**20} MB; the limit is that size")
        return tokenizers.check_text(tokenizers.decode_utf8(data, "stdin"))
    return tokenizers.check_text(tokenizers.read_text_file(args.file))


def cmd_tokenize(args: argparse.Namespace) -> int:
    text = _read_text(args)
    names = args.tokenizer or [tokenizers.MODEL_ALIAS]
    loaded = [tokenizers.get_tokenizer(name) for name in names]  # every name checked before any work
    results = [tokenizers.tokenize(t, text, special=args.special, bos=args.bos) for t in loaded]
    documents = []
    lines = []
    for name, result in zip(names, results, strict=True):
        document = result.to_dict()
        document["tokenizer"] = name
        documents.append(document)
        lines.append(
            f"{name}: {result.count} tokens, {len(text)} chars ({result.chars_per_token:.2f}/token), "
            f"{result.n_bytes} bytes ({result.bytes_per_token:.2f}/token)"
        )
        if not args.json:
            lines.append("|".join(piece_label(piece, line_breaks=False) for piece in result.pieces))
    opts.emit(args, documents, "\n".join(lines))
    return 0
