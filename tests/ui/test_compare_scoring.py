"""The Compare tab's scoring panel and the cell inspector's scores and labels, against the CLI on the same
database: the figures the window shows are the CLI's, a re-scoring started in the window is the one the CLI
lists, and label keys in the inspector are the labels `workbench calibrate` counts."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from windows import open_window

from workbench import models
from workbench.experiments import scoring_text
from workbench.ui.tabs.compare_scoring import summary_rows


def test_scoring_panel_calibration_and_labels_equal_the_cli(qtbot, tmp_path, cli, isolated_db):
    planned = cli(
        "compare",
        "--templates",
        "translate-instruction,translate-fewshot",
        "--dataset",
        "translation",
        "--max-tokens",
        "16",
        "--json",
        timeout=300,
    )
    assert planned.code == 0, planned.stderr
    experiment_id = planned.json()["experiment_id"]
    exported = cli("export", "--experiment", str(experiment_id)).stdout.splitlines()
    assert cli("rescore", str(experiment_id), "--scorer", "chrf", "--name", "chrf").code == 0
    run_ids = [json.loads(line)["run_id"] for line in exported]
    for index, run_id in enumerate(run_ids[:10]):
        assert cli("label", str(run_id), "pass" if index % 2 else "fail").code == 0

    window = open_window(qtbot, tmp_path, str(models.default_model_path()))
    try:
        tab = window.compare
        window.tabs.setCurrentWidget(tab)
        tab.refresh_experiments(select=experiment_id)
        tab.open_experiment(experiment_id)
        panel = tab.scoring
        tab.result_tabs.setCurrentWidget(panel)
        names = [panel.scoring.itemText(i) for i in range(panel.scoring.count())]
        assert "chrf" in names and "assert" in names  # the templates' own assert: lists scored after the grid
        panel.scoring.setCurrentText("chrf")

        shown = cli("experiments", "show", str(experiment_id), "--json").json()
        chrf = next(s for s in shown["scorings"] if s["scoring"] == "chrf")
        qtbot.waitUntil(lambda: panel.rows.rows == summary_rows(chrf), timeout=10_000)  # computed off the UI thread
        assert panel.rows.rows == summary_rows(chrf)
        assert panel.pairwise.text() == "\n".join(scoring_text.pair_lines(chrf))
        calibrated = cli("calibrate", str(experiment_id), "--scoring", "chrf", "--json").json()
        assert calibrated["n"] == 10 and calibrated["labels"] == 10
        assert panel.calibration.toPlainText() == scoring_text.calibration_text(calibrated)

        panel.assertions.setText("rouge-l,length:200")
        panel.name.setText("rouge")
        panel.rescore()
        qtbot.waitUntil(
            lambda: panel.scoring.currentText() == "rouge" or panel.rescore_button.isEnabled(), timeout=60_000
        )
        assert panel.scoring.currentText() == "rouge", panel.status.text()
        listed = cli("experiments", "show", str(experiment_id), "--json").json()
        rouge = next(s for s in listed["scorings"] if s["scoring"] == "rouge")
        qtbot.waitUntil(lambda: panel.rows.rows == summary_rows(rouge), timeout=10_000)
        assert panel.rows.rows == summary_rows(rouge)

        panel.scoring.setCurrentText("chrf")
        tab.show_results()
        dialog = tab.inspect(0, 0)
        assert dialog is not None and dialog.scores
        scores = dialog.scores[0]
        assert "<b>chrf</b>" in scores.scores.text() and "<b>rouge</b>" in scores.scores.text()
        assert scores.judge_button.isHidden()  # no judge among chrf and rouge
        run_id = scores.run["id"]
        QTest.keyClick(dialog, Qt.Key_C)
        assert run_id not in tab.store.labels(experiment_id)
        QTest.keyClick(dialog, Qt.Key_4)  # a grade needs a verdict first
        assert run_id not in tab.store.labels(experiment_id) and "before grading" in scores.label.text()
        QTest.keyClick(dialog, Qt.Key_P)
        QTest.keyClick(dialog, Qt.Key_4)
        label = tab.store.labels(experiment_id)[run_id]
        assert (label["passed"], label["grade"]) == (True, 4) and "your label: pass, grade 4" in scores.label.text()
        QTest.keyClick(dialog, Qt.Key_F)
        assert tab.store.labels(experiment_id)[run_id]["passed"] is False
        recalibrated = cli("calibrate", str(experiment_id), "--scoring", "chrf", "--json").json()
        expected = scoring_text.calibration_text(recalibrated)
        qtbot.waitUntil(lambda: panel.calibration.toPlainText() == expected, timeout=10_000)
        assert panel.calibration.toPlainText() == scoring_text.calibration_text(recalibrated)
        dialog.close()
        assert window.errors == []
    finally:
        window.close()
