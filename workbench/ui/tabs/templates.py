"""Templates tab: the library (search, kind and tag filters), the editor, a live preview with its
token count for the loaded model, and the version history with diffs and restore."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.library.templates import KIND_LABELS, KINDS, SCORERS, AnswerRule, Template, parse_verbalizer
from workbench.ui.tabs.template_editor import ExamplesTable, HistoryPanel, JinjaHighlighter, SettingsForm
from workbench.ui.tabs.template_preview import PreviewPanel

NEW_BODY = "{{ text }}"


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class TemplatesTab(QWidget):
    message = Signal(str)
    sendToPlayground = Signal(str)
    addToComparison = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.current: Template | None = None  # what the editor was loaded from
        self.dirty = False
        self._loading = False
        self._build()
        self.refresh_list()
        if self.library.count():
            self.library.setCurrentRow(0)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self._build_library())
        splitter.addWidget(self._build_editor())
        splitter.addWidget(self._build_side())
        splitter.setSizes([260, 560, 460])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_library(self) -> QWidget:
        self.search = QLineEdit(placeholderText="Search names, descriptions, bodies…")
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("all kinds", "")
        for kind in KINDS:
            self.kind_filter.addItem(KIND_LABELS[kind], kind)
        self.tag_filter = QComboBox()
        self.library = QListWidget()
        self.library.currentItemChanged.connect(self._select)
        new = QPushButton("New template")
        new.clicked.connect(self.new_template)
        self.search.textChanged.connect(self.refresh_list)
        self.kind_filter.currentIndexChanged.connect(self.refresh_list)
        self.tag_filter.currentIndexChanged.connect(self.refresh_list)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.search, self.kind_filter, self.tag_filter, self.library, new):
            layout.addWidget(widget)
        return panel

    def _build_editor(self) -> QWidget:
        self.name_edit = QLineEdit()
        self.kind_edit = QComboBox()
        for kind in KINDS:
            self.kind_edit.addItem(KIND_LABELS[kind], kind)
        self.version_label = QLabel("")
        self.description_edit = QLineEdit()
        self.tags_edit = QLineEdit(placeholderText="comma, separated")
        self.variables_edit = QLineEdit(placeholderText="declared variables, e.g. text")
        self.body = QPlainTextEdit()
        self.body.setFont(QFont("Noto Sans Mono CJK SC", 11))
        self.highlighter = JinjaHighlighter(self.body.document())
        self.examples = ExamplesTable()
        self.k_spin = QSpinBox(minimum=-1, maximum=1000, specialValueText="all")
        self.scorer = QComboBox()
        self.scorer.addItem("(none)", "")
        for scorer in SCORERS:
            self.scorer.addItem(scorer, scorer)
        self.pattern_edit = QLineEdit(placeholderText="regular expression (regex scorer)")
        self.verbalizer_edit = QLineEdit(placeholderText="label=word, e.g. positive=A, negative=C")
        header = QFormLayout()
        top = QHBoxLayout()
        top.addWidget(self.name_edit, 2)
        top.addWidget(self.kind_edit, 1)
        top.addWidget(self.version_label)
        header.addRow("Name", top)
        header.addRow("Description", self.description_edit)
        header.addRow("Tags", self.tags_edit)
        header.addRow("Variables", self.variables_edit)
        answer = QWidget()
        answer_form = QFormLayout(answer)
        answer_form.addRow("Scorer", self.scorer)
        answer_form.addRow("Pattern", self.pattern_edit)
        answer_form.addRow("Verbalizer", self.verbalizer_edit)
        examples = QWidget()
        examples_layout = QVBoxLayout(examples)
        k_row = QHBoxLayout()
        k_row.addWidget(QLabel("K (examples the body sees):"))
        k_row.addWidget(self.k_spin)
        k_row.addStretch(1)
        examples_layout.addLayout(k_row)
        examples_layout.addWidget(self.examples)
        self.editor_tabs = QTabWidget()
        self.editor_tabs.addTab(self.body, "Body")
        self.editor_tabs.addTab(examples, "Examples")
        self.editor_tabs.addTab(answer, "Answer")
        self.settings_form = SettingsForm()
        self.editor_tabs.addTab(self.settings_form, "Generation")
        self.save_button = QPushButton("Save (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(self.revert)
        self.send_button = QPushButton("Send to Playground")
        self.send_button.clicked.connect(self._send)
        self.compare_button = QPushButton("Add to comparison")
        self.compare_button.clicked.connect(self._add_to_comparison)
        buttons = QHBoxLayout()
        for widget in (self.save_button, self.revert_button, self.send_button, self.compare_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.editor_tabs, 1)
        layout.addLayout(buttons)
        for edit in (self.name_edit, self.description_edit, self.tags_edit, self.variables_edit, self.pattern_edit):
            edit.textChanged.connect(self._edited)
        self.verbalizer_edit.textChanged.connect(self._edited)
        self.body.textChanged.connect(self._edited)
        self.kind_edit.currentIndexChanged.connect(self._edited)
        self.scorer.currentIndexChanged.connect(self._edited)
        self.k_spin.valueChanged.connect(self._edited)
        self.examples.changed.connect(self._edited)
        self.settings_form.changed.connect(self._edited)
        return panel

    def _build_side(self) -> QWidget:
        cases = []
        for summary in self._datasets():
            dataset = self.store.get_dataset(summary["name"])
            cases += [(f"{dataset.name}:{case.id}", case.vars) for case in dataset.cases]
        self.preview_panel = PreviewPanel(self.edited_template, cases)
        self.preview_panel.promptReady.connect(self.sendToPlayground.emit)
        self.preview_panel.message.connect(self.message.emit)
        # the parts tests and the screenshots reach for
        self.case_picker, self.variable_form = self.preview_panel.case_picker, self.preview_panel.variable_form
        self.preview, self.preview_status = self.preview_panel.preview, self.preview_panel.status
        self.history = HistoryPanel()
        self.history.restoreRequested.connect(self.restore_selected)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.preview_panel, "Preview")
        self.side_tabs.addTab(self.history, "History")
        return self.side_tabs

    def _datasets(self) -> list[dict]:
        try:
            return self.store.list_datasets()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return []

    # -- library ---------------------------------------------------------------------------
    def refresh_list(self) -> None:
        selected = self.current.name if self.current else None
        tag = self.tag_filter.currentData() or None
        try:
            found = self.store.list_templates(
                kind=self.kind_filter.currentData() or None, tag=tag, search=self.search.text()
            )
            tags = self.store.template_tags()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.tag_filter.blockSignals(True)
        self.tag_filter.clear()
        self.tag_filter.addItem("all tags", "")
        for name in tags:
            self.tag_filter.addItem(name, name)
        self.tag_filter.setCurrentIndex(max(self.tag_filter.findData(tag or ""), 0))
        self.tag_filter.blockSignals(False)
        self.library.blockSignals(True)
        self.library.clear()
        for template in found:
            item = QListWidgetItem(f"{template.name}\n    {KIND_LABELS[template.kind]} · v{template.version}")
            item.setData(Qt.UserRole, template.name)
            item.setToolTip(template.description)
            self.library.addItem(item)
            if template.name == selected:
                self.library.setCurrentItem(item)
        self.library.blockSignals(False)

    def _select(self, item: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        if item is None:
            return
        name = item.data(Qt.UserRole)
        if self.current and name == self.current.name:
            return
        if not self.confirm_discard():
            self.library.blockSignals(True)
            self.library.setCurrentItem(previous)
            self.library.blockSignals(False)
            return
        self.open_template(name)

    def open_template(self, name: str) -> None:
        try:
            template = self.store.get_template(name)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.load(template)
        self._highlight_in_list(name)

    def _highlight_in_list(self, name: str) -> None:
        """The library list shows which template the editor holds (also when opened from elsewhere)."""
        self.library.blockSignals(True)
        for row in range(self.library.count()):
            if self.library.item(row).data(Qt.UserRole) == name:
                self.library.setCurrentRow(row)
        self.library.blockSignals(False)

    def new_template(self) -> None:
        if not self.confirm_discard():
            return
        self.load(Template("new-template", "prompt", NEW_BODY, variables=("text",)))
        self.dirty = True
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    # -- editor <-> Template ---------------------------------------------------------------
    def load(self, template: Template, keep_identity: bool = False) -> None:
        """Put a template into the editor; `keep_identity` (restore) keeps the name and marks it unsaved."""
        self._loading = True
        if not keep_identity:
            self.current = template if template.version else None
        self.name_edit.setText(template.name)
        self.kind_edit.setCurrentIndex(self.kind_edit.findData(template.kind))
        self.version_label.setText(f"v{template.version}" if template.version else "unsaved")
        self.description_edit.setText(template.description)
        self.tags_edit.setText(", ".join(template.tags))
        self.variables_edit.setText(", ".join(template.variables))
        self.body.setPlainText(template.body)
        self.examples.set_examples(template.examples)
        self.k_spin.setValue(-1 if template.k is None else template.k)
        answer = template.answer
        self.scorer.setCurrentIndex(max(self.scorer.findData(answer.scorer if answer else ""), 0))
        self.pattern_edit.setText(answer.pattern if answer else "")
        self.verbalizer_edit.setText(", ".join(f"{k}={v}" for k, v in (answer.verbalizer if answer else {}).items()))
        self.settings_form.set_settings(template.settings)
        self._loading = False
        self.dirty = keep_identity
        self.variable_form.set_variables(template.variables or template.used_variables())
        self._refresh_history()
        self.schedule_preview()

    def edited_template(self) -> Template:
        """The editor's content as a Template (validated); raises TemplateError."""
        scorer = self.scorer.currentData()
        answer = None
        if scorer:
            answer = AnswerRule(scorer, self.pattern_edit.text(), parse_verbalizer(self.verbalizer_edit.text()))
        k = self.k_spin.value()
        return Template(
            name=self.name_edit.text().strip(),
            kind=self.kind_edit.currentData(),
            body=self.body.toPlainText(),
            description=self.description_edit.text().strip(),
            tags=_split(self.tags_edit.text()),
            variables=_split(self.variables_edit.text()),
            examples=self.examples.examples(),
            k=None if k < 0 else k,
            answer=answer.validate() if answer else None,
            settings=self.settings_form.settings(),
        ).validate()

    def _edited(self, *_args) -> None:
        if self._loading:
            return
        self.dirty = True
        if self.current:
            self.version_label.setText(f"v{self.current.version} · edited")
        self.schedule_preview()

    def save(self) -> bool:
        try:
            saved, status = self.store.save_template(self.edited_template())
        except WorkbenchError as err:
            self.message.emit(str(err))
            return False
        self.current = saved
        self.load(saved)
        self.refresh_list()
        self.preview_status.setText(f"saved: {status if status != 'version' else f'new version {saved.version}'}")
        return True

    def revert(self) -> None:
        if self.current:
            self.load(self.current)

    # -- preview ---------------------------------------------------------------------------
    def set_model(self, model_path: str, n_ctx: int) -> None:
        self.preview_panel.set_model(model_path, n_ctx)

    def schedule_preview(self) -> None:
        self.preview_panel.schedule()

    def _add_to_comparison(self) -> None:
        if self.current is None:
            self.message.emit("save the template first: a comparison runs saved versions")
            return
        self.addToComparison.emit(self.current.name)

    def _send(self) -> None:
        """Rendered off the UI thread; `sendToPlayground` follows when the text is ready."""
        self.preview_panel.request_prompt_text()

    # -- history ---------------------------------------------------------------------------
    def _refresh_history(self) -> None:
        versions = self.store.template_history(self.current.name) if self.current else []
        self.history.set_versions(versions, self.body.toPlainText)

    def restore_selected(self) -> None:
        version = self.history.selected()
        if version is not None and self.current is not None:
            self.load(version.with_changes(version=self.current.version), keep_identity=True)
            self.version_label.setText(f"v{self.current.version} · restored from v{version.version}, unsaved")

    # -- unsaved changes -------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when it is fine to replace the editor's content (saved, discarded, or nothing to lose)."""
        if not self.dirty:
            return True
        answer = self.ask_unsaved()
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def ask_unsaved(self) -> QMessageBox.StandardButton:
        name = self.name_edit.text() or "this template"
        return QMessageBox.question(
            self,
            "Unsaved template",
            f"Save the changes to {name}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
            QMessageBox.Save,
        )

    def shutdown(self) -> None:
        self.preview_panel.shutdown()
