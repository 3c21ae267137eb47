"""A pairwise model judge: for every case, template A's output against template B's, asked in both orders (A
first, then B first). A verdict counts only when both orders name the same output; the share of cases where
they disagree is the judge's position bias. Verdicts are kept as ratings by the rater "judge:MODEL" (never
counted as human preferences), so they can be calibrated against your own blind A/B ratings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.errors import InputError
from workbench.experiments.rescoring import judge_engines, judge_renderer
from workbench.scoring.agreement import agreement
from workbench.scoring.cells import DEFAULT_JUDGE
from workbench.scoring.checks import is_chinese
from workbench.scoring.judges import JUDGE_ALTERNATIVES, MARKUP, answer_start, inert, option_masses

JUDGE_RATER = "judge:"
TEMPLATES = {"en": "judge-pairwise-en", "zh": "judge-pairwise-zh"}
PRIMERS = {"en": "The better response is Response", "zh": "更好的回答是回答"}  # the next token is the letter


@dataclass(frozen=True)
class PairwiseReport:
    experiment_id: int
    a: str
    b: str
    judge: str
    cases: int
    consistent: int  # both orders named the same output
    position_bias: float | None  # share of cases where the two orders disagree
    a_wins: int
    b_wins: int
    judge_errors: int
    calibration: dict[str, Any]  # against your blind A/B ratings of the same two outputs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(store, experiment_id: int, a: str, b: str) -> list[tuple[dict, dict]]:
    """Per case, the first sample of template A and of template B (same config and model)."""
    runs = [r for r in store.experiment_runs(experiment_id, with_tokens=False) if not r["error"]]
    first = {(r["template"], r["case_id"], r["config_index"], r["model_index"]): r for r in reversed(runs)}
    pairs = []
    for (template, case, config, model), run in sorted(first.items(), key=lambda kv: kv[1]["id"]):
        if template == a and (b, case, config, model) in first:
            pairs.append((run, first[(b, case, config, model)]))
    if not pairs:
        raise InputError(f"experiment {experiment_id} has no case answered by both {a!r} and {b!r}")
    return pairs


def _read_choice(outcome) -> str | None:
    """'A' or 'B' from the first answer token's alternatives (their probabilities), None when unreadable."""
    if isinstance(outcome, Exception) or outcome is None:
        return None
    index = answer_start(outcome)
    if index is None or outcome.tokens[index].text.strip(MARKUP).upper() not in ("A", "B"):
        return None
    masses = option_masses(outcome.tokens[index], ("A", "B"))
    return max(masses, key=masses.get) if any(masses.values()) else None


def judge_pairs(
    store, experiment_id: int, a: str, b: str, criterion: str, judge: str | None = None, width: int | None = None
) -> PairwiseReport:
    pairs = _pairs(store, experiment_id, a, b)
    language = "zh" if is_chinese(criterion + "".join(x["output"] or "" for x, _ in pairs[:3])) else "en"
    engines = judge_engines(judge)
    try:
        backend = engines(DEFAULT_JUDGE if judge is None else judge)
        render = judge_renderer(store)
        requests = []
        for first, second in pairs:
            for left, right in ((first, second), (second, first)):
                variables = {"criterion": criterion, "a": inert(left["output"]), "b": inert(right["output"])}
                prompt = render(TEMPLATES[language], variables, backend) + PRIMERS[language]
                requests.append(
                    GenerationRequest(
                        prompt, SamplingParams(temperature=0.0, seed=0), 4, (), JUDGE_ALTERNATIVES, special=True
                    )
                )
        outcomes = backend.generate_many(requests, width)
        judge_name = backend.info.name
    finally:
        engines.close()
    return _record(store, experiment_id, a, b, judge_name, pairs, outcomes)


def _record(store, experiment_id, a, b, judge_name, pairs, outcomes) -> PairwiseReport:
    rater = JUDGE_RATER + judge_name
    consistent = a_wins = b_wins = errors = 0
    for index, (first, second) in enumerate(pairs):
        forward, backward = _read_choice(outcomes[2 * index]), _read_choice(outcomes[2 * index + 1])
        if forward is None or backward is None:
            errors += 1
            continue
        first_wins_forward, first_wins_backward = forward == "A", backward == "B"
        if first_wins_forward != first_wins_backward:
            store.add_rating(experiment_id, first["case_id"], first["id"], second["id"], "skip", rater)
            continue
        consistent += 1
        a_wins += first_wins_forward
        b_wins += not first_wins_forward
        choice = "left" if first_wins_forward else "right"
        store.add_rating(experiment_id, first["case_id"], first["id"], second["id"], choice, rater)
    judged = len(pairs) - errors
    bias = (judged - consistent) / judged if judged else None
    calibration = calibrate_pairwise(store, experiment_id, rater, a, b)
    return PairwiseReport(experiment_id, a, b, judge_name, len(pairs), consistent, bias, a_wins, b_wins, errors,
                          calibration)  # fmt: skip


def calibrate_pairwise(store, experiment_id: int, rater: str, a: str, b: str) -> dict[str, Any]:
    """The judge's latest verdict on each pair of template A's and B's outputs against your own latest A/B rating
    of the same two outputs: does the judge find A better where you do? Ties and skips (on either side, and a
    later skip replaces an earlier verdict) are left out."""
    templates = {r["id"]: r["template"] for r in store.experiment_runs(experiment_id, with_tokens=False)}
    judge: dict[frozenset, bool] = {}
    human: dict[frozenset, bool] = {}
    for rating in store.ratings(experiment_id):  # oldest first: the latest verdict on a pair wins
        left, right = rating["left_run_id"], rating["right_run_id"]
        if {templates.get(left), templates.get(right)} != {a, b}:
            continue
        if rating["rater"] == rater:
            side = judge
        elif rating["rater"].startswith(JUDGE_RATER):
            continue
        else:
            side = human
        key = frozenset((left, right))
        if rating["choice"] in ("left", "right"):
            winner = left if rating["choice"] == "left" else right
            side[key] = templates[winner] == a
        else:
            side.pop(key, None)
    shared = sorted(set(judge) & set(human), key=sorted)
    return agreement([(human[k], judge[k]) for k in shared], rater, unit="pair you rated").to_dict()
