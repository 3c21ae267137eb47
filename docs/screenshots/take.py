"""Re-take the README screenshots offscreen: `QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/take.py`
(all of them, or only some: `take.py chat models`).

Chinese needs a CJK font (Debian: fonts-noto-cjk).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QPoint, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workbench.ui.app import MainWindow

HERE = Path(__file__).resolve().parent


def wait(app: QApplication, condition, seconds: float = 120) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        loop = QEventLoop()
        QTimer.singleShot(10, loop.quit)
        loop.exec()


def shoot(app: QApplication, win: MainWindow, prompt: str, name: str, samples: int, temperature: float) -> None:
    pg = win.playground
    pg.prompt.setPlainText(prompt)
    pg.samples.set_value(samples)
    pg.temperature.set_value(temperature)
    pg.max_tokens.set_value(48)
    pg.random_seed.setChecked(False)
    pg.seed.setValue(3)
    done = []
    win.engine.worker.runFinished.connect(lambda: done.append(True))
    pg.run_button.click()
    wait(app, lambda: bool(done))
    app.processEvents()
    win.grab().save(str(HERE / f"{name}.png"))
    view = pg.columns[0].view
    for x in range(5, view.viewport().width(), 5):
        index = view.index_at(QPoint(x, 30))
        if index >= 1:
            pg._pin(view, index, view.mapToGlobal(QPoint(x, 30)))
            app.processEvents()
            pg.popup.grab().save(str(HERE / f"{name}-popup.png"))
            pg.popup.pinned = False
            pg.popup.hide()
            break


def shoot_numeric_check(app: QApplication, win: MainWindow) -> None:
    """A pinned token card after its numeric check (the last run's first sample, third token)."""
    pg = win.playground
    view = pg.columns[0].view
    pg._pin(view, 2, view.mapToGlobal(QPoint(40, 30)))
    checked = []
    win.engine.worker.numericChecked.connect(lambda check: checked.append(check))
    pg.popup.check_button.click()
    wait(app, lambda: bool(checked))
    wait(app, lambda: False, 0.3)
    pg.popup.grab().save(str(HERE / "playground-numeric-check.png"))
    pg.popup.pinned = False
    pg.popup.hide()


TOKENIZER_TEXT = (
    "台湾最高的山是哪座?人工智慧真神奇!\n"
    "I am unkillable. 吾輩は猫である。\n"
    "Family 👨‍👩‍👧 café e\u0301 مرحبا بالعالم\n"
    "def f(x):\n\treturn x ** 2  # <|endoftext|>\n"
)


def shoot_tokenizer(app: QApplication, win: MainWindow) -> None:
    tab = win.tokenizer
    win.tabs.setCurrentWidget(tab)
    tab.set_names(["model", "cl100k_base"])
    tab.input.setPlainText(TOKENIZER_TEXT)
    tab.tokenize_now()
    wait(app, lambda: not tab.busy)
    model, cl100k = (pane.column for pane in tab.panes)
    start = TOKENIZER_TEXT.index("湾")
    for column in (model, cl100k):
        column.highlight_chars(start, start + 1, scroll=False)
    tab._highlight_input(start, start + 1)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "tokenizer.png"))
    tab.ids_toggle.setChecked(True)
    wait(app, lambda: not tab.busy)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "tokenizer-ids.png"))
    tab.ids_toggle.setChecked(False)


def shoot_templates(app: QApplication, win: MainWindow) -> None:

    tab = win.templates
    win.tabs.setCurrentWidget(tab)
    for row in range(tab.library.count()):
        if tab.library.item(row).data(Qt.UserRole) == "arithmetic-cot-fewshot-zh":
            tab.library.setCurrentRow(row)
    index = tab.case_picker.findText("arithmetic-zh:a02")
    tab.case_picker.setCurrentIndex(index)
    tab.preview_panel.fill_from_case(index)
    question = tab.case_picker.itemData(index)["question"]
    wait(app, lambda: question in tab.preview.toPlainText() and "tokens incl. BOS for" in tab.preview_status.text())
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "templates.png"))
    tab.body.setPlainText(tab.body.toPlainText().replace("解答:", "解答(请写出每一步):"))
    tab.save()
    tab.side_tabs.setCurrentIndex(1)
    tab.history.list.setCurrentRow(1)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "templates-history.png"))
    tab.open_template("arithmetic-cot-trigger-en")
    tab.side_tabs.setCurrentIndex(0)
    tab.editor_tabs.setCurrentIndex(tab.editor_tabs.count() - 1)  # Generation: the recommended settings
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "templates-generation.png"))


def shoot_compare(app: QApplication, win: MainWindow) -> None:
    tab = win.compare
    win.tabs.setCurrentWidget(tab)
    for name in ("sentiment-cloze-en", "sentiment-instruction-en", "sentiment-3shot-en", "sentiment-0shot-en"):
        tab.add_template(name)
    tab.builder.dataset.setCurrentText("sentiment-en")
    tab.builder.max_tokens.setValue(0)  # each template's own settings
    tab.start_new()
    wait(app, lambda: tab.experiment_id is not None and not tab.running, 600)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "compare.png"))
    headers = [tab.results.headerData(c, Qt.Horizontal) for c in range(tab.results.columnCount())]
    dialog = tab.inspect(5, headers.index("sentiment-3shot-en"))
    wait(app, lambda: False, 0.3)
    dialog.grab().save(str(HERE / "compare-cell.png"))
    dialog.close()
    tab.result_tabs.setCurrentIndex(1)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "compare-review.png"))


def shoot_explorer(app: QApplication, win: MainWindow) -> None:
    tab = win.explorer
    win.tabs.setCurrentWidget(tab)

    def idle() -> bool:
        return tab.view is not None and tab.new_button.isEnabled()

    tab.prefix.setPlainText("罕见的汉字:龘")  # the next tokens include UTF-8 byte fragments
    tab.new_tree()
    wait(app, idle)
    tab.temperature.setValue(100)
    tab.top_k.setValue(0)
    tab.min_p.setValue(0)
    tab.top_n.setValue(24)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "explorer-chinese.png"))
    tab.prefix.setPlainText("台湾最高的山是")
    tab.new_tree()
    wait(app, idle)
    tab.auto_steps.setValue(24)
    tab.auto()  # greedy: falls into a loop
    wait(app, lambda: idle() and len(tab.view.tree.nodes) > 20)
    tab.branches.setCurrentItem(tab.branches.items[tab.view.tree.root])
    wait(app, lambda: idle() and tab.view.node == tab.view.tree.root)
    tab.auto_greedy.setChecked(False)
    tab.random_seed.setChecked(False)
    tab.seed.setValue(7)
    tab.temperature.setValue(80)
    tab.top_k.setValue(40)
    tab.min_p.setValue(5)
    tab.auto()  # sampled from the same prefix
    wait(app, lambda: idle() and len(tab.view.tree.leaves()) == 2)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "explorer-loop.png"))
    tab.prefix.setPlainText("The tallest mountain in Taiwan is")
    tab.new_tree()
    wait(app, idle)
    tab.beams.setValue(4)
    tab.add_beams()
    wait(app, lambda: idle() and len(tab.view.tree.nodes) > 4)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "explorer-beams.png"))
    tab.score("台湾最高的山是玉山,海拔3952米。The tallest mountain in Taiwan is Yushan.")
    wait(app, lambda: tab.scored is not None)
    wait(app, lambda: False, 0.3)
    win.grab().save(str(HERE / "explorer-surprise.png"))


def load(app: QApplication, win: MainWindow, name: str) -> None:
    from workbench import models

    win.load_model(models.resolve(name).path)
    wait(app, lambda: win.model_info is not None and win.model_info.name == name and win.chat.backend is not None)


def shoot_chat(app: QApplication, win: MainWindow) -> None:
    from workbench import models

    tab = win.chat
    win.tabs.setCurrentWidget(tab)
    load(app, win, models.INSTRUCT_MODEL_NAME)
    tab.new_conversation()
    tab.system.setPlainText("You are a helpful assistant. Answer in one short sentence.")
    tab.temperature.set_value(0.0)
    tab.max_tokens.setValue(48)
    for question in ("What is the capital of France?", "What language do people speak there?"):
        tab.input.setPlainText(question)
        before = len(tab.store.list_conversations())
        tab.send()
        wait(app, lambda: tab.streaming is None and tab.send_button.isEnabled())
        assert len(tab.store.list_conversations()) >= before
    tab.input.setPlainText("And what is 台湾最高的山?")
    tab.refresh_prompt()
    wait(app, lambda: not tab.preview_job.busy)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "chat.png"))
    load(app, win, models.DEFAULT_MODEL_NAME)
    tab.new_conversation()
    tab.system.setPlainText("You are a helpful assistant. Answer in one short sentence.")
    tab.input.setPlainText("What is the capital of France?")
    tab.send()
    wait(app, lambda: tab.streaming is None and tab.send_button.isEnabled())
    tab.refresh_prompt()
    wait(app, lambda: not tab.preview_job.busy)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "chat-base-model.png"))


def shoot_models(app: QApplication, win: MainWindow) -> None:
    tab = win.models_tab
    win.tabs.setCurrentWidget(tab)
    tab.refresh()
    tab.table.selectRow(1)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "models.png"))


def shoot_tokenizer_families(app: QApplication, win: MainWindow) -> None:
    tab = win.tokenizer
    win.tabs.setCurrentWidget(tab)
    tab.set_names(["vocab:gpt-2", "smollm2-135m-instruct-q4_1", "model", "o200k_base"])
    tab.input.setPlainText("台湾最高的山是哪座?\nThe tallest mountain in Taiwan is Yushan.\n")
    tab.tokenize_now()
    wait(app, lambda: not tab.busy)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "tokenizer-families.png"))


def shoot_base_vs_instruct(app: QApplication, win: MainWindow) -> None:
    tab = win.compare
    win.tabs.setCurrentWidget(tab)
    tab.builder.use_preset("base-vs-instruct-sentiment")
    tab.start_new()
    wait(app, lambda: tab.experiment_id is not None and not tab.running, 900)
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "compare-base-vs-instruct.png"))


def shoot_history(app: QApplication, win: MainWindow) -> None:
    from workbench import models

    load(app, win, models.DEFAULT_MODEL_NAME)
    win.tabs.setCurrentWidget(win.playground)
    pg = win.playground
    saved = []
    win.engine.worker.runSaved.connect(saved.append)
    for prompt, samples in (("The tallest mountain in Taiwan is", 1), ("台湾最高的山是", 4)):
        pg.prompt.setPlainText(prompt)
        pg.samples.set_value(samples)
        pg.temperature.set_value(0.9)
        pg.max_tokens.set_value(24)
        pg.random_seed.setChecked(False)
        pg.seed.setValue(11)
        before = len(saved)
        pg.run_button.click()
        wait(app, lambda before=before: len(saved) > before and pg.run_button.isEnabled())
    for spin, rank in zip(pg.ranking.spins, (2, 1, 3, 3), strict=True):
        spin.setValue(rank)
    pg.ranking.save()
    pg.side_tabs.setCurrentWidget(pg.history)
    pg.history.refresh()
    pg.history.search.setText("最高")
    pg.history.refresh()
    wait(app, lambda: False, 0.5)
    win.grab().save(str(HERE / "playground-history.png"))


def shoot_servers(app: QApplication, win: MainWindow) -> None:
    """A llama-cpp-python server on 127.0.0.1 saved and checked in the Models tab, then used in the Playground."""
    sys.path.insert(0, str(HERE.parents[1] / "bench"))
    from serve_llama_cpp_python import start_server, stop_server

    from workbench import models

    process, url = start_server(
        {"smol": str(models.embedded_path(models.INSTRUCT_MODEL_NAME))}, Path(tempfile.mkdtemp())
    )
    try:
        tab, panel = win.models_tab, win.models_tab.servers
        win.tabs.setCurrentWidget(tab)
        panel.name.setText("lab")
        panel.base_url.setText(url)
        panel.model.setText("smol")
        panel.key_env.setText("LAB_KEY")
        os.environ["LAB_KEY"] = "not-checked-by-this-server"
        panel.save()
        panel.list.setCurrentRow(0)
        panel.check()
        wait(app, lambda: "server answering" in panel.status.text())
        wait(app, lambda: False, 0.5)
        win.grab().save(str(HERE / "models-servers.png"))
        panel.use()
        wait(app, lambda: win.model_info is not None and win.model_info.source == "remote")
        win.tabs.setCurrentWidget(win.playground)
        shoot(app, win, "The three most important inventions in history are", "playground-server", 1, 0.0)
        pg = win.playground
        view = pg.columns[0].view
        hit = next(
            (x, y)
            for y in (8, 14, 20)
            for x in range(300, view.viewport().width(), 5)
            if view.index_at(QPoint(x, y)) >= 2
        )
        pg._pin(view, view.index_at(QPoint(*hit)), view.mapToGlobal(QPoint(*hit)))
        app.processEvents()
        pg.popup.grab().save(str(HERE / "playground-server-popup.png"))
        pg.popup.hide()
    finally:
        stop_server(process)


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
"""


def shoot_dialog(app: QApplication, win: MainWindow, name: str) -> None:
    """The window with its error dialog drawn over its middle, as a user sees them."""
    from PySide6.QtGui import QPainter
    from PySide6.QtWidgets import QMessageBox

    wait(app, lambda: any(b.isVisible() for b in win.findChildren(QMessageBox, "error-dialog")), 60)
    box = next(b for b in win.findChildren(QMessageBox, "error-dialog") if b.isVisible())
    wait(app, lambda: False, 0.3)
    image = win.grab()
    dialog = box.grab()
    painter = QPainter(image)
    painter.drawPixmap((image.width() - dialog.width()) // 2, (image.height() - dialog.height()) // 3, dialog)
    painter.end()
    image.save(str(HERE / f"{name}.png"))
    box.accept()


def shoot_errors(app: QApplication, win: MainWindow) -> None:
    """Saving a template while another program holds the database, then opening a file that is not a model."""
    import subprocess

    from workbench import models

    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, os.environ["WORKBENCH_DB"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    holder.stdout.readline()
    tab = win.templates
    win.tabs.setCurrentWidget(tab)
    tab.open_template("sentiment-instruction-en")
    tab.body.setPlainText(tab.body.toPlainText() + "\nAnswer in one word.")
    tab.save()
    shoot_dialog(app, win, "error-locked-database")
    holder.communicate("release\n")
    tab.save()
    broken = Path(tempfile.mkdtemp()) / "half-downloaded.gguf"
    broken.write_bytes(models.default_model_path().read_bytes()[:100])
    win.tabs.setCurrentWidget(win.playground)
    win.load_model(str(broken))
    shoot_dialog(app, win, "error-bad-model")


def shoot_scoring(app: QApplication, win: MainWindow) -> None:
    """The summarisation ready experiment scored by its templates' assertions (rubric judge, length, ROUGE-L),
    re-scored by chrF-like metrics, ten cells labelled: the scoring panel, a judged cell, the calibration."""
    from PySide6.QtTest import QTest

    from workbench.library import presets

    tab = win.compare
    win.tabs.setCurrentWidget(tab)
    preset = presets.get_preset("summaries-tldr-vs-instruction")
    presets.ensure_ingredients(tab.store, preset)
    tab.refresh_library()
    for name in preset.templates:
        tab.add_template(name)
    tab.builder.dataset.setCurrentText(preset.dataset)
    tab.builder.max_tokens.setValue(0)
    tab.start_new()
    wait(app, lambda: tab.experiment_id is not None and not tab.running, 900)
    runs = tab.store.experiment_runs(tab.experiment_id, with_tokens=False)
    for index, run in enumerate(runs):
        tab.store.save_label(run["id"], bool(run["output"].strip()) and index % 3 != 0, None, "")
    panel = tab.scoring
    tab.result_tabs.setCurrentWidget(panel)
    panel.assertions.setText("rouge-l,rouge-2,length:160")
    panel.name.setText("rouge")
    panel.rescore()
    wait(app, lambda: panel.rescore_button.isEnabled(), 300)
    panel.scoring.setCurrentText("assert")
    wait(app, lambda: bool(panel.rows.rows) and panel.report.get("scoring") == "assert", 60)
    win.grab().save(str(HERE / "compare-scoring.png"))
    wait(app, lambda: False, 0.3)
    panel.calibration.grab().save(str(HERE / "compare-calibration.png"))
    tab.result_tabs.setCurrentIndex(0)
    dialog = tab.inspect(0, 1)
    dialog.resize(1000, 760)
    QTest.keyClick(dialog, Qt.Key_P)
    QTest.keyClick(dialog, Qt.Key_4)
    wait(app, lambda: False, 0.3)
    dialog.grab().save(str(HERE / "compare-cell-assertions.png"))
    dialog.close()


SHOTS = {
    "playground": lambda app, win: (
        shoot(app, win, "The three most important inventions in history are", "playground-english", 3, 0.9),
        shoot(app, win, "台湾最高的山是", "playground-chinese", 2, 0.7),
        shoot_numeric_check(app, win),
    ),
    "tokenizer": shoot_tokenizer,
    "templates": shoot_templates,
    "compare": shoot_compare,
    "scoring": shoot_scoring,
    "explorer": shoot_explorer,
    "tokenizer-families": shoot_tokenizer_families,
    "models": shoot_models,
    "base-vs-instruct": shoot_base_vs_instruct,
    "chat": shoot_chat,
    "history": shoot_history,
    "servers": shoot_servers,
    "errors": shoot_errors,
}


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    scratch = Path(tempfile.mkdtemp())
    settings = QSettings(str(scratch / "s.ini"), QSettings.IniFormat)
    os.environ["WORKBENCH_DB"] = str(scratch / "screenshots.sqlite")  # a fresh library, not the user's
    win = MainWindow(settings=settings)
    win.resize(1400, 820)
    win.show()
    wait(app, lambda: win.model_info is not None)
    wanted = sys.argv[1:] or list(SHOTS)  # e.g. `take.py chat models`
    for name in wanted:
        SHOTS[name](app, win)
    win.close()


if __name__ == "__main__":
    main()
