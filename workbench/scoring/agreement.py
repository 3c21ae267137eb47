"""Can the judge stand in for you? An automatic scorer's pass/fail against your own labels on the same cells:
raw agreement, Cohen's kappa with a 95% interval (the large-sample standard error of Fleiss, Cohen and
Everitt 1969), the confusion table, and one line that says what the numbers allow."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

Z95 = 1.959963984540054
MIN_LABELS = 10
TRUST_KAPPA = 0.6  # Landis & Koch's "substantial" agreement: the lower bound has to reach it


@dataclass(frozen=True)
class Agreement:
    n: int
    agreement: float | None
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    confusion: dict[str, int]  # you_pass_judge_pass, you_pass_judge_fail, you_fail_judge_pass, you_fail_judge_fail
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> tuple[float | None, float | None]:
    """Kappa and its standard error for two raters' binary verdicts; (None, None) when undefined (every
    verdict the same on both sides: chance agreement is 1)."""
    n = len(pairs)
    if n == 0:
        return None, None
    table = [[0, 0], [0, 0]]
    for human, judge in pairs:
        table[int(not human)][int(not judge)] += 1
    p = [[cell / n for cell in row] for row in table]
    rows = [sum(row) for row in p]
    cols = [p[0][j] + p[1][j] for j in range(2)]
    observed = p[0][0] + p[1][1]
    expected = rows[0] * cols[0] + rows[1] * cols[1]
    if math.isclose(expected, 1.0):
        return None, None
    kappa = (observed - expected) / (1 - expected)
    if 0.0 in rows or 0.0 in cols:  # one side gave one verdict to every cell: no spread to estimate from
        return kappa, None
    inner = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(2))
    inner += (1 - kappa) ** 2 * sum(p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j)
    inner -= (kappa - expected * (1 - kappa)) ** 2
    se = math.sqrt(max(inner, 0.0) / n) / (1 - expected)
    return kappa, se if se > 0 else None  # a zero spread (perfect agreement) is no interval: the Wald one breaks


def agreement(pairs: list[tuple[bool, bool]], judge: str = "the judge", unit: str = "labelled cell") -> Agreement:
    """`pairs`: (your label, the scorer's verdict) per cell both have."""
    n = len(pairs)
    confusion = {
        "you_pass_judge_pass": sum(h and j for h, j in pairs),
        "you_pass_judge_fail": sum(h and not j for h, j in pairs),
        "you_fail_judge_pass": sum(j and not h for h, j in pairs),
        "you_fail_judge_fail": sum(not h and not j for h, j in pairs),
    }
    agreed = (confusion["you_pass_judge_pass"] + confusion["you_fail_judge_fail"]) / n if n else None
    kappa, se = cohen_kappa(pairs)
    low = high = None
    if kappa is not None and se is not None:
        low, high = max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se)
    return Agreement(n, agreed, kappa, low, high, confusion, _verdict(n, agreed, kappa, low, judge, unit))


def _verdict(n: int, agreed: float | None, kappa: float | None, low: float | None, judge: str, unit: str) -> str:
    if n < MIN_LABELS:
        return f"too few labels to tell: {n} {unit}(s) with a verdict from {judge}, {MIN_LABELS} needed"
    if kappa is None:
        return f"kappa is undefined: you and {judge} each gave one verdict to every cell; label varied cases"
    if low is None and kappa >= 1.0:
        return (
            f"{judge} agreed with you on all {n}, but with no spread there is no interval to trust: label more "
            "cells, with several of each verdict"
        )
    if low is None:
        return (
            f"{judge} cannot stand in for you on this data: one side gave the same verdict to every cell, so it "
            f"tells nothing apart (kappa {kappa:.2f}, agreement {agreed:.0%} is chance)"
        )
    if low is not None and low >= TRUST_KAPPA:
        return f"{judge} can stand in for you on this data: kappa {kappa:.2f}, 95% interval from {low:.2f}"
    if kappa >= TRUST_KAPPA:
        return (
            f"promising but unproven: kappa {kappa:.2f}, yet the 95% interval reaches down to {low:.2f}; "
            "label more cells"
        )
    return f"{judge} cannot stand in for you on this data: kappa {kappa:.2f} (agreement {agreed:.0%})"
