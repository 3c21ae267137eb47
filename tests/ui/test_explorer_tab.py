"""The Explorer tab on the real default model: the chart, re-shaping, growing and reopening a tree."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from workbench.explore import tree as trees
from workbench.ui.app import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.explorer.backend is not None, timeout=30_000)
    errors: list[str] = []
    win.show_error = errors.append
    win.errors = errors
    yield win
    win.close()


def idle(tab) -> bool:
    return tab.view is not None and tab.new_button.isEnabled()


def test_chart_matches_the_cli_and_sliders_reshape_without_the_model(qtbot, window, cli):
    tab = window.explorer
    tab.prefix.setPlainText("台湾最高的山是")
    tab.new_tree()
    qtbot.waitUntil(lambda: idle(tab), timeout=30_000)
    tab.temperature.setValue(70)
    tab.top_k.setValue(20)
    tab.top_p.setValue(90)
    tab.min_p.setValue(2)
    tab.top_n.setValue(10)
    shown = cli(
        "next",
        "-p",
        "台湾最高的山是",
        "-t",
        "0.7",
        "--top-k",
        "20",
        "--top-p",
        "0.9",
        "--min-p",
        "0.02",
        "--top",
        "10",
        "--json",
    ).json()
    chart = tab.chart.dist
    assert [c.id for c in chart.candidates] == [c["id"] for c in shown["candidates"]]
    assert [round(c.prob_sampled, 6) for c in chart.candidates] == [
        round(c["prob_sampled"], 6) for c in shown["candidates"]
    ]
    evaluated = tab.backend.prompt_tokens_evaluated
    before = [c.prob_sampled for c in tab.chart.dist.candidates]
    tab.temperature.setValue(150)  # flatter
    after = [c.prob_sampled for c in tab.chart.dist.candidates]
    assert after != before and max(after) < max(before)
    tab.temperature.setValue(0)  # greedy: one bar left
    assert [c.kept for c in tab.chart.dist.candidates].count(True) == 1
    assert tab.backend.prompt_tokens_evaluated == evaluated  # no model call while re-shaping
    assert "entropy" in tab.summary.text()


def test_grow_branches_then_reopen_the_saved_tree(qtbot, window):
    tab = window.explorer
    tab.prefix.setPlainText("The tallest mountain in Taiwan is")
    tab.new_tree()
    qtbot.waitUntil(lambda: idle(tab), timeout=30_000)
    second, shown_logprob = tab.chart.dist.candidates[1].id, tab.chart.dist.candidates[1].logprob
    tab.chart.picked.emit(second)  # a click on the second bar
    qtbot.waitUntil(lambda: idle(tab) and tab.view.node != tab.view.tree.root, timeout=30_000)
    assert tab.view.tree.nodes[tab.view.node].token_id == second
    assert tab.view.tree.nodes[tab.view.node].logprob == pytest.approx(shown_logprob, abs=1e-9)  # the bar's number
    tab.auto_steps.setValue(12)
    tab.auto()  # greedy
    qtbot.waitUntil(lambda: idle(tab) and len(tab.view.tree.path(tab.view.node)) == 13, timeout=60_000)
    assert "repeated 3-grams" in tab.meter.text()
    tree_id = tab.view.tree.id
    tab.branches.setCurrentItem(tab.branches.items[tab.view.tree.root])  # back to the prompt
    qtbot.waitUntil(lambda: idle(tab) and tab.view.node == tab.view.tree.root, timeout=30_000)
    tab.greedy()  # a sibling branch at the root
    qtbot.waitUntil(lambda: idle(tab) and len(tab.view.tree.node(None).children) == 2, timeout=30_000)
    tab.runs.setValue(4)
    tab.add_runs()
    qtbot.waitUntil(lambda: idle(tab) and any(n.count for n in tab.view.tree.nodes.values()), timeout=60_000)
    runs = [n for n in tab.view.tree.nodes.values() if n.count and n.parent == tab.view.node]
    assert sum(n.count for n in runs) == 4
    grown = tab.view.tree.to_dict()
    tab.new_tree()
    qtbot.waitUntil(lambda: idle(tab) and tab.view.tree.id != tree_id, timeout=30_000)
    tab.open_tree(tree_id)
    qtbot.waitUntil(lambda: idle(tab) and tab.view.tree.id == tree_id, timeout=30_000)
    assert tab.view.tree.to_dict() == grown == trees.load_tree(tab.store, tree_id).to_dict()
    assert tab.saved.count() == 2 and not window.errors


def test_beam_search_draws_its_tree_and_errors_are_messages(qtbot, window):
    tab = window.explorer
    tab.prefix.setPlainText("Once upon a time")
    tab.new_tree()
    qtbot.waitUntil(lambda: idle(tab), timeout=30_000)
    tab.beams.setValue(3)
    tab.add_beams()
    qtbot.waitUntil(lambda: idle(tab) and len(tab.view.tree.nodes) > 3, timeout=60_000)
    assert {n.how for n in tab.view.tree.nodes.values()} == {"prompt", "beam"}
    assert len(tab.view.tree.leaves()) >= 3
    best = tab.view.tree.nodes[tab.view.node]  # the view moves to the best beam's end
    assert best.how == "beam" and not best.children and len(tab.view.tree.path(best.id)) == 8
    tab.prefix.setPlainText("")
    tab.new_tree()
    qtbot.waitUntil(lambda: bool(window.errors), timeout=10_000)
    assert window.errors[-1] == "the prompt is empty" and tab.new_button.isEnabled()


def test_an_alternative_in_a_playground_token_card_opens_the_explorer_there(qtbot, window):
    from PySide6.QtCore import QPoint

    playground = window.playground
    playground.prompt.setPlainText("The tallest mountain in Taiwan is")
    playground.temperature.set_value(0.0)
    playground.max_tokens.set_value(5)
    playground.samples.set_value(1)
    playground.run()
    qtbot.waitUntil(
        lambda: playground.run_button.isEnabled() and bool(playground.columns[0].view.tokens), timeout=30_000
    )
    view = playground.columns[0].view
    qtbot.waitUntil(lambda: len(view.tokens) == 5, timeout=30_000)
    playground._pin(view, 2, QPoint(10, 10))  # click the third token: its card is pinned
    step = view.tokens[2]
    alternative = step.top[1]
    playground.popup.chart.picked.emit(alternative.id)  # click the second alternative in the card
    tab = window.explorer
    assert window.tabs.currentWidget() is tab
    qtbot.waitUntil(lambda: idle(tab) and tab.view.tree.nodes[tab.view.node].how == "what-if", timeout=30_000)
    path = tab.view.tree.path(tab.view.node)
    assert [n.token_id for n in path] == [view.tokens[0].id, view.tokens[1].id, alternative.id]
    assert path[-1].logprob == pytest.approx(alternative.logprob)  # the number the card showed
    assert tab.view.tree.prompt == "The tallest mountain in Taiwan is"


def test_the_playground_prompt_coloured_by_surprise_equals_workbench_score(qtbot, window, cli):
    window.playground.prompt.setPlainText("台湾最高的山是玉山。")
    window.playground.surprise_button.click()
    tab = window.explorer
    assert window.tabs.currentWidget() is tab
    qtbot.waitUntil(lambda: tab.scored is not None, timeout=30_000)
    shown = cli("score", "--text", "台湾最高的山是玉山。", "--json").json()
    assert [t.logprob for t in tab.scored.tokens] == pytest.approx([t["logprob"] for t in shown["tokens"]], abs=1e-6)
    assert f"perplexity {shown['perplexity']:.2f}" in tab.meter.text()
    from PySide6.QtCore import QUrl
    from PySide6.QtWidgets import QToolTip

    tab._hover_token(QUrl("#1"))  # the mouse over the second token of the text panel
    second = shown["tokens"][1]
    assert f"rank {second['rank']}" in QToolTip.text() and "bits" in QToolTip.text()
