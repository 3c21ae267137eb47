"""Model judges (`llm-rubric`, `factuality`, `closed-qa`): the judge's prompt is a library template, the
judge any model the workbench can open, and the verdict is read from the judge's own probabilities: the
first answer token's alternatives give P(PASS) against P(FAIL), so a cell shows how sure the judge was. A
judge whose answer starts with neither is a judge error kept with its raw text, never a silent 0."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from workbench.engine.base import GenerationRequest, SamplingParams
from workbench.library.assertions import Assertion, AssertionResult
from workbench.scoring.checks import CellContext, CheckError

JUDGE_TEMPLATES = {
    ("llm-rubric", "en"): "judge-rubric-en",
    ("llm-rubric", "zh"): "judge-rubric-zh",
    ("factuality", "en"): "judge-factuality-en",
    ("factuality", "zh"): "judge-factuality-zh",
    ("closed-qa", "en"): "judge-closed-qa-en",
    ("closed-qa", "zh"): "judge-closed-qa-zh",
    ("llm-grade", "en"): "judge-grade-en",
    ("llm-grade", "zh"): "judge-grade-zh",
}
VERDICTS = {"pass": ("PASS", "通过"), "fail": ("FAIL", "不通过")}
JUDGE_MAX_TOKENS = 48
JUDGE_ALTERNATIVES = 20


@dataclass(frozen=True)
class JudgeCall:
    """One judgement to make: the judge template, its variables, and once the judge model is open the
    prompt rendered for it; `error` when the variables could not be made (no rubric, no reference)."""

    assertion: Assertion
    template: str
    variables: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    error: str = ""

    def request(self) -> GenerationRequest:
        return GenerationRequest(
            self.prompt,
            SamplingParams(temperature=0.0, seed=0),
            max_tokens=JUDGE_MAX_TOKENS,
            top_logprobs=JUDGE_ALTERNATIVES,
            special=True,
        )


CONTROL = re.compile(r"<(?=[|/]|[a-z_]+>|[a-z_]+_of_)", re.IGNORECASE)


def inert(text: str) -> str:
    """Text graded by a judge cannot speak as the judge: control-token spellings in it (`<|im_end|>`,
    `<end_of_turn>`, `</s>`) are broken with a zero-width space, since the judge's prompt is parsed for them."""
    return CONTROL.sub("<\u200b", text)


def judge_variables(assertion: Assertion, ctx: CellContext) -> dict[str, Any]:
    variables: dict[str, Any] = {"output": inert(ctx.output), "input": inert(_task(ctx))}
    if assertion.type in ("llm-rubric", "llm-grade"):
        if not isinstance(assertion.value, str) or not assertion.value.strip():
            raise CheckError("llm-rubric needs a rubric as its value")
        variables["rubric"] = assertion.value
    else:
        variables["reference"] = inert(str(assertion.value) if assertion.value else ctx.reference())
        variables["question"] = variables["input"]
    return variables


def _task(ctx: CellContext) -> str:
    """What the graded model was asked, as plain text: the case's question / input / text, else its prompt."""
    for key in ("question", "input", "text", "body"):
        if ctx.case.vars.get(key):
            return str(ctx.case.vars[key])
    return ctx.prompt


PRIMERS = {"en": "Verdict:", "zh": "判定:"}  # the judge's answer starts here, so its next token is the verdict
GRADE_PRIMERS = {"en": "Grade (1-5):", "zh": "评分(1-5):"}
GRADES = ("1", "2", "3", "4", "5")


def language_of(assertion: Assertion, ctx: CellContext) -> str:
    """The judge speaks the language of its instruction: the rubric, else the reference."""
    from workbench.scoring.checks import is_chinese

    if assertion.type in ("llm-rubric", "llm-grade"):
        return "zh" if is_chinese(str(assertion.value or "")) else "en"
    reference = str(assertion.value or ctx.case.vars.get("reference") or ctx.case.expected or "")
    return "zh" if is_chinese(reference) else "en"


MARKUP = "*:#()\"'“”`_ \t\n"


def _prefix_of(piece: str, words: tuple[str, ...]) -> bool:
    text = piece.strip(MARKUP).upper()
    return bool(text) and any(word.startswith(text) or text.startswith(word) for word in words)


def _says(text: str, words: tuple[str, ...]) -> bool:
    """The answer, from this token on, starts with one of the whole words (PASS, not "Fine")."""
    return any(text.strip(MARKUP).upper().startswith(word) for word in words)


def answer_start(outcome: Any) -> int | None:
    """Where a judge's answer starts: the first of its first 8 tokens that is not whitespace or markdown."""
    for index, step in enumerate(outcome.tokens[:8]):
        if step.text.strip(MARKUP):
            return index
    return None


def option_masses(step: Any, options: tuple[str, ...]) -> dict[str, float]:
    """The probability of each exact option (a grade digit, a letter) among the step's alternatives."""
    masses = dict.fromkeys(options, 0.0)
    for alternative in step.top:
        label = alternative.text.strip(MARKUP).upper()
        if label in masses:
            masses[label] += math.exp(alternative.logprob)
    return masses


def read_verdict(outcome: Any) -> tuple[float, dict[str, Any]]:
    """P(PASS) against P(FAIL) at the answer's first word: the token where the answer starts (leading spaces,
    line breaks and markdown skipped) must begin a whole verdict word, and every alternative there that begins
    one (" P", " PASS", "FA", ...; a tokenizer may split the word) adds to its side. Raises CheckError with the
    raw text when the answer does not start with a verdict."""
    text, tokens = outcome.text, outcome.tokens
    both = VERDICTS["pass"] + VERDICTS["fail"]
    index = answer_start(outcome)
    if index is None or not (
        _prefix_of(tokens[index].text, both) and _says("".join(t.text for t in tokens[index:]), both)
    ):
        raise CheckError(f"judge error: the judge's answer does not start with PASS or FAIL: {text[:200]!r}")
    step = tokens[index]
    if not step.top:
        raise CheckError(f"judge error: the judge gave no token alternatives to read its verdict from: {text[:200]!r}")
    alternatives = [(t.text, t.logprob) for t in step.top]
    p_pass = sum(math.exp(lp) for piece, lp in alternatives if _prefix_of(piece, VERDICTS["pass"]))
    p_fail = sum(math.exp(lp) for piece, lp in alternatives if _prefix_of(piece, VERDICTS["fail"]))
    reading = {
        "raw": text,
        "token_index": index,
        "p_pass_mass": p_pass,
        "p_fail_mass": p_fail,
        "alternatives": alternatives[:10],
    }
    return p_pass / (p_pass + p_fail), reading


def read_grade(outcome: Any) -> tuple[float, dict[str, Any]]:
    """The judge's 1-5 grade as the probability-weighted mean over the digits 1-5 of its first answer token
    (leading spaces skipped), scaled to 0..1 ((mean - 1) / 4). CheckError with the raw text when unreadable."""
    index = answer_start(outcome)
    step = outcome.tokens[index] if index is not None else None
    masses = option_masses(step, GRADES) if step is not None else {}
    total = sum(masses.values())
    if step is None or step.text.strip(MARKUP) not in masses or total == 0:
        raise CheckError(f"judge error: the judge's answer does not start with a grade 1-5: {outcome.text[:200]!r}")
    mean = sum(int(g) * m for g, m in masses.items()) / total
    reading = {
        "raw": outcome.text,
        "token_index": index,
        "grade_mean": mean,
        "grade_masses": masses,
        "alternatives": [(t.text, t.logprob) for t in step.top][:10],
    }
    return (mean - 1) / 4, reading


def judged_result(call: JudgeCall, outcome: Any) -> AssertionResult:
    """The verdict of a finished judge call (or the error it met)."""
    assertion = call.assertion
    if isinstance(outcome, Exception):
        raise CheckError(f"judge error: {outcome}")
    p_pass, reading = read_grade(outcome) if assertion.type == "llm-grade" else read_verdict(outcome)
    threshold = assertion.effective_threshold()
    reason = outcome.text.strip().split("\n", 1)[-1].strip() if "\n" in outcome.text.strip() else outcome.text.strip()
    judge = {"template": call.template, "prompt": call.prompt, **reading}
    return AssertionResult(
        assertion.label,
        assertion.type,
        p_pass,
        p_pass >= threshold,
        p_pass,
        reason[:500],
        weight=assertion.weight,
        judge=judge,
    )
