"""The words and figures of a scoring's summary and of a calibration, one text for the CLI and the window."""

from __future__ import annotations


def summary_text(report: dict) -> str:
    lines = [f"experiment {report['experiment_id']} scored as {report['scoring']!r}"]
    if report.get("scorer_errors"):
        lines.append(f"{report['scorer_errors']} cell(s) could not be scored (see the cell's results)")
    for row in report["summary"]:
        if row["pass_rate"] is None:
            lines.append(f"{row['template']}: nothing scored ({row['scorer_errors']} scorer errors)")
            continue
        lines.append(
            f"{row['template']}: pass {row['pass_rate']:.0%} [{row['ci_low']:.0%}, {row['ci_high']:.0%}]  "
            f"mean score {row['mean_score']:.3f}  n={row['n']}"
        )
    return "\n".join(lines + pair_lines(report))


def pair_lines(report: dict) -> list[str]:
    """Each pair of templates: McNemar on pass/fail, the paired bootstrap interval and Wilcoxon on the score."""
    return [
        f"{pair['a']} vs {pair['b']}: McNemar p={pair['mcnemar_p']:.3g}; mean score difference "
        f"{pair['mean_difference']:+.3f} [{pair['difference_ci_low']:+.3f}, {pair['difference_ci_high']:+.3f}], "
        f"Wilcoxon p={pair['wilcoxon_p']:.3g}"
        for pair in report["pairwise"]
        if pair["mean_difference"] is not None
    ]


def result_line(result: dict) -> str:
    """One assertion's result in a cell: its score, pass, the metric's own figure and the reason or error."""
    if result["error"]:
        return f"{result['label']}: error: {result['error']}"
    mark = "✓" if result["passed"] else "✗"
    line = f"{result['label']}: {result['score']:.3f} {mark}"
    if result.get("judge", {}).get("grade_mean") is not None:
        line += f" (expected grade {result['judge']['grade_mean']:.2f} of 5)"
    elif result.get("judge"):
        line += f" (P(PASS) {result['score']:.1%})"
    return line + (f" — {result['reason']}" if result["reason"] else "")


def calibration_text(report: dict) -> str:
    c = report["confusion"]
    lines = [f"{report['scoring']} against your labels: {report['n']} cell(s) with both"]
    if report["n"]:
        kappa = "undefined" if report["kappa"] is None else f"{report['kappa']:.2f}"
        if report["kappa_low"] is not None:
            kappa += f" [{report['kappa_low']:.2f}, {report['kappa_high']:.2f}]"
        lines.append(f"agreement {report['agreement']:.0%}, Cohen's kappa {kappa}")
        lines += confusion_lines(c)
    lines.append(report["verdict"])
    return "\n".join(lines)


def confusion_lines(c: dict) -> list[str]:
    return [
        f"{'':<10}{'judge pass':>12}{'judge fail':>12}",
        f"{'you pass':<10}{c['you_pass_judge_pass']:>12}{c['you_pass_judge_fail']:>12}",
        f"{'you fail':<10}{c['you_fail_judge_pass']:>12}{c['you_fail_judge_fail']:>12}",
    ]


def pairwise_text(report: dict) -> str:
    bias = "—" if report["position_bias"] is None else f"{report['position_bias']:.0%}"
    lines = [
        f"{report['judge']} compared {report['a']} (A) with {report['b']} (B) on {report['cases']} case(s), "
        "each in both orders",
        f"A better: {report['a_wins']}, B better: {report['b_wins']}, the two orders disagreed on "
        f"{report['cases'] - report['consistent'] - report['judge_errors']} (position bias {bias}), "
        f"unreadable: {report['judge_errors']}",
    ]
    calibration = report["calibration"]
    lines.append(f"against your A/B ratings: {calibration['verdict']}")
    return "\n".join(lines)
