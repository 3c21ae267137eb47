"""The Compare tab's grid builder: templates to tick, a dataset, and the settings for the whole grid.
Fields left empty take each template's own recommended settings; `spec()` hands the typed values to
`experiments.grid_spec`, the same builder the CLI uses."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workbench import experiments, models
from workbench.engine.base import SEED_RANGE, SamplingParams
from workbench.errors import WorkbenchError
from workbench.library import presets
from workbench.scoring.answers import SCORER_NAMES
from workbench.stops import parse_stop_list


class GridBuilder(QWidget):
    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.template_list = QListWidget()
        self.model_list = QListWidget()
        self.model_list.setObjectName("grid-models")
        self.model_list.setMaximumHeight(70)
        self.model_list.setToolTip(
            "tick several to run the same grid on each model (e.g. base vs instruction-tuned); none ticked: the "
            "loaded model"
        )
        self.dataset = QComboBox()
        self.samples = QSpinBox(minimum=1, maximum=64, value=1)
        self.temperatures = QLineEdit("")
        self.temperatures.setPlaceholderText("each template's (else 0)")
        self.temperatures.setToolTip("one configuration per value, e.g. 0, 0.7, 1.0; overrides every template's")
        self.top_k = QSpinBox(minimum=0, maximum=1000, value=40)
        self.top_p = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=0.95)
        self.min_p = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.01, value=0.05)
        self.repeat_penalty = QDoubleSpinBox(minimum=0.5, maximum=3.0, singleStep=0.05, value=1.0)
        self.seed = QSpinBox(minimum=0, maximum=SEED_RANGE - 1, value=1)
        self.max_tokens = QSpinBox(minimum=0, maximum=32768, value=0)
        self.max_tokens.setSpecialValueText(f"each template's (else {experiments.FALLBACK_MAX_TOKENS})")
        self.max_tokens.setToolTip("0: each template's recommended max tokens; a number overrides every template")
        self.stop_edit = QLineEdit("")
        self.stop_edit.setPlaceholderText("each template's (else \\n)")
        self.stop_edit.setToolTip("comma-separated, escapes \\n \\t \\s \\,; overrides every template's")
        self.no_stop = QCheckBox("none")
        self.no_stop.setToolTip("no stop strings for any template")
        self.no_stop.toggled.connect(lambda on: self.stop_edit.setEnabled(not on))
        self.scorer = QComboBox()
        self.scorer.addItem("each template's own rule", "")
        for name in SCORER_NAMES:
            self.scorer.addItem(name, name)
        stop_row = QHBoxLayout()
        stop_row.addWidget(self.stop_edit, 1)
        stop_row.addWidget(self.no_stop)
        form = QFormLayout()
        for label, widget in (
            ("Dataset", self.dataset),
            ("Samples per cell", self.samples),
            ("Temperature(s)", self.temperatures),
            ("Top-k", self.top_k),
            ("Top-p", self.top_p),
            ("Min-p", self.min_p),
            ("Repeat penalty", self.repeat_penalty),
            ("Seed", self.seed),
            ("Max tokens", self.max_tokens),
            ("Stop strings", stop_row),
            ("Scorer", self.scorer),
        ):
            form.addRow(label, widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_presets())
        layout.addWidget(QLabel("<b>Templates</b> (tick several)"))
        layout.addWidget(self.template_list, 2)
        layout.addWidget(QLabel("<b>Models</b> (none ticked: the loaded one)"))
        layout.addWidget(self.model_list)
        layout.addLayout(form)

    def _build_presets(self) -> QVBoxLayout:
        self.preset = QComboBox()
        self.preset.setObjectName("ready-experiment")
        self.preset.addItem("— ready experiments —", "")
        for preset in presets.list_presets():
            self.preset.addItem(preset.name, preset.name)
            self.preset.setItemData(self.preset.count() - 1, preset.description, Qt.ToolTipRole)
        use = QPushButton("Use")
        use.setToolTip("tick the ready experiment's templates and models and choose its dataset")
        use.clicked.connect(self._use_clicked)
        self.preset_note = QLabel()
        self.preset_note.setObjectName("ready-experiment-note")
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet("color: #555;")
        row = QHBoxLayout()
        row.addWidget(self.preset, 1)
        row.addWidget(use)
        box = QVBoxLayout()
        box.addLayout(row)
        box.addWidget(self.preset_note)
        return box

    def _use_clicked(self) -> None:
        try:
            self.preset_note.setText(self.use_preset(self.preset.currentData()))
        except WorkbenchError as err:
            self.preset_note.setText(str(err))

    def use_preset(self, name: str) -> str:
        """Fill the builder from a ready experiment; returns its description (or a problem, raised)."""
        if not name:
            return ""
        preset = presets.get_preset(name)
        presets.ensure_ingredients(self.store, preset)
        self.refresh_library()
        for row in range(self.template_list.count()):
            item = self.template_list.item(row)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in preset.templates else Qt.Unchecked)
        self.tick_models([models.resolve(m).path for m in preset.models])
        self.dataset.setCurrentText(preset.dataset)
        self.samples.setValue(preset.samples)
        self.preset.setCurrentIndex(max(0, self.preset.findData(name)))
        return preset.description

    def refresh_library(self) -> None:
        ticked = set(self.selected_templates())
        self.template_list.clear()
        for template in self.store.list_templates():
            item = QListWidgetItem(f"{template.name}  (v{template.version})")
            settings = template.settings.describe()
            item.setToolTip(f"recommended: {settings}" if settings else "no recommended settings (the grid's apply)")
            item.setData(Qt.UserRole, template.name)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if template.name in ticked else Qt.Unchecked)
            self.template_list.addItem(item)
        self._refresh_models()
        current = self.dataset.currentText()
        self.dataset.clear()
        for summary in self.store.list_datasets():
            self.dataset.addItem(summary["name"])
        if current:
            self.dataset.setCurrentText(current)

    def _refresh_models(self) -> None:
        ticked = set(self.selected_models())
        self.model_list.clear()
        try:
            found = models.list_models()
        except WorkbenchError:
            found = []
        for info in found:
            if info.vocab_only:
                continue
            item = QListWidgetItem(
                f"{info.name}  ({info.architecture}, {'chat template' if info.has_chat_template else 'base'})"
            )
            self._add_model_item(item, info.path, ticked)
        for endpoint in self.store.connections():  # models on saved servers (Models tab)
            item = QListWidgetItem(f"{endpoint.connection}  (on a server: {endpoint.model or 'its only model'})")
            self._add_model_item(item, models.CONNECTION_PREFIX + endpoint.connection, ticked)

    def _add_model_item(self, item: QListWidgetItem, value: str, ticked: set[str]) -> None:
        item.setData(Qt.UserRole, value)
        item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
        item.setCheckState(Qt.Checked if value in ticked else Qt.Unchecked)
        self.model_list.addItem(item)

    def selected_models(self) -> list[str]:
        items = (self.model_list.item(i) for i in range(self.model_list.count()))
        return [item.data(Qt.UserRole) for item in items if item.checkState() == Qt.Checked]

    def tick_models(self, paths: list[str]) -> None:
        for row in range(self.model_list.count()):
            item = self.model_list.item(row)
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in paths else Qt.Unchecked)

    def selected_templates(self) -> list[str]:
        items = (self.template_list.item(i) for i in range(self.template_list.count()))
        return [item.data(Qt.UserRole) for item in items if item.checkState() == Qt.Checked]

    def tick(self, name: str) -> None:
        self.refresh_library()
        for row in range(self.template_list.count()):
            item = self.template_list.item(row)
            if item.data(Qt.UserRole) == name:
                item.setCheckState(Qt.Checked)

    def spec(self, model_path: str | None) -> experiments.GridSpec:
        params = SamplingParams(
            temperature=0.0,  # for templates that recommend none, when no temperatures are typed
            top_k=self.top_k.value(),
            top_p=self.top_p.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            seed=self.seed.value(),
        )
        stop = () if self.no_stop.isChecked() else parse_stop_list(self.stop_edit.text()) or None
        return experiments.grid_spec(
            templates=self.selected_templates(),
            dataset=self.dataset.currentText(),
            params=params,
            temperatures=self.temperatures.text(),
            max_tokens=self.max_tokens.value() or None,
            stop=stop,
            models=self.selected_models() or [model_path],
            samples=self.samples.value(),
            scorer=self.scorer.currentData() or None,
        )
