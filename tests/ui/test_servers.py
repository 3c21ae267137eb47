"""A server as a model in the real window: the Models tab's Servers panel saves and checks a connection to a
real OpenAI-compatible server on 127.0.0.1, the window loads it, and the Playground shows what it reports."""

from __future__ import annotations

import pytest
from windows import open_window, run_playground

from workbench import models
from workbench.engine.base import RAW_ONLY
from workbench.ui.token_view import describe


@pytest.fixture
def window(qtbot, tmp_path):
    win = open_window(qtbot, tmp_path, models.resolve(models.INSTRUCT_MODEL_NAME).path)
    yield win
    win.close()


def test_a_saved_server_is_checked_loaded_and_run(qtbot, window, llama_server):
    panel = window.models_tab.servers
    window.tabs.setCurrentWidget(window.models_tab)
    panel.name.setText("lab")
    panel.base_url.setText(llama_server)
    panel.model.setText("smol")
    panel.key_env.setText("")
    assert panel.save()
    assert [e.connection for e in window.store.connections()] == ["lab"] and panel.list.count() == 1
    picker_values = [window.model_picker.itemData(i) for i in range(window.model_picker.count())]
    assert "connection:lab" in picker_values  # the window offers it as a model
    panel.list.setCurrentRow(0)
    panel.check()
    qtbot.waitUntil(lambda: "llama-cpp-python server answering with smol" in panel.status.text(), timeout=30_000)
    assert "serves: gemma, smol" in panel.status.text()

    panel.use()
    qtbot.waitUntil(lambda: window.model_info is not None and window.model_info.source == "remote", timeout=30_000)
    assert window.model_info.name == "lab/smol"
    (steps,) = run_playground(qtbot, window, "The sky is", temperature=0.0, max_tokens=4)
    assert steps and all(s.probabilities == RAW_ONLY for s in steps)
    card = describe(steps[0])
    assert "token id not reported by the server" in card and "raw probabilities only" in card
    assert window.errors == []


def test_bad_server_settings_are_clear_messages(qtbot, window):
    panel = window.models_tab.servers
    messages: list[str] = []
    panel.message.connect(messages.append)
    panel.name.setText("broken")
    panel.base_url.setText("localhost:8080")
    assert not panel.save() and "not an http(s) URL" in messages[-1]
    panel.base_url.setText("http://127.0.0.1:9/v1")
    assert panel.save()
    panel.use_keyring.setChecked(True)
    panel.key.setText("s3cret")
    assert not panel.save() and "no usable system keyring" in messages[-1]
    assert b"s3cret" not in window.store.path.read_bytes()
    panel.list.setCurrentRow(0)
    panel.check()
    qtbot.waitUntil(lambda: "cannot reach http://127.0.0.1:9/v1" in panel.status.text(), timeout=30_000)
    panel.remove()
    assert window.store.connections() == []


def test_help_opens_the_log_folder(qtbot, window, monkeypatch, tmp_path):
    import workbench.ui.app as app_module

    opened = []
    monkeypatch.setattr(app_module.QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    action = next(a for a in help_menu.actions() if a.text() == "Open log folder")
    action.trigger()
    assert opened == [str(tmp_path / "logs")] and (tmp_path / "logs").is_dir()
