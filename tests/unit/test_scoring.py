"""Scorers on hand-made outputs; statistics against known values."""

from __future__ import annotations

import pytest

from workbench.errors import TemplateError
from workbench.experiments.stats import mcnemar_exact, paired_test, wilson, win_rate
from workbench.library.datasets import Case
from workbench.library.templates import AnswerRule
from workbench.scoring.answers import agreement, final_number, first_choice, majority, rule_for, score_output

LABELS = ("positive", "neutral", "negative")
SENTIMENT = Case("1", {"text": "x"}, "positive", LABELS)


def test_choice_reads_the_first_named_option_through_the_verbalizer():
    letters = AnswerRule("choice", verbalizer={"positive": "A", "neutral": "B", "negative": "C"})
    assert score_output(" A. The sentence is positive", SENTIMENT, letters).answer == "positive"
    assert score_output(" Answer: C", SENTIMENT, letters).answer == "negative"  # the A in "Answer" is no option
    assert score_output(" (B) neutral", SENTIMENT, letters).score == 0.0
    words = AnswerRule("choice")
    assert score_output(" Negative, then positive", SENTIMENT, words).answer == "negative"
    chinese = AnswerRule("choice", verbalizer={"positive": "正面", "neutral": "中性", "negative": "负面"})
    assert score_output("这句话是正面的。", SENTIMENT, chinese).score == 1.0
    assert first_choice("nothing here", SENTIMENT, words) is None
    assert score_output("nothing here", SENTIMENT, words).score == 0.0


def test_number_takes_the_final_number():
    case = Case("1", {"question": "q"}, "1234")
    rule = AnswerRule("number")
    assert score_output("First 10 + 20 = 30, so the answer is 1,234.", case, rule).score == 1.0
    assert final_number("答案是１２３４。") == "1234"  # fullwidth digits
    assert final_number("It is -3.5 or 7.0") == "7"
    assert final_number("no digits") is None
    assert score_output("no digits", case, rule).score == 0.0


def test_exact_contains_and_regex():
    case = Case("1", {"text": "x"}, "猫")
    assert score_output(" 猫。", case, AnswerRule("exact")).score == 1.0
    assert score_output("猫在沙发上睡觉。", case, AnswerRule("contains")).score == 1.0
    assert score_output("狗在睡觉。", case, AnswerRule("contains")).score == 0.0
    regex = AnswerRule("regex", pattern=r"answer is (\w+)")
    assert score_output("so the answer is 猫 today", case, regex).answer == "猫"
    with pytest.raises(TemplateError, match="not a valid regular expression"):
        rule_for(None, case, None).__class__("regex", "(bad").validate()


def test_default_rules_and_unscored_cases():
    assert rule_for(None, SENTIMENT).scorer == "choice"
    assert rule_for(None, Case("1", {"q": "x"}, "42")).scorer == "number"
    assert rule_for(None, Case("1", {"q": "x"}, "cat")).scorer == "exact"
    assert rule_for(AnswerRule("choice"), SENTIMENT, "exact").scorer == "exact"
    assert score_output("anything", Case("1", {"q": "x"}), AnswerRule("exact")).score is None


def test_majority_vote_and_agreement():
    assert majority(["4", "5", "4", None]) == "4"
    assert majority(["5", "4"]) == "5"  # a tie goes to the first seen
    assert majority([None, None]) is None
    assert agreement(["4", "5", "4", "4"]) == 0.75


def test_wilson_interval_known_values():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson(0, 20)
    assert low == 0.0 and high == pytest.approx(0.1611, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_exact_mcnemar_known_values():
    assert mcnemar_exact(10, 2) == pytest.approx(158 / 4096)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    test = paired_test({"a": True, "b": True, "c": False}, {"a": False, "b": True, "c": False, "d": True})
    assert (test.n, test.a_only, test.b_only, test.significant) == (3, 1, 0, False)


def test_win_rate_counts_ties_half():
    assert win_rate(3, 2, 5) == 0.4
    assert win_rate(0, 0, 0) is None


def _sample(answer, score, expected="positive", error=None):
    return {
        "answer": answer,
        "score": score,
        "expected": expected,
        "case_id": "c1",
        "vars": {},
        "choices": ["positive", "negative"],
        "scorer": {"scorer": "choice"},
        "error": error,
    }


def test_cell_verdict_uses_the_majority_rule_of_the_accuracy():
    from workbench.experiments.report import cell_verdict

    # one right answer and two without an answer: the mean score is 1/3, but "no answer" does not vote,
    # so the majority answer is right, as the accuracy and the paired tests count it
    verdict = cell_verdict([_sample(None, 0.0), _sample("positive", 1.0), _sample(None, 0.0)])
    assert (verdict.answer, verdict.correct, verdict.votes, verdict.samples) == ("positive", True, 1, 3)
    tie = cell_verdict([_sample("negative", 0.0), _sample("positive", 1.0)])
    assert (tie.answer, tie.correct) == ("negative", False)  # ties: the answer seen first
    assert cell_verdict([_sample("x", None, expected=None)]).correct is None


def test_row_filters():
    from workbench.experiments.report import case_row_shown

    right, wrong = [_sample("positive", 1.0)], [_sample("negative", 0.0)]
    assert not case_row_shown([right, right], only_failures=True, only_disagreements=False)
    assert case_row_shown([right, wrong], only_failures=True, only_disagreements=False)
    assert not case_row_shown([wrong, wrong], only_failures=False, only_disagreements=True)
    assert case_row_shown([right, wrong], only_failures=False, only_disagreements=True)
