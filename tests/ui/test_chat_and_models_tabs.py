"""The Chat and Models tabs in the real window, on the real embedded models."""

from __future__ import annotations

import json

import pytest
from windows import open_window

from workbench import models
from workbench.chat import session
from workbench.chat.conversation import ChatRenderer
from workbench.models import library as model_library


@pytest.fixture
def window(qtbot, tmp_path):
    path = models.resolve(models.INSTRUCT_MODEL_NAME).path
    win = open_window(qtbot, tmp_path, path, ready=lambda w: w.chat.backend is not None)
    yield win
    win.close()


def _send(qtbot, tab, text: str) -> None:
    tab.input.setPlainText(text)
    with qtbot.waitSignal(tab.turnFinished, timeout=60_000):
        tab.send()
    assert tab.send_button.isEnabled()


def test_chat_streams_saves_and_shows_the_prompt_as_the_model_sees_it(qtbot, window):
    tab = window.chat
    window.tabs.setCurrentWidget(tab)
    assert tab.conversation.model == models.INSTRUCT_MODEL_NAME
    tab.system.setPlainText("Answer in one short sentence.")
    tab.temperature.set_value(0.0)
    tab.max_tokens.setValue(16)
    _send(qtbot, tab, "What is the capital of France?")
    conversation = tab.conversation
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    answer = conversation.messages[1]
    assert answer.tokens and answer.content
    saved = session.load(tab.store, conversation.id)
    assert saved.messages == conversation.messages and saved.system_prompt == "Answer in one short sentence."
    assert tab.conversations.count() == 1
    bubble = tab.findChild(type(tab.transcript.itemAt(1).widget()), "message-1")
    assert [s.id for s in bubble.view.tokens] == [s.id for s in answer.tokens]  # the shared token view

    tab.input.setPlainText("And of Italy?")
    tab.refresh_prompt()
    qtbot.waitUntil(lambda: "And of Italy?" in tab.prompt_pane.text.toPlainText(), timeout=10_000)
    expected = ChatRenderer(tab.backend.info).prompt(
        session.next_turn_preview(tab._current(), "And of Italy?"), tab.backend.n_ctx
    )
    assert tab.prompt_pane.text.toPlainText() == expected.text
    assert tab.prompt_pane.meter.value() == expected.used
    assert tab.prompt_pane.turn_rows.rowCount() == len(expected.turns) == 4
    assert not tab.prompt_pane.notice.isVisible()
    assert window.errors == []


def test_editing_a_turn_cuts_the_rest_and_regenerate_replaces_the_answer(qtbot, window):
    tab = window.chat
    window.tabs.setCurrentWidget(tab)
    tab.temperature.set_value(0.0)
    tab.max_tokens.setValue(8)
    _send(qtbot, tab, "Name a colour.")
    _send(qtbot, tab, "Name another one.")
    assert len(tab.conversation.messages) == 4
    tab.start_edit(0)
    assert tab.edit_banner.isVisible() and "cuts the 3 message(s)" in tab.edit_banner.text()
    tab.input.setPlainText("Name a fruit.")
    with qtbot.waitSignal(tab.turnFinished, timeout=60_000):
        tab.send()
    assert tab.conversation.messages[0].content == "Name a fruit."
    assert len(tab.conversation.messages) == 2
    first_id = tab.conversation.id
    tab.temperature.set_value(1.5)
    with qtbot.waitSignal(tab.turnFinished, timeout=60_000):
        tab.regenerate()
    assert len(tab.conversation.messages) == 2 and tab.conversation.id == first_id
    assert len(session.load(tab.store, first_id).messages) == 2


def test_empty_message_and_wrong_model_are_clear_messages(qtbot, window):
    tab = window.chat
    window.tabs.setCurrentWidget(tab)
    tab.input.setPlainText("   ")
    tab.send()
    assert window.errors and "the message is empty" in window.errors[-1]
    assert tab.conversation.messages == ()
    gemma = models.resolve(models.DEFAULT_MODEL_NAME)
    tab.conversation = session.new_conversation(gemma)
    tab._show_messages()
    assert tab.load_button.isVisible() and not tab.send_button.isEnabled()


def test_the_base_model_shows_the_format_notice(qtbot, window):
    tab = window.chat
    window.tabs.setCurrentWidget(tab)
    window.load_model(models.resolve(models.DEFAULT_MODEL_NAME).path)
    qtbot.waitUntil(
        lambda: tab.backend is not None and tab.backend.info.name == models.DEFAULT_MODEL_NAME, timeout=30_000
    )
    tab.new_conversation()
    tab.input.setPlainText("Hello")
    tab.refresh_prompt()
    qtbot.waitUntil(lambda: tab.prompt_pane.notice.text() != "", timeout=10_000)
    assert "never trained on" in tab.prompt_pane.notice.text()
    assert "<start_of_turn>" in tab.prompt_pane.text.toPlainText()


def test_export_writes_every_conversation(qtbot, window, tmp_path):
    tab = window.chat
    tab.max_tokens.setValue(4)
    _send(qtbot, tab, "Hi")
    path = tmp_path / "out.jsonl"
    assert tab.export_to(path) == 1
    line = json.loads(path.read_text(encoding="utf-8"))
    assert line["messages"][0] == {"role": "user", "content": "Hi"}


def test_models_tab_shows_the_cli_metadata_and_estimates(qtbot, window, cli):
    tab = window.models_tab
    window.tabs.setCurrentWidget(tab)
    listed = cli("models", "--json").json()
    assert [tab.rows.text(r, 1) for r in range(tab.rows.rowCount())] == [m["name"] for m in listed]
    row = [m["name"] for m in listed].index(models.INSTRUCT_MODEL_NAME)
    tab.table.selectRow(row)
    shown = cli("models", "--show", models.INSTRUCT_MODEL_NAME, "--json").json()
    assert tab.values["layers"].text() == f"{shown['layers']:,}"
    assert tab.values["quantization"].text() == shown["quantization"]
    assert tab.values["bits_per_weight"].text() == str(shown["bits_per_weight"])
    assert tab.template.toPlainText() == shown["chat_template"]
    mib = shown["memory_estimate"]["kv_bytes"] / 2**20
    assert f"K/V cache {mib:,.0f} MiB" in tab.estimate.text()
    assert not tab.gpu_layers.isEnabled() and "no GPU backend" in tab.gpu_layers.toolTip()
    tab.n_ctx.setValue(16_384)
    assert "above smollm2-135m-instruct-q4_1's trained maximum of 8,192" in tab.warnings.text()
    tab.n_ctx.setValue(2048)
    assert tab.save_settings()
    info = models.resolve(models.INSTRUCT_MODEL_NAME)
    assert model_library.saved_load_settings(info).n_ctx == 2048
    with qtbot.waitSignal(window.engine.worker.modelLoaded, timeout=30_000):
        tab.load_selected()
    assert window.n_ctx == 2048


def test_models_tab_refuses_bad_files_and_sets_the_default(qtbot, window, tmp_path):
    tab = window.models_tab
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    assert tab.add_file(bad, "copy") is None
    assert window.errors and "not a GGUF model" in window.errors[-1]
    row = [info.name for info in tab.found].index(models.INSTRUCT_MODEL_NAME)
    tab.table.selectRow(row)
    tab.set_default()
    assert models.default_model().name == models.INSTRUCT_MODEL_NAME
    assert tab.rows.text(row, 0) == "★"
    assert "★" in window.model_picker.itemText(window.model_picker.findData(tab.found[row].path))


def test_quick_benchmark_is_measured_and_stored(qtbot, window):
    tab = window.models_tab
    row = [info.name for info in tab.found].index(models.INSTRUCT_MODEL_NAME)
    tab.table.selectRow(row)
    with qtbot.waitSignal(tab.bench_job.finished, timeout=120_000):
        tab.benchmark()
    stored = models.preferences()[tab.found[row].path].benchmark
    assert stored["prompt_tokens"] == 256 and stored["prompt_tokens_per_s"] > 0
    assert stored["generation_tokens_per_s"] > 0
    assert f"{stored['generation_tokens_per_s']:,}" in tab.bench_result.text()


def test_a_dropped_gguf_is_added_the_way_the_user_chose(qtbot, window, tmp_path, monkeypatch):
    import shutil

    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    tab = window.models_tab
    window.tabs.setCurrentWidget(tab)
    source = tmp_path / "dropped.gguf"
    shutil.copyfile(models.resolve(models.INSTRUCT_MODEL_NAME).path, source)
    monkeypatch.setattr(tab, "ask_mode", lambda _path: "link")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    tab.dropEvent(event)
    added = next(info for info in tab.found if info.path == str(source.resolve()))
    assert added.source == "linked" and "linked: the file stays where it is" in tab.notice.text()
    assert window.model_picker.findData(added.path) >= 0


def test_stop_keeps_the_answer_so_far(qtbot, window):
    tab = window.chat
    window.tabs.setCurrentWidget(tab)
    tab.temperature.set_value(1.0)
    tab.max_tokens.setValue(400)
    tab.input.setPlainText("Write a long story about a dragon.")
    tab.send()
    qtbot.waitUntil(lambda: tab.streaming is not None and len(tab.streaming.tokens) >= 3, timeout=30_000)
    with qtbot.waitSignal(tab.turnFinished, timeout=30_000):
        tab.stop_button.click()
    answer = tab.conversation.messages[-1]
    assert answer.finish_reason == "cancelled" and 3 <= len(answer.tokens) < 400
    assert session.load(tab.store, tab.conversation.id).messages[-1].finish_reason == "cancelled"
