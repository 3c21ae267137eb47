"""Reading an answer out of an output and scoring it against a case's expected answer.

Scorers: exact, contains, regex, choice (which option the output names first), number
(the final number), label_likelihood (the option the model finds most probable as a
continuation, computed by the engine, no sampling). A template's verbalizer maps the
dataset's labels to the words it asks for (positive -> "A" / " great" / "好"), so one
labelled dataset scores every prompting style.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from workbench.errors import TemplateError
from workbench.library.datasets import Case
from workbench.library.templates import AnswerRule

SCORER_NAMES = ("exact", "contains", "regex", "choice", "number", "label_likelihood")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TRAILING = " \t\n.。!!??,,;;:::\"'“”‘’)）"


@dataclass(frozen=True)
class Scored:
    answer: str | None  # what was read from the output (a label for choice scorers)
    score: float | None  # 0..1; None when the case has nothing to compare with


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip(_TRAILING).casefold()


def rule_for(template_rule: AnswerRule | None, case: Case, override: str | None = None) -> AnswerRule:
    """The template's rule, the CLI's --scorer over it, or a sensible default for the case."""
    rule = template_rule or AnswerRule(default_scorer(case))
    if override:
        rule = AnswerRule(override, rule.pattern, rule.verbalizer)
    return rule.validate()


def default_scorer(case: Case) -> str:
    if case.choices:
        return "choice"
    if case.expected is not None and NUMBER.fullmatch(normalize(case.expected)):
        return "number"
    return "exact"


def verbalized(rule: AnswerRule, label: str) -> str:
    return rule.verbalizer.get(label, label)


def score_output(output: str, case: Case, rule: AnswerRule) -> Scored:
    """Score a generated output (every scorer but label_likelihood, which needs the model)."""
    if rule.scorer == "choice":
        answer = first_choice(output, case, rule)
    elif rule.scorer == "number":
        answer = final_number(output)
    elif rule.scorer == "regex":
        answer = regex_answer(output, rule.pattern)
    elif rule.scorer == "label_likelihood":
        raise TemplateError("label_likelihood is scored by the model, not from an output")
    else:
        answer = output.strip()
    return Scored(answer, compare(answer, case, rule))


def compare(answer: str | None, case: Case, rule: AnswerRule) -> float | None:
    if case.expected is None:
        return None
    if answer is None:
        return 0.0
    if rule.scorer in ("choice", "label_likelihood"):
        return float(answer == case.expected)
    if rule.scorer == "number":
        return float(_same_number(answer, case.expected))
    expected = normalize(verbalized(rule, case.expected))
    if rule.scorer == "contains":
        return float(expected in normalize(answer))
    return float(normalize(answer) == expected)


def _same_number(answer: str, expected: str) -> bool:
    try:
        return abs(float(answer) - float(normalize(expected).replace(",", ""))) < 1e-9
    except ValueError:
        return False


def final_number(output: str) -> str | None:
    """The last number in the text (NFKC: fullwidth digits count; thousands separators dropped)."""
    text = unicodedata.normalize("NFKC", output)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    found = NUMBER.findall(text)
    if not found:
        return None
    value = found[-1]
    return value[:-2] if value.endswith(".0") else value


def regex_answer(output: str, pattern: str) -> str | None:
    try:
        match = re.search(pattern, output)
    except re.error as err:
        raise TemplateError(f"answer pattern {pattern!r} is not a valid regular expression: {err}") from None
    if not match:
        return None
    return (match.group(1) if match.groups() else match.group(0)).strip()


def _word_pattern(word: str) -> re.Pattern[str]:
    word = word.strip()
    escaped = re.escape(word)
    if word.isascii() and word[:1].isalnum():  # "A" must not match inside "Answer"
        return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])", re.IGNORECASE if len(word) > 1 else 0)
    return re.compile(escaped)


def first_choice(output: str, case: Case, rule: AnswerRule) -> str | None:
    """The label whose (verbalized) word appears first in the output."""
    if not case.choices:
        return None
    best: tuple[int, str] | None = None
    for label in case.choices:
        word = verbalized(rule, label)
        if not word.strip():
            continue
        match = _word_pattern(word).search(output)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), label)
    return best[1] if best else None


def majority(answers: list[str | None]) -> str | None:
    """Self-consistency: the most common answer across samples (ties: the one seen first)."""
    counted = Counter(a for a in answers if a is not None)
    if not counted:
        return None
    top = max(counted.values())
    return next(a for a in answers if a is not None and counted[a] == top)


def agreement(answers: list[str | None]) -> float:
    """Share of samples that gave the majority answer."""
    winner = majority(answers)
    return sum(a == winner for a in answers) / len(answers) if answers and winner is not None else 0.0


def is_correct(score: float | None) -> bool | None:
    """The one correctness rule: a score of 1 is right, anything lower wrong; None: nothing to compare with."""
    return None if score is None else score >= 1.0
