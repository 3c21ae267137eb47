"""The Tokenizer tab, offscreen, with the real tokenizers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QMouseEvent, QTextCursor
from PySide6.QtWidgets import QApplication

from workbench.text import tokenizers
from workbench.ui.probe import StallProbe
from workbench.ui.tabs.tokenizer import MAX_COLUMNS, TokenizerTab


@pytest.fixture
def tab(qtbot):
    widget = TokenizerTab()
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    messages: list[str] = []
    widget.message.connect(messages.append)
    widget.messages = messages
    wait_idle(qtbot, widget)
    yield widget
    widget.shutdown()


def wait_idle(qtbot, widget: TokenizerTab, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def set_text(qtbot, widget: TokenizerTab, text: str) -> None:
    widget.input.setPlainText(text)
    widget.tokenize_now()
    wait_idle(qtbot, widget)


def move_mouse(column, point: QPoint) -> None:
    """A real mouse-move event to the viewport (QTest.mouseMove moves no pointer on the offscreen platform)."""
    event = QMouseEvent(
        QEvent.MouseMove,
        QPointF(point),
        QPointF(column.viewport().mapToGlobal(point)),
        Qt.NoButton,
        Qt.NoButton,
        Qt.NoModifier,
    )
    QApplication.sendEvent(column.viewport(), event)


def test_counts_side_by_side_and_summary(qtbot, tab):
    set_text(qtbot, tab, "台湾最高的山是哪座?")
    model, cl100k = tab.panes
    assert (model.name, cl100k.name) == ("model", "cl100k_base")
    assert model.column.tokenization.count == 7 and cl100k.column.tokenization.count == 13
    assert model.stats.text().startswith("<b>7</b> tokens")
    assert "gpt-4 $0.000390" in cl100k.stats.text()  # 13 tokens at $30 / 1M
    assert tab.summary.text() == "Same text — model: 7 tokens · cl100k_base: 13 tokens (1.86× model)"


def test_hovering_a_token_highlights_the_same_characters_everywhere(qtbot, tab):
    set_text(qtbot, tab, "台湾最高的山是哪座?")
    model, cl100k = (pane.column for pane in tab.panes)
    # cl100k cuts 湾 (character 1) into two byte tokens; the model keeps 台湾 as one token
    cursor = QTextCursor(cl100k.document())
    cursor.setPosition(int(cl100k.layout_.seg_start[1]) + 1)
    point = cl100k.cursorRect(cursor).center() - QPoint(2, 0)
    assert cl100k.token_at(point) == 1
    with qtbot.waitSignal(cl100k.hovered, timeout=2_000) as hovered:
        move_mouse(cl100k, point)
    assert hovered.args == [1, 2]
    assert model.highlighted == range(0, 1)  # 台湾
    assert cl100k.highlighted == range(1, 3)  # both bytes of 湾
    selections = tab.input.extraSelections()
    assert len(selections) == 1
    assert selections[0].cursor.selectedText() == "湾"
    move_mouse(cl100k, QPoint(cl100k.viewport().width() - 3, cl100k.viewport().height() - 3))
    qtbot.waitUntil(lambda: not model.highlighted, timeout=2_000)


def test_toggles_show_ids_and_bytes_and_parse_special_tokens(qtbot, tab):
    set_text(qtbot, tab, "hi <|endoftext|>")
    plain_count = tab.panes[1].column.tokenization.count
    tab.ids_toggle.setChecked(True)
    wait_idle(qtbot, tab)
    assert tab.panes[1].column.toPlainText().startswith("hi₆₁₅₁")  # "hi" is id 6151 in cl100k_base
    tab.bytes_toggle.setChecked(True)
    wait_idle(qtbot, tab)
    assert "‹68 69›" in tab.panes[1].column.toPlainText()  # Qt gives the no-break space back as a space
    tab.special_toggle.setChecked(True)
    wait_idle(qtbot, tab)
    assert tab.panes[1].column.tokenization.count < plain_count
    assert tab.panes[1].column.tokenization.special[-1]


def test_columns_add_up_to_four_and_unavailable_encodings_are_disabled(qtbot, tab):
    while tab.add_button.isEnabled():
        tab.add_button.click()
    assert len(tab.panes) == MAX_COLUMNS
    wait_idle(qtbot, tab)
    assert all(pane.column.tokenization is not None for pane in tab.panes)
    picker = tab.panes[0].picker
    row = picker.findData("p50k_base")
    assert row >= 0 and not picker.model().item(row).isEnabled()
    assert "no network" in picker.model().item(row).toolTip()
    tab.remove_column(tab.panes[-1])
    assert len(tab.panes) == MAX_COLUMNS - 1 and tab.add_button.isEnabled()


def test_bad_inputs_give_one_clear_message(qtbot, tab, tmp_path):
    set_text(qtbot, tab, "")
    assert tab.summary.text() == "Empty text: nothing to tokenize."
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff")
    assert not tab.open_path(str(bad))
    assert "byte 0xff at offset 5 (line 2" in tab.messages[-1]
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert not tab.open_path(str(huge))
    assert "52.4 MB" in tab.messages[-1]
    mime = QMimeData()
    mime.setText("a" * (tokenizers.MAX_TEXT_BYTES + 1))
    tab.input.insertFromMimeData(mime)
    assert tab.input.toPlainText() == "" and "pasted text is 10.5 MB" in tab.messages[-1]
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"a\x00b")
    assert tab.open_path(str(nul))
    wait_idle(qtbot, tab)
    assert "␀" in tab.panes[0].column.toPlainText()


def test_a_megabyte_paste_stays_responsive(qtbot, tab):
    line = "The quick brown fox 跳过了 the lazy dog 🦊; x = [i ** 2 for i in range(10)]\n"
    text = (line * (1_000_000 // len(line.encode()) + 1))[:1_000_000]
    probe = StallProbe()
    probe.start()
    mime = QMimeData()
    mime.setText(text)
    tab.input.insertFromMimeData(mime)
    qtbot.waitUntil(lambda: tab.busy, timeout=2_000)
    wait_idle(qtbot, tab, timeout=120_000)
    probe.stop()
    counts = [pane.column.tokenization.count for pane in tab.panes]
    assert all(count > 200_000 for count in counts)
    assert probe.worst_ms < 250, f"the UI froze for {probe.worst_ms:.0f} ms"
    column = tab.panes[0].column
    column.verticalScrollBar().setValue(column.verticalScrollBar().maximum() // 2)
    qtbot.waitUntil(lambda: column.visible_tokens().start > 1000, timeout=5_000)
    qtbot.waitUntil(lambda: len(column.extraSelections()) >= len(column.visible_tokens()), timeout=5_000)


def test_settings_round_trip(qtbot, tab, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    tab.add_column("gemma-3-270m-q4_k_m")
    tab.ids_toggle.setChecked(True)
    tab.price_table.rows.setData(tab.price_table.rows.index(0, 2), "12.5")
    tab.save_settings(settings)
    other = TokenizerTab()
    qtbot.addWidget(other)
    other.load_settings(settings)
    assert [pane.name for pane in other.panes] == ["model", "cl100k_base", "gemma-3-270m-q4_k_m"]
    assert other.ids_toggle.isChecked()
    assert other.price_table.prices()[0].usd_per_million == 12.5
    wait_idle(qtbot, other)
    other.shutdown()
