"""QApplication and main window: model picker, tabs, status bar, persistent settings."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget

from workbench import logs, models
from workbench.engine.numerics import BATCHING, NUMERICS
from workbench.errors import WorkbenchError
from workbench.ui.tabs.chat import ChatTab
from workbench.ui.tabs.compare import CompareTab
from workbench.ui.tabs.explorer import ExplorerTab
from workbench.ui.tabs.models_tab import ModelsTab
from workbench.ui.tabs.playground import Playground
from workbench.ui.tabs.templates import TemplatesTab
from workbench.ui.tabs.tokenizer import TokenizerTab
from workbench.ui.workers import EngineThread


class MainWindow(QMainWindow):
    def __init__(self, model: str | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        logs.setup()
        self.setWindowTitle("Prompt Workbench")
        self.settings = settings or QSettings("prompt-workbench", "workbench")
        self.settings.setAtomicSyncRequired(True)  # the default, relied on: a temporary file, then a rename
        self.engine = EngineThread()
        self.model_info = None
        self.model_line = ""
        self.n_ctx = 0
        self.last_error = ""
        self.playground = Playground()
        self.tabs = QTabWidget()
        self.tokenizer = TokenizerTab()
        self.store = self._open_store()
        if self.store:
            self.engine.worker.store = self.store
            self.playground.attach_history(self.store)
        self.templates = TemplatesTab(self.store) if self.store else None
        self.compare = CompareTab(self.store, self.settings) if self.store else None
        self.explorer = ExplorerTab(self.store) if self.store else None
        self.chat = ChatTab(self.store) if self.store else None
        self.models_tab = ModelsTab(self.store, _gpu_supported()) if self.store else None
        self.tabs.addTab(self.playground, "Playground")
        self.tabs.addTab(self.tokenizer, "Tokenizer")
        if self.templates:
            self.tabs.addTab(self.templates, "Templates")
            self.tabs.addTab(self.compare, "Compare")
            self.tabs.addTab(self.explorer, "Explorer")
            self.tabs.addTab(self.chat, "Chat")
            self.tabs.addTab(self.models_tab, "Models")
        self.setCentralWidget(self.tabs)
        self._build_toolbar()
        self._build_menu()
        self.model_label = QLabel("loading model…")
        self.context_label = QLabel("")
        self.speed_label = QLabel("")
        for label in (self.model_label, self.context_label, self.speed_label):
            self.statusBar().addPermanentWidget(label)
        self._connect()
        self.resize(1280, 800)
        self.restoreGeometry(self.settings.value("window/geometry", b""))
        self.playground.load_settings(self.settings)
        for picker, key in ((self.numerics_picker, "numerics"), (self.batching_picker, "batching")):
            picker.setCurrentIndex(max(0, picker.findData(self.settings.value(key, picker.itemData(0)))))
        self.tokenizer.load_settings(self.settings)
        if self.store:
            from workbench.runs.history import keeps_history

            self.playground.keep_history.setChecked(keeps_history(self.store))
        self.tabs.setCurrentIndex(int(self.settings.value("window/tab", 0)))
        self.load_model(model or str(self.settings.value("model", "")) or None)

    def _open_store(self):
        """The database, with the starter library on first start; None (and a message) when it cannot open."""
        from workbench import config
        from workbench.library import files as library_files
        from workbench.store import Store
        from workbench.store.base import UI_BUSY_TIMEOUT_S

        try:
            store = Store(config.default_db_path())
            store.limit_lock_wait(UI_BUSY_TIMEOUT_S)  # this thread's connection: the window's own writes
            report = library_files.ensure_starter_library(store)
        except WorkbenchError as err:
            message = f"{err}. Templates are unavailable until this is fixed."
            QTimer.singleShot(0, lambda: self.show_error(message))
            return None
        if report and report.problems:
            QTimer.singleShot(0, lambda: self.show_error("Starter library: " + "; ".join(report.problems[:3])))
        return store

    def _build_menu(self) -> None:
        help_menu = self.menuBar().addMenu("&Help")
        self.open_log_action = help_menu.addAction("Open log folder", self.open_log_folder)
        self.open_log_action.setObjectName("open-log-folder")
        self.open_log_action.setStatusTip(f"the log of errors and their context: {logs.log_path()}")

    def open_log_folder(self) -> Path:
        folder = logs.log_path().parent
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        return folder

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Model")
        bar.setObjectName("model-toolbar")
        bar.addWidget(QLabel(" Model: "))
        self.model_picker = QComboBox()
        self.model_picker.setObjectName("model-picker")
        self.model_picker.setMinimumWidth(280)
        self.fill_model_picker()
        self.model_picker.activated.connect(lambda i: self.load_model(self.model_picker.itemData(i)))
        bar.addWidget(self.model_picker)
        open_action = QAction("Open GGUF…", self)
        open_action.triggered.connect(self._open_file)
        bar.addAction(open_action)
        bar.addSeparator()
        self.numerics_picker = self._setting_picker(bar, "Numerics", NUMERICS, lambda m: m.summary)
        self.batching_picker = self._setting_picker(bar, "Batching", BATCHING, lambda text: text)

    def _setting_picker(self, bar, title: str, choices: dict, explain) -> QComboBox:
        """A load setting; changing it reloads the model."""
        bar.addWidget(QLabel(f" {title}: "))
        picker = QComboBox()
        picker.setObjectName(title.lower())
        for name, value in choices.items():
            picker.addItem(name, name)
            picker.setItemData(picker.count() - 1, explain(value), Qt.ToolTipRole)
        picker.setToolTip(
            "How llama.cpp computes, recorded with every run. "
            + "; ".join(f"{n}: {explain(v)}" for n, v in choices.items())
        )
        picker.activated.connect(lambda _index: self.reload_model())
        bar.addWidget(picker)
        return picker

    def fill_model_picker(self) -> None:
        current = self.model_picker.currentData()
        self.model_picker.clear()
        for info in self._available_models():
            star = " ★" if info.is_default else ""
            self.model_picker.addItem(f"{info.name}  ({info.quantization}){star}", info.path)
        for endpoint in self.store.connections() if self.store else []:
            label = f"{endpoint.connection}  (server: {endpoint.model or 'its only model'})"
            self.model_picker.addItem(label, models.CONNECTION_PREFIX + endpoint.connection)
        self.model_picker.setCurrentIndex(max(0, self.model_picker.findData(current)))

    def load_overrides(self):  # -> models.engines.Overrides
        """What the toolbar sets on top of each model's saved load settings (Models tab): numerics and
        batching. The engine opener merges them (the CLI's --numerics/--batching take the same path)."""
        from workbench.models.engines import Overrides

        return Overrides(numerics=self.numerics_picker.currentData(), batching=self.batching_picker.currentData())

    def load_with_saved_settings(self, path: str) -> None:
        """From the Models tab: its saved numerics become the toolbar's, then the model loads."""
        from workbench.models.library import saved_load_settings

        try:
            saved = saved_load_settings(models.resolve(path))
        except WorkbenchError as err:
            self.show_error(str(err))
            return
        self.numerics_picker.setCurrentIndex(max(0, self.numerics_picker.findData(saved.numerics)))
        self.load_model(path)

    def reload_model(self) -> None:
        self.load_model(self.model_info.path if self.model_info else None)

    def _available_models(self) -> list:
        try:
            return models.list_models()
        except WorkbenchError as err:
            self.statusBar().showMessage(str(err))
            return []

    def _connect(self) -> None:
        worker = self.engine.worker
        worker.modelLoaded.connect(self._model_loaded)
        worker.modelFailed.connect(self._model_failed)
        worker.tokens.connect(self.playground.add_tokens)
        worker.tokens.connect(self._count_context)
        worker.sampleDone.connect(self._sample_done)
        worker.runFinished.connect(self._run_finished)  # a method, not a lambda: queued to the UI thread
        worker.runFailed.connect(self._run_failed)
        worker.runSaved.connect(self.playground.run_saved)
        self.playground.keep_history.toggled.connect(self._keep_history)
        self.playground.runRequested.connect(self._run)
        self.playground.numericCheckRequested.connect(self.engine.requestNumericCheck)
        worker.numericChecked.connect(self.playground.show_numeric_check)
        worker.numericCheckFailed.connect(self.playground.popup.show_check)
        self.playground.stopRequested.connect(self.engine.stop)
        self.playground.message.connect(self.show_error)
        self.tokenizer.message.connect(self.show_error)
        if self.templates:
            self.templates.message.connect(self.show_error)
            self.templates.sendToPlayground.connect(self._send_to_playground)
            self.templates.addToComparison.connect(self._add_to_comparison)
            self.compare.message.connect(self.show_error)
            self.explorer.message.connect(self.show_error)
            self.explorer.sendToPlayground.connect(self._send_to_playground)
            self.playground.exploreRequested.connect(self._explore)
            self.playground.surpriseRequested.connect(self._score_in_explorer)
            self.compare.exploreRequested.connect(self._explore)
            self.chat.message.connect(self.show_error)
            self.chat.loadModelRequested.connect(self.load_model)
            self.models_tab.message.connect(self.show_error)
            self.models_tab.loadRequested.connect(self.load_with_saved_settings)
            self.models_tab.modelsChanged.connect(self.fill_model_picker)
            QShortcut(QKeySequence.Save, self, activated=self._save)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.playground.run)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.playground.run)
        QShortcut(QKeySequence("Escape"), self, activated=self.engine.stop)

    def _keep_history(self, on: bool) -> None:
        """One setting, in the database, for every tab: runs (Playground, Explorer, Chat) are kept or not."""
        from workbench.runs.history import set_keep_history

        if self.store:
            set_keep_history(self.store, on)

    def _save(self) -> None:
        if self.templates and self.tabs.currentWidget() is self.templates:
            self.templates.save()

    def _add_to_comparison(self, name: str) -> None:
        self.compare.add_template(name)
        self.tabs.setCurrentWidget(self.compare)

    def _explore(self, prompt: str, add_bos: bool, before: list, alternative: int) -> None:
        """ "What if the model had said this?": the Explorer at that point with the alternative chosen."""
        self.explorer.open_what_if(prompt, add_bos, before, alternative)
        self.tabs.setCurrentWidget(self.explorer)

    def _score_in_explorer(self, text: str) -> None:
        self.explorer.score(text)
        self.tabs.setCurrentWidget(self.explorer)

    def _send_to_playground(self, text: str) -> None:
        self.playground.prompt.setPlainText(text)
        self.tabs.setCurrentWidget(self.playground)

    # -- model ------------------------------------------------------------------------
    def load_model(self, name_or_path: str | None) -> None:
        if self.templates:  # the running grid ends after its current cell; the old model is freed after that
            self.compare.release_backend()
            self.explorer.release_backend()
            self.chat.release_backend()
        self.model_label.setText("loading model…")
        self.playground.run_button.setEnabled(False)
        self.engine.requestLoad.emit(name_or_path or "", self.load_overrides())

    def _open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a GGUF model", "", "GGUF models (*.gguf);;All files (*)")
        if path:
            self.load_model(path)

    def _model_loaded(self, info, runtime: dict) -> None:
        self.model_info = info
        self.n_ctx = int(runtime["n_ctx"])
        self.model_line = model_line(info, runtime)
        self.model_label.setText(self.model_line)
        local = info.source != "remote"  # a server computes in its own configuration
        for picker in (self.numerics_picker, self.batching_picker):
            picker.setEnabled(local)
            picker.setStatusTip("" if local else "a model on a server runs with the server's own settings")
        self.model_label.setToolTip(f"{runtime['numerics_detail']}\n{runtime['batching_detail']}")
        self.context_label.setText(f"context 0 / {self.n_ctx}")
        self.settings.setValue("model", info.path)
        index = self.model_picker.findData(picker_value(info))
        if index < 0:
            self.model_picker.addItem(f"{info.name}  ({info.quantization})", info.path)
            index = self.model_picker.count() - 1
        self.model_picker.setCurrentIndex(index)
        self.playground.run_button.setEnabled(True)
        if self.templates:
            self.templates.set_model(info.path, self.n_ctx)
        self._share_backend()

    def _share_backend(self) -> None:
        """The tabs that run the model get the worker's backend (again, after a load that failed)."""
        if self.templates:
            self.compare.set_backend(self.engine.worker.backend)
            self.explorer.set_backend(self.engine.worker.backend)
            self.chat.set_backend(self.engine.worker.backend)

    def _model_failed(self, message: str) -> None:
        """The model that was loaded stays loaded and in use; the message says why the other one is not."""
        if self.model_info is None:
            self.model_label.setText("model not loaded")
        else:
            self.model_label.setText(self.model_line)
            self._share_backend()
        self.playground.run_button.setEnabled(self.model_info is not None)
        self.show_error(message)

    # -- runs -------------------------------------------------------------------------
    def _run(self, request, samples: int) -> None:
        self.engine.requestGenerate.emit(request, samples)

    def _count_context(self, index: int, steps: list) -> None:
        self.context_label.setText(f"context {len(self.playground.columns[index].view.tokens)} gen / {self.n_ctx}")

    def _sample_done(self, index: int, generation) -> None:
        self.playground.sample_done(index, generation)
        t = generation.timings
        self.context_label.setText(f"context {t.prompt_tokens + t.generated_tokens} / {self.n_ctx}")
        self.speed_label.setText(f"{t.tokens_per_s:.1f} tok/s")

    def _run_finished(self) -> None:
        self.playground.set_running(False)

    def _run_failed(self, message: str) -> None:
        self.playground.set_running(False)
        self.show_error(message)

    def show_error(self, message: str) -> None:
        logs.log.warning("shown: %s", message)
        self.statusBar().showMessage(message, 15_000)
        self.last_error = message
        box = QMessageBox(QMessageBox.Warning, "Prompt Workbench", message, QMessageBox.Ok, self)
        box.setObjectName("error-dialog")
        box.open()  # window-modal, not blocking: the app keeps running

    def closeEvent(self, event) -> None:
        if self.templates and not self.templates.confirm_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.setValue("numerics", self.numerics_picker.currentData())
        self.settings.setValue("batching", self.batching_picker.currentData())
        self.playground.save_settings(self.settings)
        self.tokenizer.save_settings(self.settings)
        self.playground.popup.hide()
        self.tokenizer.shutdown()
        if self.templates:
            self.templates.shutdown()
            self.compare.shutdown()
            self.explorer.shutdown()
            self.chat.shutdown()
            self.models_tab.shutdown()
            self.store.close()
        self.engine.shutdown()
        super().closeEvent(event)


def _gpu_supported() -> bool:
    from workbench.engine.llama.backend import gpu_offload_supported

    return gpu_offload_supported()


def main(model: str | None = None) -> int:
    from workbench.ui.platform_check import platform_problem

    problem = platform_problem()
    if problem and QApplication.instance() is None:
        print(f"workbench: {problem}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Prompt Workbench")
    window = MainWindow(model)
    install_excepthook(window)
    window.show()
    return app.exec()


def install_excepthook(window: MainWindow) -> None:
    """An exception nobody caught in a slot (a defect) is shown in a dialog and logged with its traceback,
    instead of a traceback on a terminal the user does not see."""
    from workbench.ui.workers import user_message

    def show(kind, value, traceback) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, traceback)
            return
        window.show_error(user_message(value.with_traceback(traceback)))

    sys.excepthook = show


def model_line(info, runtime: dict) -> str:
    """The status bar's model: where it runs and in which numeric configuration."""
    if info.source == "remote":
        context = "" if runtime["n_ctx_known"] else " (context not reported)"
        return f"{info.name} · {runtime['server']} server at {runtime['base_url']}{context} · raw probabilities"
    gpu = "GPU offload" if runtime["gpu_offload_active"] else "CPU"
    return (
        f"{info.name} · {info.quantization} · {gpu} · {runtime['numerics']} numerics · {runtime['batching']} batching"
    )


def picker_value(info) -> str:
    """A saved server's model is offered as connection:NAME; everything else by its path."""
    if info.source == "remote":
        from workbench.engine.openai_compat.endpoint import from_ref

        name = from_ref(info.path).connection
        return models.CONNECTION_PREFIX + name if name else info.path
    return info.path
