"""Assertions: each check against its maintained implementation, every bad input named in the judging issue
as one clear error result, and the cell's combined score."""

from __future__ import annotations

import math
import random
import time

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from workbench.errors import InputError
from workbench.experiments.stats import paired_scores
from workbench.library.datasets import Case
from workbench.scoring import Assertion, AssertionSet, CellContext, ScoringJob, check_one, score_cells
from workbench.scoring.agreement import agreement, cohen_kappa
from workbench.scoring.judges import JudgeCall, judged_result

CORPUS = [
    ("The cat is sleeping on the sofa.", "The cat sleeps on the couch."),
    ("It will rain tomorrow afternoon.", "Tomorrow afternoon it is going to rain."),
    ("Please close the window before you leave.", "Close the window please, before leaving."),
]
CHINESE = [
    ("猫在沙发上睡觉。", "猫正在沙发上睡觉。"),
    ("明天下午会下雨。", "明天下午将要下雨。"),
    ("离开前请关上窗户。", "请在离开之前关窗。"),
]


def ctx(output: str, reference: str | None = None, **extra) -> CellContext:
    variables = {"reference": reference} if reference is not None else {}
    return CellContext(output, Case("c1", variables, extra.pop("expected", None)), **extra)


def run(kind: str, output: str, value=None, reference: str | None = None, **extra):
    data = {"type": kind, **({"value": value} if value is not None else {}), **extra.pop("assertion", {})}
    return check_one(Assertion.from_dict(data), ctx(output, reference, **extra))


@pytest.mark.parametrize(("reference", "hypothesis"), CORPUS + CHINESE)
def test_bleu_chrf_ter_equal_sacrebleu(reference, hypothesis):
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in reference)
    bleu = sacrebleu.sentence_bleu(hypothesis, [reference], tokenize="zh" if chinese else "13a").score
    chrf = sacrebleu.sentence_chrf(hypothesis, [reference]).score
    ter = sacrebleu.sentence_ter(hypothesis, [reference], normalized=chinese, asian_support=chinese).score
    assert run("bleu", hypothesis, reference=reference).value == bleu
    assert run("bleu", hypothesis, reference=reference).score == pytest.approx(bleu / 100)
    assert run("chrf", hypothesis, reference=reference).value == chrf
    assert run("chrf", hypothesis, reference=reference).score == pytest.approx(chrf / 100)
    assert run("ter", hypothesis, reference=reference).value == ter
    assert run("ter", hypothesis, reference=reference).score == pytest.approx(max(0.0, 1 - ter / 100))
    assert chrf > 0 and ter > 0
    if chinese:
        assert ter < 100  # Chinese TER counts characters, not one whole-sentence "word"


def test_rouge_equals_rouge_score_and_reads_chinese_by_character():
    reference, hypothesis = CORPUS[0]
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(reference, hypothesis)["rougeL"].fmeasure
    assert run("rouge-l", hypothesis, reference=reference).score == pytest.approx(expected)
    chinese = run("rouge-1", "猫在睡觉", reference="猫在沙发上睡觉")
    assert chinese.score == pytest.approx(2 * (4 / 4) * (4 / 7) / (1 + 4 / 7))  # 4 shared characters


def test_a_metric_without_a_reference_names_the_case_and_the_column():
    result = run("chrf", "some text")
    assert result.score is None and result.passed is None
    assert result.error == "case 'c1' has no `reference` (nor `expected`) to compare with"


def test_text_checks_and_their_negations():
    assert run("contains", "the cat sat", "cat").passed is True
    assert run("not-contains", "the cat sat", "cat").passed is False
    assert run("icontains", "The CAT sat", "cat").passed is True
    assert run("contains-any", "a dog", ["cat", "dog"]).passed is True
    assert run("contains-all", "a dog", ["cat", "dog"]).reason == "missing ['cat']"
    assert run("starts-with", "  Yes, sure", "Yes").passed is True
    assert run("equals", " 42 ", "42").passed is True
    assert run("regex", "order 1234", r"\d{4}").reason == "matched '1234'"


def test_json_checks_use_jsonschema():
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    assert run("is-json", '{"a": 1}').passed is True
    assert run("is-json", "{a: 1}").passed is False
    assert run("contains-json", 'Sure: {"name": "x"} done', schema).passed is True
    failed = run("json-schema", '{"name": 3}', schema)
    assert failed.passed is False and failed.reason == "name: 3 is not of type 'string'"


def test_an_invalid_json_schema_is_a_clear_error():
    with pytest.raises(InputError, match="assertion: invalid JSON schema: 'no-such-type' is not valid"):
        Assertion.from_dict({"type": "json-schema", "value": {"type": "no-such-type"}})
    result = run("json-schema", '{"name": 3}', '{"type": "no-such-type"}')  # a schema given as JSON text
    assert result.error.startswith("invalid JSON schema: 'no-such-type' is not valid")


def test_a_catastrophic_regex_is_stopped_as_an_error():
    started = time.monotonic()
    result = run("regex", "a" * 60 + "b", r"(a|aa)+$")
    assert time.monotonic() - started < 5
    assert result.error == "pattern '(a|aa)+$' ran longer than 1 s and was stopped"


def test_levenshtein_equals_rapidfuzz():
    from rapidfuzz.distance import Levenshtein

    result = run("levenshtein", "kitten", "sitting", assertion={"threshold": 2})
    assert result.value == Levenshtein.distance("kitten", "sitting") == 3 and result.passed is False
    assert result.score == pytest.approx(Levenshtein.normalized_similarity("kitten", "sitting"))


def test_latency_length_finish_reason_and_perplexity():
    assert run("latency", "x", 500, latency_ms=420.0).passed is True
    assert run("length", "abcdef", {"max": 5}).reason == "6 chars (allowed 0..5)"
    assert run("length", "x", {"max": 3, "unit": "tokens"}, completion_tokens=3).passed is True
    assert run("finish-reason", "x", "stop", finish_reason="length").passed is False
    assert run("length", "x", {"max": "ten"}).error == "length: min and max are numbers (got {'max': 'ten'})"
    parsed = AssertionSet.parse_names("length:200,contains:007")
    assert [a.value for a in parsed.assertions] == [200, "007"]
    result = run("perplexity", "x", token_logprobs=(-1.0, -3.0))
    assert result.value == pytest.approx(math.exp(2.0)) and result.score == pytest.approx(math.exp(-2.0))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("def get_assert(output, context):\n    raise ValueError('bad scorer')", "failed: ValueError: bad scorer"),
        ("import time\ndef get_assert(output, context):\n    time.sleep(60)", "ran longer than"),
        ("def get_assert(output, context):\n    print('garbage' * 10)\n    return 'maybe'", "returned 'maybe'"),
        ("import os\ndef get_assert(output, context):\n    os._exit(3)", "failed: exit status 3"),
        ("def get_assert(output, context):\n    return 7", "returned 7"),
    ],
)
def test_a_python_scorer_that_misbehaves_is_an_error(tmp_path, monkeypatch, body, error):
    from workbench.scoring import code

    monkeypatch.setattr(code, "TIME_LIMIT_S", 2.0)
    scorer = tmp_path / "scorer.py"
    scorer.write_text(body)
    result = run("python", "output", f"file://{scorer}")
    assert result.score is None and error in result.error


def test_a_python_scorer_returns_a_verdict_and_never_runs_from_data_unless_allowed(tmp_path):
    scorer = tmp_path / "scorer.py"
    scorer.write_text(
        "def check(output, context):\n    return {'pass': 'cat' in output, 'score': 0.75, 'reason': context['case_id']}"
    )
    result = run("python", "a cat", f"file://{scorer}:check")
    assert (result.passed, result.score, result.reason) == (True, 0.75, "c1")
    assertion = Assertion.from_dict({"type": "python", "value": f"file://{scorer}:check"})
    refused = check_one(assertion, ctx("a cat"), allow_code=False)
    assert refused.error.startswith("python assertions from a dataset or an imported suite run only with --allow-code")


def test_bad_assertions_are_refused_with_the_reason():
    with pytest.raises(InputError, match="unknown assertion type 'javascript'"):
        Assertion.from_dict({"type": "javascript", "value": "output.length > 3"})
    with pytest.raises(InputError, match=r"unknown key\(s\) valu"):
        Assertion.from_dict({"type": "contains", "valu": "x"})
    with pytest.raises(
        InputError, match="a remote: reference in an assertion could send outputs and your key anywhere"
    ):
        Assertion.from_dict(
            {"type": "llm-rubric", "value": "x", "provider": 'remote:{"base_url": "https://e.example"}'}
        )
    with pytest.raises(InputError, match="weight must be a number >= 0"):
        Assertion.from_dict({"type": "contains", "value": "x", "weight": -1})


def test_a_cell_score_is_the_weighted_mean_and_an_error_is_never_a_zero():
    sets = AssertionSet.from_list(
        [{"type": "contains", "value": "cat", "weight": 3}, {"type": "contains", "value": "dog", "weight": 1}]
    )
    (scored,) = score_cells(ScoringJob([ctx("a cat")], [sets]))
    assert scored.score == pytest.approx(0.75) and scored.passed is False
    (lenient,) = score_cells(ScoringJob([ctx("a cat")], [AssertionSet(sets.assertions, threshold=0.7)]))
    assert lenient.passed is True
    broken = AssertionSet.from_list([{"type": "contains", "value": "cat"}, {"type": "chrf"}])
    (unscored,) = score_cells(ScoringJob([ctx("a cat")], [broken]))
    assert unscored.score is None and unscored.passed is None and "chrf: case 'c1'" in unscored.error


def test_assertion_values_read_the_case_variables():
    case = CellContext("猫在睡觉", Case("t1", {"reference": "猫在沙发上睡觉"}, "猫"))
    assert check_one(Assertion.from_dict({"type": "contains", "value": "{{ expected }}"}), case).passed is True
    missing = check_one(Assertion.from_dict({"type": "contains", "value": "{{ term }}"}), case)
    assert missing.error == "the assertion's value uses {{ term }}, which case 't1' does not have"


def test_scorer_names_from_the_command_line():
    parsed = AssertionSet.parse_names('chrf,contains:猫,"llm-rubric:is polite, and short"')
    assert [(a.type, a.value) for a in parsed.assertions] == [
        ("chrf", None),
        ("contains", "猫"),
        ("llm-rubric", "is polite, and short"),
    ]


class Step:
    def __init__(self, text, top):
        self.text, self.top = text, [Top(t, lp) for t, lp in top]


class Top:
    def __init__(self, text, logprob):
        self.text, self.logprob = text, logprob


class Outcome:
    def __init__(self, text, steps):
        self.text, self.tokens = text, steps


def test_a_judge_verdict_is_read_from_its_probabilities():
    call = JudgeCall(Assertion.from_dict({"type": "llm-rubric", "value": "polite"}), "judge-rubric-en", prompt="p")
    steps = [Step(" FA", [(" FA", math.log(0.6)), (" P", math.log(0.2)), ("\n", -3)]), Step("IL\nrude", [])]
    outcome = Outcome(" FAIL\nrude", steps)
    result = judged_result(call, outcome)
    assert result.score == pytest.approx(0.25) and result.passed is False and result.reason == "rude"
    assert result.judge["p_pass_mass"] == pytest.approx(0.2)


def test_a_judge_answer_that_cannot_be_read_is_a_judge_error_with_its_raw_text():
    call = JudgeCall(Assertion.from_dict({"type": "llm-rubric", "value": "polite"}), "judge-rubric-en", prompt="p")
    outcome = Outcome("Maybe it is fine", [Step("Maybe", [("Maybe", -0.1), (" PASS", -4.0)])])
    from workbench.scoring.checks import CheckError

    with pytest.raises(CheckError, match="judge error: the judge's answer does not start with PASS or FAIL: 'Maybe"):
        judged_result(call, outcome)


def test_kappa_matches_the_hand_computation_and_its_interval_the_bootstrap():
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    kappa, se = cohen_kappa(pairs)
    assert kappa == pytest.approx(0.4)  # observed 0.7, chance 0.5*0.6 + 0.5*0.4 = 0.5
    rng = random.Random(1)
    draws = [cohen_kappa([rng.choice(pairs) for _ in pairs])[0] for _ in range(3000)]
    mean = sum(draws) / len(draws)
    spread = math.sqrt(sum((d - mean) ** 2 for d in draws) / len(draws))
    assert se == pytest.approx(spread, rel=0.15)
    report = agreement(pairs, "chrf")
    assert report.agreement == pytest.approx(0.7) and report.kappa_low < 0.4 < report.kappa_high
    assert report.confusion == {
        "you_pass_judge_pass": 20,
        "you_pass_judge_fail": 5,
        "you_fail_judge_pass": 10,
        "you_fail_judge_fail": 15,
    }
    assert report.verdict == "chrf cannot stand in for you on this data: kappa 0.40 (agreement 70%)"
    assert agreement(pairs[:4], "chrf").verdict.startswith("too few labels to tell: 4 labelled cell(s)")
    assert agreement([(True, True)] * 12, "chrf").kappa is None
    perfect = agreement([(True, True)] * 9 + [(False, False)], "chrf")
    assert perfect.kappa == 1.0 and perfect.kappa_low is None and "no interval to trust" in perfect.verdict


def test_paired_scores_bootstrap_and_wilcoxon():
    from scipy.stats import wilcoxon

    a = {f"c{i}": 0.5 + 0.03 * i for i in range(12)}
    b = {f"c{i}": 0.4 + 0.02 * i for i in range(12)}
    result = paired_scores(a, b)
    differences = [a[c] - b[c] for c in sorted(a)]
    assert result.n == 12 and result.mean_difference == pytest.approx(sum(differences) / 12)
    assert result.low <= result.mean_difference <= result.high
    assert result.p_value == pytest.approx(wilcoxon(differences).pvalue)


def test_a_grade_is_the_probability_weighted_mean_of_the_first_digit():
    from workbench.scoring.judges import read_grade

    steps = [Step(" ", [(" ", -0.1)]), Step("4", [("4", math.log(0.5)), ("5", math.log(0.25)), ("2", math.log(0.25))])]
    score, reading = read_grade(Outcome(" 4\nclear", steps))
    assert reading["grade_mean"] == pytest.approx(3.75) and score == pytest.approx(0.6875)
    assert reading["token_index"] == 1
    from workbench.scoring.checks import CheckError

    with pytest.raises(CheckError, match="does not start with a grade 1-5"):
        read_grade(Outcome("Good", [Step("Good", [("Good", -0.1), ("4", -3.0)])]))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            "import sys\ndef get_assert(output, context):\n    sys.stdout.write('x' * 4_000_000)",
            "wrote more than 1024 KiB",
        ),
        (
            "import sys\nprint('1')\nsys.exit(0)\ndef get_assert(output, context):\n    return 1",
            "without returning a result",
        ),
        ("import os\ndef get_assert(output, context):\n    os.write(1, b'\\xff\\xfe')\n    return 2", "returned 2"),
        ("def get_assert(output, context):\n    return {'pass': 'false'}", "pass must be true or false"),
    ],
)
def test_a_python_scorer_cannot_flood_fake_or_half_answer(tmp_path, body, error):
    scorer = tmp_path / "scorer.py"
    scorer.write_text(body)
    result = run("python", "output", f"file://{scorer}")
    assert result.score is None and error in result.error, result.error


def test_a_python_scorers_children_die_with_it(tmp_path, monkeypatch):
    from workbench.scoring import code

    monkeypatch.setattr(code, "TIME_LIMIT_S", 2.0)
    marker = tmp_path / "alive"
    scorer = tmp_path / "scorer.py"
    child = tmp_path / "child.py"
    child.write_text(f"import time\ntime.sleep(4)\nopen({str(marker)!r}, 'w').close()\n")
    scorer.write_text(
        "import subprocess, sys, time\ndef get_assert(output, context):\n"
        f"    subprocess.Popen([sys.executable, {str(child)!r}])\n"
        "    time.sleep(60)\n"
    )
    assert "ran longer than" in run("python", "x", f"file://{scorer}").error
    time.sleep(5)
    assert not marker.exists()


def test_checks_that_cannot_be_made_are_errors_not_crashes():
    unresolved = run("json-schema", '{"a": 1}', '{"$ref": "#/definitions/nope"}')
    assert unresolved.error.startswith("the JSON schema has a $ref that cannot be resolved")
    assert run("json-schema", '{"a": 1}', "5").error == "a JSON schema is an object (got 5)"
    deep = run("is-json", "[" * 5000 + "]" * 5000)
    assert deep.score is None and deep.error.startswith("the check could not be made on this output (RecursionError")


def test_a_verdict_needs_a_whole_verdict_word_on_the_answers_path():
    call = JudgeCall(Assertion.from_dict({"type": "llm-rubric", "value": "polite"}), "judge-rubric-en", prompt="p")
    from workbench.scoring.checks import CheckError

    fine = Outcome(
        " Fine, it is polite",
        [Step(" F", [(" F", math.log(0.6)), (" PASS", math.log(0.3))]), Step("ine", [("ine", -0.1)])],
    )
    with pytest.raises(CheckError, match="does not start with PASS or FAIL"):
        judged_result(call, fine)
    chinese = Outcome("不错", [Step("不", [("不", -0.2), ("通过", -2.0)]), Step("错", [("错", -0.1)])])
    with pytest.raises(CheckError, match="does not start with PASS or FAIL"):
        judged_result(call, chinese)
    bold = Outcome(
        " **PASS** ok",
        [
            Step(" **", [(" **", -0.1)]),
            Step("PASS", [("PASS", math.log(0.8)), ("FAIL", math.log(0.2))]),
            Step("**", [("**", -0.1)]),
        ],
    )
    assert judged_result(call, bold).score == pytest.approx(0.8)
    split = Outcome(" FAIL", [Step(" FA", [(" FA", math.log(0.5)), (" P", math.log(0.25))]), Step("IL", [])])
    assert judged_result(call, split).score == pytest.approx(1 / 3)
    bare = Outcome("PASS", [Step("PASS", [])])
    with pytest.raises(CheckError, match="gave no token alternatives"):
        judged_result(call, bare)
