"""Ranking the samples of one run, the way InstructGPT's labelers ranked K answers to one prompt: every
pair of a ranking with different ranks is one comparison (K(K-1)/2 of them when there is no tie)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

from workbench.errors import InputError


@dataclass(frozen=True)
class Ranking:
    """`ranks[i]` is sample i's rank (1 = best); equal ranks are a tie."""

    run_id: int
    ranks: tuple[int, ...]
    rater: str = ""
    created_at: str = ""

    def pairs(self) -> list[tuple[int, int]]:
        """(better sample, worse sample) for every pair with different ranks."""
        found = []
        for a, b in combinations(range(len(self.ranks)), 2):
            if self.ranks[a] < self.ranks[b]:
                found.append((a, b))
            elif self.ranks[b] < self.ranks[a]:
                found.append((b, a))
        return found

    def order(self) -> list[list[int]]:
        """Sample indexes best first, tied ones grouped."""
        return [[i for i, r in enumerate(self.ranks) if r == rank] for rank in sorted(set(self.ranks))]

    def order_text(self) -> str:
        """The CLI's syntax, 1-based: "3,1=2,4"."""
        return ",".join("=".join(str(i + 1) for i in group) for group in self.order())


def parse_order(text: str, samples: int) -> tuple[int, ...]:
    """`3,1,2,4` (sample numbers, best first; `1=2` ties them) -> the rank of each sample.

    InputError unless it names every sample exactly once."""
    if samples < 2:
        raise InputError(f"a ranking needs at least 2 samples; this run has {samples}")
    ranks: dict[int, int] = {}
    for position, group in enumerate(text.replace(" ", "").split(","), start=1):
        for item in group.split("="):
            if not item.isdigit() or not 1 <= int(item) <= samples:
                raise InputError(f"'{item}' in the order is not a sample number (1..{samples})")
            if int(item) - 1 in ranks:
                raise InputError(f"sample {item} appears twice in the order")
            ranks[int(item) - 1] = position
    missing = [str(i + 1) for i in range(samples) if i not in ranks]
    if missing:
        raise InputError(f"the order must rank every sample of the run: {', '.join(missing)} missing (of {samples})")
    return tuple(ranks[i] for i in range(samples))


def check_ranks(ranks: list[int] | tuple[int, ...], samples: int) -> tuple[int, ...]:
    """Ranks as the Playground sets them (1..K per sample, ties allowed), normalised to 1, 2, ... dense."""
    if samples < 2:
        raise InputError(f"a ranking needs at least 2 samples; this run has {samples}")
    if len(ranks) != samples or any(r < 1 for r in ranks):
        raise InputError(f"give every one of the {samples} samples a rank of 1 or more")
    dense = {rank: index for index, rank in enumerate(sorted(set(ranks)), start=1)}
    return tuple(dense[r] for r in ranks)


def preference_rows(run: dict[str, Any], ranking: Ranking) -> list[dict[str, Any]]:
    """One TRL-style row per ranked pair: {"prompt", "chosen", "rejected", ...metadata}."""
    texts = [s["text"] for s in run["samples"]]
    rows = []
    for better, worse in ranking.pairs():
        rows.append(
            {
                "prompt": run["prompt"],
                "chosen": texts[better],
                "rejected": texts[worse],
                "chosen_rank": ranking.ranks[better],
                "rejected_rank": ranking.ranks[worse],
                "model": run["model"],
                "settings": run["params"],
                "source": {"kind": "run", "run": run["id"], "samples": [better, worse]},
                "rater": ranking.rater,
                "ranked_at": ranking.created_at,
            }
        )
    return rows


def ranked_list_row(run: dict[str, Any], ranking: Ranking) -> dict[str, Any]:
    """The whole ordering of one prompt's samples (best first; `ranks` keeps ties)."""
    order = sorted(range(len(ranking.ranks)), key=lambda i: (ranking.ranks[i], i))
    return {
        "prompt": run["prompt"],
        "completions": [run["samples"][i]["text"] for i in order],
        "ranks": [ranking.ranks[i] for i in order],
        "model": run["model"],
        "settings": run["params"],
        "source": {"kind": "run", "run": run["id"], "samples": order},
        "rater": ranking.rater,
        "ranked_at": ranking.created_at,
    }


def load_rankings(store, run_id: int | None = None) -> list[tuple[dict[str, Any], Ranking]]:
    """(run, ranking) for every stored ranking (of one run when `run_id` is given; unknown id: StoreError)."""
    if run_id is not None:
        store.get_run(run_id)
    runs: dict[int, dict[str, Any]] = {}
    found = []
    for row in store.rankings(run_id):
        run = runs.setdefault(row["run_id"], store.get_run(row["run_id"]))
        found.append((run, Ranking(row["run_id"], tuple(row["ranks"]), row["rater"], row["created_at"])))
    return found


def export_rows(store, what: str, experiment: int | None = None, run: int | None = None) -> list[dict[str, Any]]:
    """`preferences`: every ranked pair (and an experiment's A/B ratings) as {"prompt", "chosen", "rejected"};
    `ranked`: one row per ranking with the whole order. No source given: everything in the database."""
    from workbench import experiments

    if experiment is not None and run is not None:
        raise InputError("export one source: --experiment or --run, not both")
    if what == "ranked":
        if experiment is not None:
            raise InputError("an experiment holds A/B ratings, not rankings: export it with --what preferences")
        return [ranked_list_row(r, k) for r, k in load_rankings(store, run)]
    if what != "preferences":
        raise InputError(f"preference exports are preferences or ranked (got {what!r})")
    if experiment is not None:
        return experiments.export_rows(store, experiment, "preferences")
    rows = [row for r, k in load_rankings(store, run) for row in preference_rows(r, k)]
    if run is None:
        for summary in store.list_experiments():
            rows += experiments.export_rows(store, summary["id"], "preferences")
    return rows
