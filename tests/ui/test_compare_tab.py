"""The Compare tab on the real default model: build a grid, run it, open a cell, review two outputs."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from workbench import experiments
from workbench.experiments import grid as grid_module
from workbench.library.datasets import Dataset
from workbench.ui.app import MainWindow
from workbench.ui.tabs.compare_widgets import CellInspector


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model_info is not None and win.compare.backend is not None, timeout=30_000)
    errors: list[str] = []
    win.show_error = errors.append
    win.errors = errors
    yield win
    win.close()


def small_sentiment(tab) -> str:
    """Every third case of sentiment-en (10, all three labels): the tab's wiring, not the grid's size, is tested."""
    cases = tab.store.get_dataset("sentiment-en").cases[::3]
    tab.store.save_dataset(Dataset("sentiment-en-10", cases))
    tab.refresh_library()
    return "sentiment-en-10"


def build(tab, templates: list[str], dataset: str = "sentiment-en") -> None:
    for name in templates:
        tab.add_template(name)
    tab.builder.dataset.setCurrentText(dataset)
    tab.builder.max_tokens.setValue(3)


def test_build_run_inspect_and_review(qtbot, window, cli):
    tab = window.compare
    window.tabs.setCurrentWidget(window.templates)
    window.templates.open_template("sentiment-instruction-en")
    window.templates.compare_button.click()  # "Add to comparison" from the Templates tab
    assert window.tabs.currentWidget() is tab
    build(tab, ["sentiment-cloze-en", "sentiment-0shot-en"], small_sentiment(tab))
    assert tab.selected_templates() == ["sentiment-0shot-en", "sentiment-cloze-en", "sentiment-instruction-en"]
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.experiment_id is not None and not tab.running, timeout=120_000)
    assert "30/30 cells, done" in tab.title.text()
    results = tab.results
    assert tab.table.model() is results and results.rowCount() == 10 and results.columnCount() == 3
    assert tab.progress_bar.value() == 30
    report = {row["template"]: row for row in experiments.summarize(tab.store, tab.experiment_id)["summary"]}
    for c in range(3):  # the marks in the table are the figures under it (GUI == core)
        template = results.headerData(c, Qt.Horizontal)
        marks = [results.data(results.index(r, c))[0] for r in range(10)]
        verdicts = [experiments.cell_verdict(results.samples(r, c)).correct for r in range(10)]
        assert marks == [{True: "✓", False: "✗", None: "–"}[v] for v in verdicts]
        assert marks.count("✓") / 10 == pytest.approx(report[template]["accuracy"])
    assert len(tab.chart.rows) == 3 and "McNemar over 10 cases" in tab.pairwise.text()
    headers = [results.headerData(c, Qt.Horizontal) for c in range(3)]
    dialog = tab.inspect(0, headers.index("sentiment-instruction-en"))
    assert isinstance(dialog, CellInspector) and dialog.views and dialog.views[0].tokens
    first_view = dialog.views[0]
    dialog._pin(first_view, 0, QPoint(5, 5))  # a click on the first token pins its card
    alternative = first_view.tokens[0].top[1].id
    with qtbot.waitSignal(window.explorer.job.finished, timeout=30_000):
        dialog.popup.chart.picked.emit(alternative)  # "what if it had said this?"
    assert window.tabs.currentWidget() is window.explorer
    assert [n.token_id for n in window.explorer.view.tree.path(window.explorer.view.node)] == [alternative]
    window.tabs.setCurrentWidget(tab)
    dialog.close()
    cloze = tab.inspect(0, headers.index("sentiment-cloze-en"))
    assert cloze is not None and not cloze.views  # label likelihood: the choice distribution, no tokens
    cloze.close()

    def listed() -> list[str]:
        return [results.headerData(r, Qt.Vertical) for r in range(results.rowCount())]

    cases = listed()
    row_marks = {case: {results.text(r, c)[0] for c in range(3)} for r, case in enumerate(cases)}
    tab.only_failures.setChecked(True)
    failing = [case for case in cases if "✗" in row_marks[case]]
    assert listed() == failing and failing
    tab.only_failures.setChecked(False)
    assert listed() == cases
    tab.only_disagreements.setChecked(True)
    mixed = [case for case in cases if len(row_marks[case]) > 1]
    assert listed() == mixed
    assert len(failing) + len(mixed) < 20, "at least one filter hides a case"
    tab.only_disagreements.setChecked(False)
    assert listed() == cases
    shown = cli("experiments", "show", str(tab.experiment_id), "--cells", "--only-failures", "--json")
    assert shown.code == 0, shown.stderr
    cli_cells = {row["case_id"]: row for row in shown.json()["cells"]}
    assert list(cli_cells) == failing  # the CLI's filter keeps the same cases as the tab's
    for r, case in enumerate(cases):  # and shows the same cell text
        if case in cli_cells:
            assert [cli_cells[case][h] for h in headers] == [results.text(r, c) for c in range(3)]
    tab.result_tabs.setCurrentIndex(1)  # review
    assert tab.pairs, "two generating templates give pairs to review"
    left, right = tab.pairs[0]
    assert tab.review.left_source.text() == "source hidden until you pick"
    QTest.keyClick(tab.review, Qt.Key_1)
    assert "was: " in tab.review.left_source.text()
    (rating,) = tab.store.ratings(tab.experiment_id)
    assert (rating["choice"], rating["left_run_id"], rating["right_run_id"]) == ("left", left["id"], right["id"])


def test_stop_and_resume_finish_every_cell_once(qtbot, window):
    tab = window.compare
    build(tab, ["sentiment-instruction-en", "sentiment-3shot-en"], small_sentiment(tab))
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.progress_bar.value() >= 3, timeout=60_000)
    tab.stop_button.click()
    qtbot.waitUntil(lambda: not tab.running, timeout=60_000)
    experiment = tab.store.experiment(tab.experiment_id)
    assert experiment["status"] == "stopped" and experiment["done_cells"] < 20
    assert tab.resume_button.isEnabled()
    tab.resume_button.click()
    qtbot.waitUntil(
        lambda: not tab.running and tab.store.experiment(tab.experiment_id)["status"] == "done", timeout=120_000
    )
    runs = tab.store.experiment_runs(tab.experiment_id)
    assert len(runs) == 20 and len({(r["template"], r["case_id"]) for r in runs}) == 20


def test_bad_grids_and_experiment_management(qtbot, window, tmp_path, monkeypatch):
    tab = window.compare
    build(tab, ["arithmetic-direct-en"])
    tab.run_button.click()
    assert "needs question" in window.errors[-1] and tab.experiment_id is None
    tab.add_template("sentiment-0shot-en")
    monkeypatch.setattr(grid_module, "LARGE_GRID", 10)
    asked: list[str] = []
    monkeypatch.setattr(tab, "ask_large", lambda text: asked.append(text) or False)
    tab.builder.template_list.item(0).setCheckState(Qt.Unchecked)
    for row in range(tab.builder.template_list.count()):
        item = tab.builder.template_list.item(row)
        if item.data(Qt.UserRole) == "arithmetic-direct-en":
            item.setCheckState(Qt.Unchecked)
    tab.run_button.click()
    assert asked and "30 cells" in asked[0] and tab.store.list_experiments() == []
    monkeypatch.setattr(grid_module, "LARGE_GRID", 10_000)
    tab.builder.max_tokens.setValue(1)
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.experiment_id is not None and not tab.running, timeout=120_000)
    out = tmp_path / "runs.csv"
    tab.export_to(out, "runs", "csv")
    assert out.read_text(encoding="utf-8").startswith("run_id,experiment_id,template")
    summary = tmp_path / "named-runs-but-summary.jsonl"  # the kind is the chosen one, not the file name's
    tab.export_to(summary, "summary", "jsonl")
    (row,) = [json.loads(line) for line in summary.read_text(encoding="utf-8").splitlines()]
    assert row["experiment_id"] == tab.experiment_id and row["template"] == "sentiment-0shot-en"
    assert not list(tmp_path.glob("*.part"))
    monkeypatch.setattr(tab, "confirm", lambda text: False)
    tab.delete()
    assert len(tab.store.list_experiments()) == 1
    monkeypatch.setattr(tab, "confirm", lambda text: True)
    tab.delete()
    assert tab.store.list_experiments() == [] and tab.experiments.count() == 0


def test_the_tab_runs_each_template_with_its_own_settings_unless_overridden(qtbot, window):
    tab = window.compare
    for name in ("arithmetic-cot-trigger-en", "arithmetic-direct-en"):
        tab.add_template(name)
    tab.builder.dataset.setCurrentText("arithmetic-en")
    assert (
        tab.builder.max_tokens.value() == 0
        and tab.builder.stop_edit.text() == ""
        and tab.builder.temperatures.text() == ""
    )

    def planned() -> dict[str, set]:
        experiment_id = experiments.plan(tab.store, tab.spec())
        spec = tab.store.experiment(experiment_id)["spec"]
        found: dict[str, set] = {}
        for cell in tab.store.pending_cells(experiment_id):
            config = experiments.cell_config(spec, cell)
            found.setdefault(cell["template"], set()).add((config.max_tokens, config.stop))
        return found

    assert planned() == {"arithmetic-cot-trigger-en": {(200, ("\nQ:",))}, "arithmetic-direct-en": {(12, ("\n",))}}
    tab.builder.max_tokens.setValue(5)
    tab.builder.stop_edit.setText("\\n\\n, Q:")
    assert planned() == {name: {(5, ("\n\n", "Q:"))} for name in ("arithmetic-cot-trigger-en", "arithmetic-direct-en")}
    tab.builder.no_stop.setChecked(True)
    assert {s for found in planned().values() for s in found} == {(5, ())}


def test_a_ready_experiment_runs_on_both_embedded_models(qtbot, window, tmp_path):
    from workbench import models
    from workbench.library.datasets import read_dataset

    tab = window.compare
    window.tabs.setCurrentWidget(tab)
    description = tab.builder.use_preset("base-vs-instruct-sentiment")
    assert "instruction-tuned" in description
    assert "sentiment-chat-en" in tab.selected_templates() and len(tab.selected_templates()) == 5
    both = [models.resolve(models.DEFAULT_MODEL_NAME).path, models.resolve(models.INSTRUCT_MODEL_NAME).path]
    assert tab.builder.selected_models() == both
    small = tmp_path / "sentiment-3.jsonl"
    small.write_text(
        "\n".join(
            json.dumps({"id": f"c{i}", "text": text, "expected": label, "choices": ["positive", "neutral", "negative"]})
            for i, (text, label) in enumerate([("I love it.", "positive"), ("Awful service.", "negative")])
        ),
        encoding="utf-8",
    )
    tab.store.save_dataset(read_dataset(small))
    tab.builder.refresh_library()
    tab.builder.dataset.setCurrentText("sentiment-3")
    tab.run_button.click()
    qtbot.waitUntil(lambda: tab.experiment_id is not None and not tab.running, timeout=180_000)
    assert "20/20 cells, done" in tab.title.text()
    spec = tab.store.experiment(tab.experiment_id)["spec"]
    assert [m["path"] for m in spec["models"]] == both
    report = experiments.summarize(tab.store, tab.experiment_id)["summary"]
    assert {row["template"] for row in report} >= {
        f"sentiment-chat-en · {models.DEFAULT_MODEL_NAME}",
        f"sentiment-chat-en · {models.INSTRUCT_MODEL_NAME}",
    }
    assert window.errors == []
