"""The Playground's History and ranking in the real window, on the real default model."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from windows import open_window

from workbench.experiments import ranking


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, tmp_path)
    yield win
    win.close()


def run(qtbot, win, prompt: str, samples: int = 1, seed: int | None = None, temperature: float = 0.9) -> int:
    pg = win.playground
    pg.prompt.setPlainText(prompt)
    pg.samples.set_value(samples)
    pg.temperature.set_value(temperature)
    pg.max_tokens.set_value(12)
    pg.random_seed.setChecked(seed is None)
    if seed is not None:
        pg.seed.setValue(seed)
    qtbot.waitUntil(pg.run_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(win.engine.worker.runSaved, timeout=60_000) as saved:
        pg.run_button.click()
    qtbot.waitUntil(lambda: pg.run_button.isEnabled() and pg.last_run_id == saved.args[0], timeout=10_000)
    return saved.args[0]


def test_a_playground_run_is_kept_with_identical_tokens_and_reopens_exactly(qtbot, window, cli):
    pg = window.playground
    run_id = run(qtbot, window, "台湾最高的山是", samples=2)  # a random seed: recorded, so still reproducible
    shown = [[t.id for t in column.view.tokens] for column in pg.columns]
    stored = cli("runs", str(run_id), "--json").json()
    assert stored["kind"] == "playground" and stored["model_sha256"] and stored["n_ctx"] == window.n_ctx
    assert [[t["id"] for t in s["tokens"]] for s in stored["samples"]] == shown
    assert next(s["tokens"] for s in stored["samples"])[0]["top"]  # every token record, alternatives included
    listed = cli("runs", "--json").json()
    assert listed[0]["id"] == run_id and listed[0]["kind"] == "playground"

    pg.prompt.setPlainText("something else")
    pg.open_run(window.store.get_run(run_id))
    assert pg.prompt.toPlainText() == "台湾最高的山是" and not pg.random_seed.isChecked()
    assert pg.seed.value() == stored["params"]["seed"] and pg.samples.value() == 2
    again = run(qtbot, window, pg.prompt.toPlainText(), samples=2, seed=pg.seed.value())
    assert [[t.id for t in column.view.tokens] for column in pg.columns] == shown
    assert again != run_id


def test_ranking_four_samples_in_the_playground(qtbot, window, cli):
    pg = window.playground
    run_id = run(qtbot, window, "Once upon a time", samples=4, seed=5)
    assert pg.ranking.isVisibleTo(window) and len(pg.ranking.spins) == 4
    for spin, rank in zip(pg.ranking.spins, (2, 1, 3, 3), strict=True):
        spin.setValue(rank)
    assert pg.ranking.save()
    assert "5 preference pair(s)" in pg.ranking.status.text()
    stored = window.store.rankings(run_id)
    assert stored[-1]["ranks"] == [2, 1, 3, 3] and stored[-1]["rater"]
    assert len(cli("export", "--what", "preferences", "--run", str(run_id)).stdout.splitlines()) == 5
    pg.ranking.order.setText("1,2")
    assert not pg.ranking.save_typed()
    assert window.errors and "must rank every sample" in window.errors[-1]
    pg.ranking.order.setText("4,3,2,1")
    assert pg.ranking.save_typed()
    assert window.store.rankings(run_id)[-1]["ranks"] == list(ranking.parse_order("4,3,2,1", 4))
    single = run(qtbot, window, "Hi", samples=1)
    assert not pg.ranking.isVisibleTo(window) and pg.last_run_id == single


def test_history_search_star_tag_compare_copy_and_delete(qtbot, window, cli, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    pg = window.playground
    first = run(qtbot, window, "台湾最高的山是", seed=1)
    second = run(qtbot, window, "台湾最高的山是", seed=2)
    english = run(qtbot, window, "The tallest mountain in Taiwan is", seed=1)
    panel = pg.history
    pg.side_tabs.setCurrentWidget(panel)
    panel.search.setText("最高")
    panel.refresh()
    ids = [panel.list.item(i).data(Qt.UserRole) for i in range(panel.list.count())]
    assert ids == [second, first]
    panel.list.item(0).setSelected(True)
    panel.list.item(1).setSelected(True)
    text = panel.compare_selected()
    assert "The same for" in text or "identical" in text
    panel.list.clearSelection()
    panel.list.item(1).setSelected(True)
    panel.toggle_star()
    panel.apply_tags(panel.selected_ids() or [first], "geo, zh")
    assert cli("runs", "--starred", "--tag", "zh", "--json").json()[0]["id"] == first
    panel.list.clearSelection()
    panel.search.setText("")
    panel.refresh()
    row = [panel.list.item(i).data(Qt.UserRole) for i in range(panel.list.count())].index(english)
    panel.list.item(row).setSelected(True)
    code = panel.copy_code("python")
    assert "from llama_cpp import Llama" in code and "The tallest mountain in Taiwan is" in code
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: QMessageBox.Yes)
    panel.delete_selected()
    assert english not in [r["id"] for r in cli("runs", "--json").json()]


def test_keep_history_off_keeps_nothing(qtbot, window, cli):
    pg = window.playground
    pg.keep_history.setChecked(False)
    pg.prompt.setPlainText("Nothing kept")
    with qtbot.waitSignal(window.engine.worker.runFinished, timeout=60_000):
        pg.run_button.click()
    qtbot.waitUntil(pg.run_button.isEnabled, timeout=10_000)  # the UI has caught up with the worker
    assert cli("runs", "--json").json() == []
    pg.keep_history.setChecked(True)
    run(qtbot, window, "Kept again")
    assert len(cli("runs", "--json").json()) == 1
