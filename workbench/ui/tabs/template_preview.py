"""The Templates tab's preview: variables (typed or from a dataset case), the prompt exactly as the
loaded model will see it, and its token count, rendered off the UI thread by `prompt_for_model`."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from workbench import models
from workbench.chat.prompting import ModelPrompt, prompt_for_model
from workbench.errors import WorkbenchError
from workbench.library.templates import Template, render
from workbench.ui.tabs.template_editor import VariableForm
from workbench.ui.workers import LatestJob

PREVIEW_DEBOUNCE_MS = 300


class PreviewPanel(QWidget):
    message = Signal(str)
    promptReady = Signal(str)  # the rendered prompt asked for by request_prompt_text

    def __init__(self, edited_template: Callable[[], Template], cases: list[tuple[str, dict]]) -> None:
        super().__init__()
        self.edited_template = edited_template  # the editor's content; raises TemplateError
        self.model_path: str | None = None
        self.n_ctx = 4096
        self.job = LatestJob("template-preview", self)
        self.job.finished.connect(self._done)
        self.job.failed.connect(self.show_failure)
        self.send_job = LatestJob("template-send", self)
        self.send_job.finished.connect(self.promptReady.emit)
        self.send_job.failed.connect(self.message.emit)
        self.timer = QTimer(self, singleShot=True, interval=PREVIEW_DEBOUNCE_MS, timeout=self.update_preview)
        self.case_picker = QComboBox()
        self.case_picker.addItem("fill from a dataset case…", None)
        for label, values in cases:
            self.case_picker.addItem(label, values)
        self.case_picker.activated.connect(self.fill_from_case)
        self.variable_form = VariableForm()
        self.variable_form.changed.connect(self.schedule)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setFont(QFont("Noto Sans Mono CJK SC", 11))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.case_picker)
        layout.addWidget(self.variable_form)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.status)

    def set_model(self, model_path: str, n_ctx: int) -> None:
        self.model_path, self.n_ctx = model_path, n_ctx
        self.schedule()

    def schedule(self) -> None:
        self.timer.start()

    def update_preview(self) -> None:
        try:
            template = self.edited_template()
        except WorkbenchError as err:
            self.show_failure(str(err))
            return
        self.variable_form.set_variables(template.variables or template.used_variables())
        values = self.variable_form.values()
        model_path, n_ctx = self.model_path, self.n_ctx

        def work() -> ModelPrompt | str:
            if model_path is None:
                return render(template, values).text
            return prompt_for_model(template, values, models.resolve(model_path), n_ctx=n_ctx)

        self.job.submit(work)

    def request_prompt_text(self) -> None:
        """Render the prompt for the Playground (as the loaded model will see it) on the preview's worker
        thread: `promptReady(text)` follows, or `message` with the template's error."""
        try:
            template = self.edited_template()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        values, model_path = self.variable_form.values(), self.model_path

        def work() -> str:
            if model_path is None:
                return render(template, values).text
            return prompt_for_model(template, values, models.resolve(model_path), count=False).text

        self.send_job.submit(work)

    def _done(self, result: ModelPrompt | str) -> None:
        """The text as the model will see it (its chat format for chat templates) and its token count."""
        if isinstance(result, str):
            self.preview.setPlainText(result)
            self.status.setText("token count: waiting for the model")
            return
        self.preview.setPlainText(result.text)
        if not result.fits:
            self.status.setText(
                f"<span style='color:#b00020'><b>{result.tokens:,} tokens</b>: more than the model's context "
                f"({result.n_ctx:,}); use fewer examples or a shorter input</span>"
            )
        else:
            bos = " incl. BOS" if result.add_bos else ""
            self.status.setText(
                f"<b>{result.tokens:,}</b> tokens{bos} for {html.escape(result.model)} (context {result.n_ctx:,})"
            )

    def show_failure(self, message: str) -> None:
        self.status.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    def fill_from_case(self, index: int) -> None:
        values = self.case_picker.itemData(index)
        if values:
            self.variable_form.fill(values)
            self.schedule()

    def shutdown(self) -> None:
        self.timer.stop()
        self.job.shutdown()
        self.send_job.shutdown()
