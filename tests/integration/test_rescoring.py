"""Re-scoring a finished experiment from the CLI on the real models: reference metrics equal sacrebleu on the
kept outputs, a model judge reads its verdict from the instruct model's probabilities, nothing is generated
again, labels give a kappa equal to its hand computation, and each bad input is one clear line."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu

from workbench.scoring.agreement import cohen_kappa
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def grid_database(tmp_path_factory, cli_zygote) -> tuple[Path, int]:
    """One finished translation grid (24 cells, the templates' own chrF + contains scored), run once through
    the CLI; each test scores a copy of its database."""
    path = tmp_path_factory.mktemp("grid") / "grid.sqlite"
    grid = ["compare", "--templates", "translate-instruction,translate-fewshot", "--dataset", "translation"]
    env = {**os.environ, "WORKBENCH_DB": str(path)}
    argv = [*grid, "--max-tokens", "24", "--json"]
    if cli_zygote is not None:
        code, out, err = cli_zygote.run(argv, env, ROOT, None, 300)
    else:
        done = subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, env=env, cwd=ROOT)
        code, out, err = done.returncode, done.stdout, done.stderr
    assert code == 0, err.decode()
    document = json.loads(out)
    assert document["done"] == 24
    with sqlite3.connect(path) as db:  # everything into the main file, so a copy of it is the whole database
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, document["experiment_id"]


@pytest.fixture
def finished_grid(grid_database, isolated_db):
    source, experiment_id = grid_database
    shutil.copyfile(source, isolated_db)
    return lambda _cli: experiment_id


def outputs(cli, experiment_id: int) -> list[dict]:
    exported = cli("export", "--experiment", str(experiment_id))
    assert exported.code == 0, exported.stderr
    return [json.loads(line) for line in exported.stdout.splitlines()]


def generated(rows: list[dict]) -> list[tuple]:
    return [(r["run_id"], r["output"], r["seed"], r["completion_tokens"]) for r in rows]


def test_rescore_judge_label_and_calibrate(cli, isolated_db, finished_grid):
    experiment_id = finished_grid(cli)
    before = outputs(cli, experiment_id)

    metrics = cli("rescore", str(experiment_id), "--scorer", "chrf", "--name", "chrf", "--json")
    assert metrics.code == 0, metrics.stderr
    report = metrics.json()
    assert report["cells"] == 24 and report["scorer_errors"] == 0 and len(report["pairwise"]) == 1
    store = Store(isolated_db)
    scores = store.cell_scores(store.scoring_id(experiment_id, "chrf"))
    for row in before:
        kept = scores[row["run_id"]]["results"][0]
        chrf = sacrebleu.sentence_chrf(row["output"].strip(), [row["vars"]["reference"]]).score
        assert kept["value"] == chrf and kept["score"] == chrf / 100
    pair = report["pairwise"][0]
    assert pair["difference_ci_low"] <= pair["mean_difference"] <= pair["difference_ci_high"]
    assert 0 <= pair["wilcoxon_p"] <= 1 and 0 <= pair["mcnemar_p"] <= 1

    rubric = "llm-rubric:The output is written in Chinese characters"
    judged = cli("rescore", str(experiment_id), "--scorer", rubric, "--name", "judge", "--parallel", "4", "--json")
    assert judged.code == 0, judged.stderr
    judge_scores = store.cell_scores(store.scoring_id(experiment_id, "judge"))
    readable = [s for s in judge_scores.values() if s["error"] is None]
    assert readable, [s["error"] for s in judge_scores.values()]
    for kept in readable:
        result = kept["results"][0]
        reading = result["judge"]
        assert result["score"] == reading["p_pass_mass"] / (reading["p_pass_mass"] + reading["p_fail_mass"])
        assert reading["template"].startswith("judge-rubric-") and reading["prompt"].endswith("Verdict:")
        assert kept["passed"] == (result["score"] >= 0.5)
    for kept in judge_scores.values():
        assert kept["error"] is None or kept["error"].startswith("llm-rubric: judge error:")
    after = outputs(cli, experiment_id)
    assert generated(after) == generated(before)  # re-scoring generated nothing
    assert set(after[0]["scorings"]) == {"assert", "chrf", "judge"}  # assert: the templates' own chrF + contains
    assert after[0]["scorings"]["chrf"]["results"][0]["type"] == "chrf"

    chosen = before[:12]
    for index, row in enumerate(chosen):
        verdict = "pass" if any("\u4e00" <= ch <= "\u9fff" for ch in row["output"]) or index % 3 == 0 else "fail"
        assert cli("label", str(row["run_id"]), verdict).code == 0
    calibrated = cli("calibrate", str(experiment_id), "--scoring", "chrf", "--json")
    assert calibrated.code == 0, calibrated.stderr
    document = calibrated.json()
    labels = store.labels(experiment_id)
    pairs = [(labels[r["run_id"]]["passed"], scores[r["run_id"]]["passed"]) for r in chosen]
    assert document["n"] == 12 and document["labels"] == 12
    assert document["kappa"] == cohen_kappa(pairs)[0]
    assert sum(document["confusion"].values()) == 12 and document["verdict"]


def test_bad_rescoring_inputs_are_one_clear_line(cli, isolated_db, finished_grid):
    experiment_id = finished_grid(cli)
    no_reference = cli("rescore", str(experiment_id), "--scorer", "bleu:", "--json")
    assert no_reference.code == 0  # a metric with an empty value reads the row's reference
    missing_judge = cli("rescore", str(experiment_id), "--scorer", "llm-rubric:is Chinese", "--judge", "no-such-model")
    assert missing_judge.code == 0, missing_judge.stderr
    store = Store(isolated_db)
    errors = {s["error"] for s in store.cell_scores(store.scoring_id(experiment_id, "llm-rubric")).values()}
    assert len(errors) == 1 and errors.pop().startswith(
        "llm-rubric: judge error: the judge model could not be opened: unknown model 'no-such-model'"
    )
    assert "24 cell(s) could not be scored" in missing_judge.stdout

    unknown = cli("rescore", str(experiment_id), "--scorer", "javascript:output.length")
    assert unknown.code != 0 and unknown.stderr.startswith("workbench: --scorer[0]: unknown assertion type")
    assert len(unknown.stderr.strip().splitlines()) == 1
    absent = cli("calibrate", str(experiment_id), "--scoring", "nothing")
    assert absent.code != 0 and "has no scoring named 'nothing'" in absent.stderr

    store.set_experiment(experiment_id, status="running")
    running = cli("rescore", str(experiment_id), "--scorer", "chrf")
    assert running.code != 0 and f"experiment {experiment_id} is still running" in running.stderr


def test_a_pairwise_judge_asks_both_orders_and_never_counts_as_you(cli, isolated_db, finished_grid):
    experiment_id = finished_grid(cli)
    judged = cli(
        "pairwise", str(experiment_id), "--a", "translate-instruction", "--b", "translate-fewshot",
        "--criterion", "is a correct Chinese translation", "--json", timeout=300,
    )  # fmt: skip
    assert judged.code == 0, judged.stderr
    report = judged.json()
    disagreed = report["cases"] - report["consistent"] - report["judge_errors"]
    assert report["cases"] == 12 and report["a_wins"] + report["b_wins"] == report["consistent"]
    assert report["position_bias"] == disagreed / (report["cases"] - report["judge_errors"])
    store = Store(isolated_db)
    kept = [r for r in store.ratings(experiment_id) if r["rater"] == "judge:" + report["judge"]]
    assert len(kept) == 12 - report["judge_errors"]
    assert sum(r["choice"] == "skip" for r in kept) == disagreed  # an order-dependent verdict is no verdict
    shown = cli("experiments", "show", str(experiment_id), "--json").json()
    assert all(row["human_wins"] + row["human_losses"] == 0 for row in shown["summary"])  # not your preference
    pairs = cli("rate", str(experiment_id), "--pairs", "--json").json()
    assert len(pairs) >= 1  # the judge's pairs are still yours to rate
    for pair in pairs[:10]:
        assert cli("rate", str(experiment_id), str(pair["left"]), str(pair["right"]), "left").code == 0
    again = cli(
        "pairwise", str(experiment_id), "--a", "translate-instruction", "--b", "translate-fewshot",
        "--criterion", "is a correct Chinese translation", "--json", timeout=300,
    ).json()  # fmt: skip
    calibration = again["calibration"]
    templates = {r["id"]: r["template"] for r in store.experiment_runs(experiment_id, with_tokens=False)}
    judge_pick, human_pick = {}, {}
    for rating in store.ratings(experiment_id):
        key = frozenset((rating["left_run_id"], rating["right_run_id"]))
        side = judge_pick if rating["rater"].startswith("judge:") else human_pick
        if rating["choice"] in ("left", "right"):
            winner = rating["left_run_id"] if rating["choice"] == "left" else rating["right_run_id"]
            side[key] = templates[winner] == "translate-instruction"
        else:
            side.pop(key, None)
    shared = sorted(set(judge_pick) & set(human_pick), key=sorted)
    pairs = [(human_pick[k], judge_pick[k]) for k in shared]
    assert calibration["n"] == len(shared) and calibration["kappa"] == cohen_kappa(pairs)[0]


def test_similar_is_the_cosine_of_llama_cpp_embeddings(cli, isolated_db, finished_grid, tmp_path):
    import llama_cpp
    import numpy as np

    from workbench import models

    experiment_id = finished_grid(cli)
    scored = cli("rescore", str(experiment_id), "--scorer", "similar", "--name", "similar", "--json", timeout=300)
    assert scored.code == 0, scored.stderr
    store = Store(isolated_db)
    kept = store.cell_scores(store.scoring_id(experiment_id, "similar"))
    rows = outputs(cli, experiment_id)[:4]
    model = llama_cpp.Llama(
        str(models.default_model_path()), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=2048, verbose=False,
    )  # fmt: skip
    try:
        for row in rows:
            a, b = (np.array(model.embed(text)) for text in (row["output"].strip() or " ", row["vars"]["reference"]))
            cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
            result = kept[row["run_id"]]["results"][0]
            assert result["value"] == pytest.approx(cosine, abs=1e-6)
            assert result["passed"] == (cosine >= 0.75)
    finally:
        model.close()
    checks = tmp_path / "checks.yaml"
    checks.write_text("- type: similar\n  provider: no-such-model\n")
    missing = cli("rescore", str(experiment_id), "--assertions", str(checks), "--name", "bad", "--json")
    assert missing.code == 0 and missing.json()["scorer_errors"] == 24
    errors = {s["error"] for s in store.cell_scores(store.scoring_id(experiment_id, "bad")).values()}
    assert errors == {
        "similar: embedding error: unknown model 'no-such-model' (known: gemma-3-270m-q4_k_m, "
        "smollm2-135m-instruct-q4_1; or give a path to a .gguf file)"
    }
