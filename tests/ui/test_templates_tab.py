"""The Templates tab, offscreen, on a real SQLite file with the starter library."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from workbench import models
from workbench.library import files as library_files
from workbench.store import Store
from workbench.ui.tabs.templates import TemplatesTab


@pytest.fixture
def tab(qtbot, tmp_path):
    store = Store(tmp_path / "wb.sqlite")
    library_files.ensure_starter_library(store)
    widget = TemplatesTab(store)
    qtbot.addWidget(widget)
    widget.resize(1300, 800)
    widget.show()
    messages: list[str] = []
    widget.message.connect(messages.append)
    widget.messages = messages
    yield widget
    widget.shutdown()
    store.close()


def select(tab: TemplatesTab, name: str) -> None:
    for row in range(tab.library.count()):
        if tab.library.item(row).data(Qt.UserRole) == name:
            tab.library.setCurrentRow(row)
            return
    raise AssertionError(f"{name} not listed")


def names(tab: TemplatesTab) -> list[str]:
    return [tab.library.item(row).data(Qt.UserRole) for row in range(tab.library.count())]


def test_library_search_and_filters(qtbot, tab):
    assert len(names(tab)) >= 20
    tab.search.setText("step")
    assert "arithmetic-cot-trigger-en" in names(tab) and "sentiment-cloze-en" not in names(tab)
    tab.search.setText("")
    tab.kind_filter.setCurrentIndex(tab.kind_filter.findData("chain_of_thought"))
    assert names(tab) and all("cot" in n or "think" in n for n in names(tab))
    tab.kind_filter.setCurrentIndex(0)
    tab.tag_filter.setCurrentIndex(tab.tag_filter.findData("k5"))
    assert names(tab) == ["sentiment-5shot-en", "sentiment-5shot-zh"]


def test_preview_renders_and_counts_tokens_for_the_model(qtbot, tab, cli):
    select(tab, "sentiment-instruction-en")
    assert tab.name_edit.text() == "sentiment-instruction-en" and tab.version_label.text() == "v1"
    tab.set_model(models.resolve(None).path, 4096)
    tab.variable_form.edits["text"].setText("What a wonderful day.")
    qtbot.waitUntil(lambda: "What a wonderful day." in tab.preview.toPlainText(), timeout=10_000)
    qtbot.waitUntil(lambda: "tokens incl. BOS for" in tab.preview_status.text(), timeout=20_000)
    shown = int(re.search(r"<b>([\d,]+)</b> tokens", tab.preview_status.text()).group(1).replace(",", ""))
    rendered = cli("templates", "render", "sentiment-instruction-en", "--var", "text=What a wonderful day.", "--json")
    assert rendered.code == 0, rendered.stderr
    assert shown == rendered.json()["tokens"]  # the same count in the GUI and the CLI
    assert tab.preview.toPlainText() == rendered.json()["prompt"]
    tab.body.setPlainText(tab.body.toPlainText() + "\nExtra line {{ text | upper }}")
    qtbot.waitUntil(lambda: "WHAT A WONDERFUL DAY." in tab.preview.toPlainText(), timeout=10_000)
    tab.set_model(models.resolve(None).path, 20)
    qtbot.waitUntil(lambda: "more than the model's context" in tab.preview_status.text(), timeout=10_000)


def test_chat_preview_is_the_model_chat_format_and_counts_like_the_cli(qtbot, tab, cli):
    select(tab, "chat-tutor-en")
    tab.set_model(models.resolve(None).path, 4096)
    tab.variable_form.edits["question"].setText("What is 6 x 7?")
    qtbot.waitUntil(lambda: "tokens incl. BOS for" in tab.preview_status.text(), timeout=20_000)
    assert not models.resolve(None).has_chat_template  # the base model: turns become a plain transcript
    assert "User: What is 6 x 7?\nAssistant:" in tab.preview.toPlainText()
    shown = int(re.search(r"<b>([\d,]+)</b> tokens", tab.preview_status.text()).group(1).replace(",", ""))
    rendered = cli("templates", "render", "chat-tutor-en", "--var", "question=What is 6 x 7?", "--json").json()
    assert rendered["special"] is True and rendered["prompt"] == tab.preview.toPlainText()
    assert shown == rendered["tokens"]


def test_template_errors_show_in_the_preview(qtbot, tab):
    select(tab, "arithmetic-direct-en")
    tab.body.setPlainText("Q: {{ question }}\n{{ missing_one }}")
    qtbot.waitUntil(
        lambda: "undefined variable" in tab.preview_status.text() or "missing" in tab.preview_status.text(),
        timeout=5_000,
    )
    tab.body.setPlainText("{{ ''.__class__.__mro__ }}")
    qtbot.waitUntil(lambda: "refused by the sandbox" in tab.preview_status.text(), timeout=5_000)
    tab.body.setPlainText("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    qtbot.waitUntil(lambda: "took longer than 2 s to render" in tab.preview_status.text(), timeout=10_000)
    tab.body.setPlainText("{{ 'x' * 1000000000 }}")
    qtbot.waitUntil(lambda: "over the limit of 1,000,000" in tab.preview_status.text(), timeout=5_000)
    tab.body.setPlainText("{% for %}")
    qtbot.waitUntil(lambda: "syntax error" in tab.preview_status.text(), timeout=5_000)
    assert not tab.save()
    assert "syntax error" in tab.messages[-1]


def test_few_shot_examples_and_k_feed_the_preview(qtbot, tab):
    select(tab, "sentiment-5shot-en")
    tab.variable_form.edits["text"].setText("Query sentence.")
    qtbot.waitUntil(lambda: tab.preview.toPlainText().count("Sentence:") == 6, timeout=5_000)
    tab.k_spin.setValue(2)
    qtbot.waitUntil(lambda: tab.preview.toPlainText().count("Sentence:") == 3, timeout=5_000)
    tab.examples.rows.setData(tab.examples.rows.index(0, 0), "An edited example.")
    qtbot.waitUntil(lambda: "An edited example." in tab.preview.toPlainText(), timeout=5_000)


def test_save_makes_a_version_and_restore_brings_an_old_one_back(qtbot, tab):
    select(tab, "summarise-tldr-en")
    original = tab.body.toPlainText()
    tab.body.setPlainText(original.replace("TL;DR:", "In one sentence:"))
    assert tab.dirty and "edited" in tab.version_label.text()
    assert tab.save()
    assert tab.version_label.text() == "v2" and not tab.dirty
    assert tab.store.get_template("summarise-tldr-en").body.endswith("In one sentence:")
    assert tab.history.list.count() == 2
    tab.history.list.setCurrentRow(1)  # v1
    assert "TL;DR:" in tab.history.diff.toPlainText() and "In one sentence:" in tab.history.diff.toPlainText()
    tab.restore_selected()
    assert tab.body.toPlainText() == original and tab.dirty
    assert tab.save()
    assert [v.version for v in tab.store.template_history("summarise-tldr-en")] == [3, 2, 1]
    assert tab.store.get_template("summarise-tldr-en").body == original
    assert tab.save()  # saving again without changes adds nothing
    assert len(tab.store.template_history("summarise-tldr-en")) == 3


def test_new_template_and_a_duplicate_name_becomes_a_version(qtbot, tab):
    tab.new_template()
    tab.name_edit.setText("sentiment-cloze-en")
    tab.body.setPlainText("A different body {{ text }}")
    assert tab.save()
    assert tab.store.get_template("sentiment-cloze-en").version == 2
    assert names(tab).count("sentiment-cloze-en") == 1


def test_unsaved_changes_guard(qtbot, tab, monkeypatch):
    select(tab, "translate-instruction")
    tab.description_edit.setText("changed description")
    monkeypatch.setattr(tab, "ask_unsaved", lambda: QMessageBox.Cancel)
    select(tab, "translate-fewshot")
    assert tab.name_edit.text() == "translate-instruction" and tab.dirty
    monkeypatch.setattr(tab, "ask_unsaved", lambda: QMessageBox.Discard)
    select(tab, "translate-fewshot")
    assert tab.name_edit.text() == "translate-fewshot" and not tab.dirty
    assert tab.store.get_template("translate-instruction").description != "changed description"
    tab.body.setPlainText(tab.body.toPlainText() + "\n")
    monkeypatch.setattr(tab, "ask_unsaved", lambda: QMessageBox.Save)
    assert tab.confirm_discard()
    assert tab.store.get_template("translate-fewshot").version == 2


def test_fill_from_case_and_send_to_playground(qtbot, tmp_path, monkeypatch):
    from workbench.ui.app import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model_info is not None, timeout=30_000)
    tab = win.templates
    assert "sentiment-cloze-zh" in names(tab)  # imported on first start
    select(tab, "arithmetic-cot-trigger-en")
    index = tab.case_picker.findText("arithmetic-en:a04")
    tab.case_picker.setCurrentIndex(index)
    tab.preview_panel.fill_from_case(index)
    assert tab.variable_form.values()["question"].startswith("Roger has 5 tennis balls")
    tab.send_button.click()  # rendered on the preview's thread, then handed over
    qtbot.waitUntil(lambda: win.tabs.currentWidget() is win.playground, timeout=10_000)
    qtbot.waitUntil(lambda: win.playground.prompt.toPlainText().endswith("A: Let's think step by step."))
    tab.body.setPlainText("edited {{ question }}")
    monkeypatch.setattr(tab, "ask_unsaved", lambda: QMessageBox.Cancel)
    win.close()
    assert win.isVisible()  # close refused: unsaved template
    monkeypatch.setattr(tab, "ask_unsaved", lambda: QMessageBox.Discard)
    win.close()
    assert not win.isVisible()


def test_opening_a_template_from_elsewhere_selects_it_in_the_library(qtbot, tab):
    select(tab, "sentiment-instruction-en")
    tab.open_template("arithmetic-cot-trigger-en")  # e.g. from another tab
    assert tab.name_edit.text() == "arithmetic-cot-trigger-en"
    assert tab.library.currentItem().data(Qt.UserRole) == "arithmetic-cot-trigger-en"
    assert tab.settings_form.max_tokens.value() == 200 and tab.settings_form.stop.text() == "\\nQ:"


def test_send_to_playground_renders_off_the_ui_thread(qtbot, tab, cli):
    select(tab, "sentiment-instruction-en")
    tab.set_model(models.resolve(None).path, 4096)
    tab.variable_form.edits["text"].setText("What a wonderful day.")
    with qtbot.waitSignal(tab.sendToPlayground, timeout=10_000) as sent:
        tab.send_button.click()
    rendered = cli("templates", "render", "sentiment-instruction-en", "--var", "text=What a wonderful day.", "--json")
    assert sent.args == [rendered.json()["prompt"]]
    tab.body.setPlainText("{{ missing_variable }}")
    with qtbot.waitSignal(tab.message, timeout=10_000) as failed:
        tab.send_button.click()
    assert "missing_variable" in failed.args[0]
