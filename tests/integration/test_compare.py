"""Comparison grids on the real default model and a real SQLite file."""

from __future__ import annotations

import csv
import json
import random
import time

import pytest
from conftest import ROOT

from workbench import experiments
from workbench.engine.base import SamplingParams
from workbench.errors import InputError, TemplateError
from workbench.experiments import grid as grid_module
from workbench.library import files as library_files
from workbench.library.datasets import Case, Dataset
from workbench.library.templates import AnswerRule, Template
from workbench.scoring.answers import compare as score_answer
from workbench.store import Store

GREEDY = experiments.Config(SamplingParams(temperature=0.0, seed=3), max_tokens=4, stop=("\n",))


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "wb.sqlite")
    library_files.ensure_starter_library(opened)
    small = Dataset("mini", [c for c in opened.get_dataset("sentiment-en").cases[::6]])  # 5 cases
    opened.save_dataset(small)
    yield opened
    opened.close()


def grid(store, templates, samples=1, configs=(GREEDY,), **extra) -> int:
    return experiments.plan(
        store, experiments.GridSpec(list(templates), "mini", list(configs), samples=samples, **extra)
    )


def test_small_grid_end_to_end(store, backend):
    experiment_id = grid(store, ["sentiment-cloze-en", "sentiment-instruction-en", "sentiment-3shot-en"])
    assert len(store.pending_cells(experiment_id)) == 15  # planned before anything ran
    assert experiments.run(store, experiment_id, lambda path: backend) == "done"
    runs = store.experiment_runs(experiment_id)
    assert len(runs) == 15 and all(r["status"] == "done" for r in runs)
    cloze = [r for r in runs if r["template"] == "sentiment-cloze-en"]
    assert all(set(r["choice_logprobs"]) == {"positive", "neutral", "negative"} for r in cloze)
    generated = [r for r in runs if r["template"] != "sentiment-cloze-en"]
    assert all(r["tokens"] and r["completion_tokens"] >= 1 and r["model_sha256"] for r in generated)
    assert all(len(r["tokens"][0]["top"]) == 5 for r in generated)
    report = experiments.summarize(store, experiment_id)
    assert [row["template"] for row in report["summary"]] == [
        "sentiment-cloze-en",
        "sentiment-instruction-en",
        "sentiment-3shot-en",
    ]
    for row in report["summary"]:
        assert row["n"] == 5 and row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    assert len(report["pairwise"]) == 3 and all(0 <= p["p_value"] <= 1 for p in report["pairwise"])


def test_batched_grid_reports_wall_throughput_not_cell_latency(store, backend):
    """Cells decoded together each wait for their neighbours: the summary's per-cell time is not the
    model's speed; the grid's wall time and throughput are reported beside it."""
    experiment_id = grid(store, ["sentiment-instruction-en", "sentiment-3shot-en"])
    started = time.perf_counter()
    experiments.run(store, experiment_id, lambda path: backend, parallel=4)
    elapsed = time.perf_counter() - started
    report = experiments.summarize(store, experiment_id)
    speed = report["throughput"]
    assert speed["cells_timed"] == 10
    assert 0 < speed["wall_s"] <= elapsed
    runs = store.experiment_runs(experiment_id, with_tokens=False)
    assert speed["wall_s"] == pytest.approx(sum(r["grid_ms"] for r in runs) / 1000)
    tokens = sum(r["completion_tokens"] for r in runs)
    assert speed["completion_tokens_per_s"] == pytest.approx(tokens / speed["wall_s"])
    assert speed["cells_per_s"] == pytest.approx(10 / speed["wall_s"])
    assert all("tokens_per_s" not in row for row in report["summary"])


def test_label_likelihood_matches_the_engine(store, backend):
    experiment_id = grid(store, ["sentiment-cloze-en"])
    experiments.run(store, experiment_id, lambda path: backend)
    run = store.experiment_runs(experiment_id)[0]
    words = [" great", " okay", " terrible"]
    expected = backend.continuation_logprobs(run["prompt"], words)
    assert [run["choice_logprobs"][label] for label in ("positive", "neutral", "negative")] == pytest.approx(expected)


def test_label_likelihood_decisions_are_checked_against_the_noise_floor(store, backend):
    """Each cloze decision is re-scored in the fast configuration; a margin below that spread is flagged."""
    from workbench.engine.numerics import choice_spread, within_noise

    sentiment = store.get_dataset("sentiment-en").cases
    store.save_dataset(Dataset("mini", sentiment[20:30]))
    experiment_id = grid(store, ["sentiment-cloze-en"])
    experiments.run(store, experiment_id, lambda path: backend)
    runs = store.experiment_runs(experiment_id)
    assert len(runs) == 10
    words = [" great", " okay", " terrible"]
    other = backend.sibling("fast")
    try:
        for run in runs:
            mine = [run["choice_logprobs"][label] for label in ("positive", "neutral", "negative")]
            theirs = other.continuation_logprobs(run["prompt"], words)
            assert run["numerics"] == "reference" and run["batching"] == "exact"
            assert run["noise_spread"] == pytest.approx(choice_spread(mine, theirs))
            assert run["within_noise"] == int(within_noise(mine, theirs))
    finally:
        other.close()
    flags = [run["within_noise"] for run in runs]
    assert 0 < sum(flags) < len(flags), flags  # en21-en30 hold close and clear decisions
    exported = experiments.run_rows(store, experiment_id)
    assert [row["within_noise"] for row in exported] == [bool(f) for f in flags]
    (summary,) = experiments.summarize(store, experiment_id)["summary"]
    assert summary["within_noise"] == sum(flags)
    assert (summary["numerics"], summary["batching"]) == (["reference"], ["exact"])


def test_exported_rows_rescored_independently_give_the_reported_accuracy(store, backend):
    experiment_id = grid(
        store,
        ["sentiment-instruction-en", "sentiment-0shot-en"],
        samples=2,
        configs=(experiments.Config(SamplingParams(temperature=0.9, seed=11), 4, ("\n",)),),
    )
    experiments.run(store, experiment_id, lambda path: backend)
    rows = [
        json.loads(line)
        for line in experiments.to_text(experiments.run_rows(store, experiment_id), "jsonl").splitlines()
    ]
    assert set(experiments.RUN_KEYS) <= set(rows[0])
    report = {r["template"]: r for r in experiments.summarize(store, experiment_id)["summary"]}
    for template in ("sentiment-instruction-en", "sentiment-0shot-en"):
        mine = [r for r in rows if r["template"] == template]
        rescored = []
        for row in mine:
            case = Case(row["case_id"], row["vars"], row["expected"], ("positive", "neutral", "negative"))
            rescored.append(score_answer(row["answer"], case, AnswerRule.from_dict(row["scorer"])))
        assert sum(rescored) / len(rescored) == pytest.approx(report[template]["accuracy"])
    seeds = {(r["template"], r["case_id"], r["sample_index"]): r["seed"] for r in rows}
    first = rows[0]
    assert seeds[("sentiment-0shot-en", first["case_id"], first["sample_index"])] == first["seed"]  # same dice
    csv_text = experiments.to_text(experiments.run_rows(store, experiment_id), "csv")
    assert csv_text.splitlines()[0].startswith("run_id,experiment_id,template,template_version,case_id,vars")


def test_bad_grids_are_refused_before_running(store, tmp_path):
    with pytest.raises(InputError, match="arithmetic-direct-en needs question"):
        grid(store, ["arithmetic-direct-en", "sentiment-cloze-en"])
    store.save_dataset(Dataset("empty", []))
    with pytest.raises(InputError, match="has no cases"):
        experiments.plan(store, experiments.GridSpec(["sentiment-cloze-en"], "empty"))
    with pytest.raises(TemplateError, match="not a valid regular expression"):
        store.save_template(Template("bad-regex", "prompt", "{{ text }}", answer=AnswerRule("regex", "(unclosed")))
    folder = tmp_path / "lib"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "name: r\nkind: prompt\nanswer: {scorer: regex, pattern: '(x'}\nbody: '{{ text }}'\n"
    )
    report = library_files.import_dir(store, folder)
    assert "r.yaml" in report.problems[0] and "not a valid regular expression" in report.problems[0]
    assert store.list_experiments() == []


def test_huge_grids_need_a_yes(store, monkeypatch):
    monkeypatch.setattr(grid_module, "LARGE_GRID", 8)
    with pytest.raises(experiments.ConfirmationNeeded, match="10 cells; confirm"):
        grid(store, ["sentiment-cloze-en", "sentiment-instruction-en"])
    spec = experiments.GridSpec(["sentiment-cloze-en", "sentiment-instruction-en"], "mini", [GREEDY])
    assert store.experiment(experiments.plan(store, spec, confirm_large=True))["total_cells"] == 10


def test_a_case_over_the_context_is_an_error_run_and_the_grid_goes_on(store, backend):
    store.save_dataset(
        Dataset(
            "mini",
            [
                Case("long", {"text": "word " * 3000}, "positive", ("positive", "negative")),
                Case("short", {"text": "Lovely."}, "positive", ("positive", "negative")),
            ],
        )
    )
    experiment_id = grid(store, ["sentiment-instruction-en"])
    assert experiments.run(store, experiment_id, lambda path: backend) == "done"
    long_run, short_run = store.experiment_runs(experiment_id)
    assert "over the context" in long_run["error"] and long_run["score"] == 0.0
    assert short_run["error"] is None and short_run["output"]
    assert experiments.summarize(store, experiment_id)["summary"][0]["failures"] == 1


def test_deleting_a_template_keeps_the_versions_runs_refer_to(store, backend):
    experiment_id = grid(store, ["sentiment-instruction-en"])
    experiments.run(store, experiment_id, lambda path: backend)
    store.delete_template("sentiment-instruction-en")
    assert "sentiment-instruction-en" not in [t.name for t in store.list_templates()]
    assert experiments.run_rows(store, experiment_id)[0]["template_version"] == 1
    assert store.get_template("sentiment-instruction-en", 1).body
    with pytest.raises(InputError):
        store.delete_template("sentiment-instruction-en")


def test_ratings_review_pairs_and_preference_export(store, backend):
    experiment_id = grid(store, ["sentiment-instruction-en", "sentiment-0shot-en"])
    experiments.run(store, experiment_id, lambda path: backend)
    pairs = experiments.review_pairs(store, experiment_id, random.Random(1))
    assert pairs and all(a["case_id"] == b["case_id"] and a["id"] != b["id"] for a, b in pairs)
    assert len(pairs) > 1, "the two templates must disagree on more than one case"
    left, right = pairs[0]
    experiments.rate(store, experiment_id, left["id"], right["id"], "left", "tester")
    assert len(experiments.review_pairs(store, experiment_id, random.Random(1))) == len(pairs) - 1
    experiments.rate(store, experiment_id, pairs[1][0]["id"], pairs[1][1]["id"], "tie", "tester")
    assert len(store.ratings(experiment_id)) == 2  # the tie is stored, and makes no preference pair
    (preference,) = experiments.preference_rows(store, experiment_id)
    assert preference["chosen"] == left["output"] and preference["rejected"] == right["output"]
    assert {"prompt", "chosen", "rejected", "rater", "case_id", "chosen_template"} <= set(preference)
    rows = {r["template"]: r for r in experiments.summarize(store, experiment_id)["summary"]}
    assert rows[left["template"]]["human_wins"] == 1
    with pytest.raises(InputError, match="a rating is left, right, tie or skip"):
        experiments.rate(store, experiment_id, left["id"], right["id"], "maybe", "tester")
    other_case = next(b for a, b in pairs if a["case_id"] != left["case_id"])
    with pytest.raises(InputError, match="answer different cases"):
        experiments.rate(store, experiment_id, left["id"], other_case["id"], "left", "tester")
    with pytest.raises(InputError, match="rate two different runs"):
        experiments.rate(store, experiment_id, left["id"], left["id"], "left", "tester")


SMALL_SENTIMENT_ZH = ROOT / "tests" / "data" / "sentiment-zh-10.jsonl"
SMALL_SENTIMENT = ROOT / "tests" / "data" / "sentiment-en-10.jsonl"  # 10 of the 30 cases: CLI wiring, not size
GRID_ARGS = ["--templates", "sentiment-instruction-en,sentiment-3shot-en", "--dataset", str(SMALL_SENTIMENT), "-t", "0"]


def test_cli_experiments_and_export(cli, tmp_path):
    run = cli("compare", "--templates", "sentiment-cloze-zh", "--dataset", str(SMALL_SENTIMENT_ZH), "-n", "3", "--json")
    assert run.code == 0, run.stderr
    document = run.json()
    (row,) = document["summary"]
    assert set(row) >= {
        "template",
        "accuracy",
        "ci_low",
        "ci_high",
        "n",
        "mean_prompt_tokens",
        "mean_completion_tokens",
        "mean_latency_ms",
    }
    assert row["n"] == 10 and "cells" in run.stderr
    experiment_id = document["experiment_id"]
    listed = cli("experiments", "list", "--json").json()
    assert listed[0]["id"] == experiment_id and listed[0]["status"] == "done"
    assert cli("experiments", "rename", str(experiment_id), "zh cloze", "--json").code == 0
    assert cli("experiments", "show", str(experiment_id), "--json").json()["name"] == "zh cloze"
    out = tmp_path / "runs.csv"
    assert (
        cli("export", "--experiment", str(experiment_id), "--what", "runs", "--format", "csv", "--out", str(out)).code
        == 0
    )
    with out.open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 10
    summary = cli("export", "--experiment", str(experiment_id), "--what", "summary")
    assert json.loads(summary.stdout.splitlines()[0])["accuracy"] == row["accuracy"]
    assert cli("export", "--experiment", str(experiment_id), "--what", "preferences").stdout == ""
    assert cli("experiments", "delete", str(experiment_id)).code == 0
    gone = cli("experiments", "show", str(experiment_id))
    assert gone.code == 1 and f"no experiment with id {experiment_id}" in gone.stderr
    missing = cli("compare", "--templates", "nope", "--dataset", "sentiment-zh")
    assert missing.code == 1 and "no template named 'nope'" in missing.stderr


def test_a_temperature_sweep_is_the_settings_axis(cli):
    result = cli(
        "compare",
        "--templates",
        "sentiment-instruction-en",
        "--dataset",
        str(SMALL_SENTIMENT),
        "--temperatures",
        "0,1.2",
        "--seed",
        "4",
        "--max-tokens",
        "2",
        "--json",
    )
    assert result.code == 0, result.stderr
    labels = [row["template"] for row in result.json()["summary"]]
    assert labels == ["sentiment-instruction-en · config 1 (T0)", "sentiment-instruction-en · config 2 (T1.2)"]
    (pair,) = result.json()["pairwise"]
    assert pair["n"] == 10
    bad = cli(
        "compare", "--templates", "sentiment-instruction-en", "--dataset", "sentiment-en", "--temperatures", "hot"
    )
    assert bad.code == 1 and "temperatures: write numbers separated by commas, got 'hot'" in bad.stderr


def test_cli_rate_lists_pairs_stores_a_rating_and_refuses_bad_ones(cli):
    run = cli("compare", *GRID_ARGS, "--max-tokens", "4", "--stop", "\\n", "--json")
    assert run.code == 0, run.stderr
    experiment = str(run.json()["experiment_id"])
    listed = cli("rate", experiment, "--pairs", "--seed", "3", "--json")
    assert listed.code == 0, listed.stderr
    pairs = listed.json()
    assert pairs and all(p["left_output"] != p["right_output"] for p in pairs)
    first = pairs[0]
    rated = cli("rate", experiment, str(first["left"]), str(first["right"]), "right", "--rater", "ann", "--json")
    assert rated.code == 0, rated.stderr
    assert rated.json()["choice"] == "right" and rated.json()["rater"] == "ann"
    assert len(cli("rate", experiment, "--pairs", "--json").json()) == len(pairs) - 1
    exported = cli("export", "--experiment", experiment, "--what", "preferences")
    (preference,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert preference["chosen"] == first["right_output"] and preference["rejected"] == first["left_output"]
    missing = cli("rate", experiment, str(first["left"]))
    assert missing.code == 1 and "give LEFT RIGHT CHOICE" in missing.stderr
    unknown = cli("rate", experiment, str(first["left"]), "999999", "left")
    assert unknown.code == 1 and unknown.stderr.strip() == "workbench: no comparison run with id 999999"
    bad = cli("rate", experiment, str(first["left"]), str(first["right"]), "maybe")
    assert bad.code == 2 and "invalid choice: 'maybe'" in bad.stderr


def test_chain_of_thought_against_direct_runs_with_each_templates_own_settings(store, backend):
    """The issue's grid: with one shared max-48 / newline-stop setting the chain-of-thought cells all ended
    at the first newline with no answer; with each template's settings they reason and answer."""
    store.save_dataset(Dataset("arith-mini", store.get_dataset("arithmetic-en").cases[:3]))
    templates = ["arithmetic-cot-trigger-en", "arithmetic-direct-en"]
    spec = experiments.grid_spec(templates, "arith-mini", SamplingParams(temperature=0.0, seed=1))
    experiment_id = experiments.plan(store, spec)
    assert experiments.run(store, experiment_id, lambda path: backend, parallel=3) == "done"
    runs = store.experiment_runs(experiment_id)
    cot = [r for r in runs if r["template"] == "arithmetic-cot-trigger-en"]
    direct = [r for r in runs if r["template"] == "arithmetic-direct-en"]
    assert len(cot) == len(direct) == 3
    assert all(r["params"]["max_tokens"] == 200 and r["params"]["stop"] == ["\nQ:"] for r in cot)
    assert all(r["params"]["max_tokens"] == 12 and r["params"]["stop"] == ["\n"] for r in direct)
    assert all(r["answer"] is not None for r in cot), [r["output"] for r in cot]
    assert max(r["completion_tokens"] for r in cot) > 12  # room to reason, used
    assert any("\n" in r["output"] for r in cot)  # reasoning went past the first line
