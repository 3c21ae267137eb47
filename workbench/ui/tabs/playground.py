"""Playground: prompt, sampling panel, and N samples side by side as token chips."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.base import SEED_RANGE, GenerationRequest, SamplingParams, TokenStep
from workbench.errors import WorkbenchError
from workbench.stops import format_stop_list, parse_stop_list
from workbench.ui.token_view import ProbabilityLegend, TokenPopup, TokenView, check_text

MAX_SAMPLES = 8


class SliderSpin(QWidget):
    """A slider and a spin box kept in sync; the spin box's range is the validation."""

    def __init__(self, minimum: float, maximum: float, step: float, decimals: int, value: float) -> None:
        super().__init__()
        self.scale = 10**decimals
        self.spin = QDoubleSpinBox() if decimals else QSpinBox()
        self.spin.setRange(minimum, maximum)
        self.spin.setSingleStep(step)
        if decimals:
            self.spin.setDecimals(decimals)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(round(minimum * self.scale), round(maximum * self.scale))
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / self.scale))
        self.spin.valueChanged.connect(lambda v: self.slider.setValue(round(v * self.scale)))
        self.spin.setValue(value)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 3)
        layout.addWidget(self.spin, 1)

    def value(self) -> float:
        return self.spin.value()

    def set_value(self, value: float) -> None:
        self.spin.setValue(value)


class SampleColumn(QWidget):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.title = QLabel(f"Sample {index + 1}")
        self.title.setStyleSheet("font-weight: bold;")
        self.view = TokenView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.view)


class Playground(QWidget):
    runRequested = Signal(object, int)  # GenerationRequest, samples
    numericCheckRequested = Signal(str, bool, list)  # prompt, add BOS, token ids generated before the token
    exploreRequested = Signal(str, bool, list, int)  # prompt, add BOS, TokenSteps up to the pinned one, alternative
    stopRequested = Signal()
    surpriseRequested = Signal(str)  # the prompt, to be coloured by surprise in the Explorer
    message = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        defaults = SamplingParams()
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Type a prompt. Ctrl+Enter runs, Esc stops.")
        self.temperature = SliderSpin(0.0, 2.0, 0.05, 2, defaults.temperature)
        self.top_k = SliderSpin(0, 200, 1, 0, defaults.top_k)
        self.top_p = SliderSpin(0.01, 1.0, 0.01, 2, defaults.top_p)
        self.min_p = SliderSpin(0.0, 1.0, 0.01, 2, defaults.min_p)
        self.repeat_penalty = SliderSpin(0.5, 2.0, 0.05, 2, defaults.repeat_penalty)
        self.max_tokens = SliderSpin(1, 2048, 16, 0, 128)
        self.samples = SliderSpin(1, MAX_SAMPLES, 1, 0, 1)
        self.seed = QSpinBox()
        self.seed.setRange(0, SEED_RANGE - 1)
        self.random_seed = QCheckBox("random")
        self.random_seed.setChecked(True)
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        self.seed.setEnabled(False)
        self.stops = QLineEdit()
        self.stops.setPlaceholderText(r"e.g. \n\n, Q:")
        self.keep_history = QCheckBox("keep every run in the history")
        self.keep_history.setObjectName("keep-history")
        self.keep_history.setChecked(True)
        self.run_button = QPushButton("Run  (Ctrl+Enter)")
        self.stop_button = QPushButton("Stop  (Esc)")
        self.stop_button.setEnabled(False)
        self.chips = QCheckBox("token chips")
        self.chips.setChecked(True)
        self.copy_button = QPushButton("Copy text")
        self.surprise_button = QPushButton("How surprising is the prompt?")
        self.surprise_button.setToolTip(
            "every token of the prompt coloured by its probability under the model (Explorer)"
        )
        self.surprise_button.clicked.connect(lambda: self.surpriseRequested.emit(self.prompt.toPlainText()))
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stopRequested)
        self.chips.toggled.connect(self._set_chips)
        self.copy_button.clicked.connect(self.copy_text)
        self.popup = TokenPopup(self, can_check=True)
        self.popup.numericCheckRequested.connect(self._request_numeric_check)
        self.popup.alternativeChosen.connect(self._explore_alternative)
        self.pinned_at: tuple[TokenView, int] = (None, -1)
        self.last_request = GenerationRequest(" ")
        self.columns: list[SampleColumn] = []
        self.history = None
        self.ranking = None
        self.last_run_id: int | None = None
        self._build_layout()

    def _build_layout(self) -> None:
        form = QFormLayout()
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed)
        seed_row.addWidget(self.random_seed)
        for label, widget in [
            ("Temperature", self.temperature),
            ("Top-k (0 off)", self.top_k),
            ("Top-p", self.top_p),
            ("Min-p", self.min_p),
            ("Repeat penalty", self.repeat_penalty),
            ("Max tokens", self.max_tokens),
            ("Samples", self.samples),
        ]:
            form.addRow(label, widget)
        form.addRow("Seed", seed_row)
        form.addRow("Stop strings", self.stops)
        form.addRow("", self.keep_history)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        panel = QWidget()
        panel_layout = QVBoxLayout(panel)
        panel_layout.addLayout(form)
        panel_layout.addLayout(buttons)
        panel_layout.addWidget(self.surprise_button)
        panel_layout.addStretch(1)
        self.outputs = QSplitter(Qt.Horizontal)
        output_bar = QHBoxLayout()
        output_bar.addWidget(self.chips)
        output_bar.addWidget(self.copy_button)
        output_bar.addStretch(1)
        output_bar.addWidget(ProbabilityLegend())
        output_area = QWidget()
        output_layout = QVBoxLayout(output_area)
        output_layout.setContentsMargins(0, 0, 0, 0)
        output_layout.addLayout(output_bar)
        output_layout.addWidget(self.outputs, 1)
        self.output_layout = output_layout
        self.editor_split = QSplitter(Qt.Vertical)
        self.editor_split.addWidget(self.prompt)
        self.editor_split.addWidget(output_area)
        self.editor_split.setSizes([160, 480])
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(panel, "Settings")
        self.main_split = QSplitter(Qt.Horizontal)
        self.main_split.addWidget(self.editor_split)
        self.main_split.addWidget(self.side_tabs)
        self.main_split.setSizes([860, 340])
        layout = QVBoxLayout(self)
        layout.addWidget(self.main_split)

    # -- history and ranking ---------------------------------------------------------
    def attach_history(self, store) -> None:
        """With a database: the History side tab and the ranking bar under the samples."""
        from workbench.ui.tabs.history_panel import HistoryPanel
        from workbench.ui.tabs.ranking_bar import RankingBar

        self.history = HistoryPanel(store)
        self.history.openRequested.connect(self.open_run)
        self.history.message.connect(self.message)
        self.side_tabs.addTab(self.history, "History")
        self.side_tabs.currentChanged.connect(lambda _i: self.history.refresh())
        self.ranking = RankingBar(store)
        self.ranking.message.connect(self.message)
        self.ranking.saved.connect(lambda _run: self.history.refresh())
        self.output_layout.addWidget(self.ranking)

    def run_saved(self, run_id: int) -> None:
        self.last_run_id = run_id
        if self.history is not None:
            self.ranking.offer(run_id, len(self.columns))
            self.history.refresh()

    def open_run(self, run: dict) -> None:
        """A stored run back in the Playground exactly: prompt, settings, its base seed, its samples shown;
        Run then reproduces it token for token."""
        params = run["params"]
        self.prompt.setPlainText(run["prompt"])
        for name in ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens"):
            if name in params:
                getattr(self, name).set_value(float(params[name]))
        self.samples.set_value(len(run["samples"]) or 1)
        seed = params.get("seed")
        if seed is None and run["samples"]:
            seed = run["samples"][0]["seed"]
        self.random_seed.setChecked(seed is None)
        if seed is not None:
            self.seed.setValue(int(seed))
        self.stops.setText(format_stop_list(tuple(params.get("stop") or ())))
        self._make_columns(len(run["samples"]), run["prompt"])
        for column, sample in zip(self.columns, run["samples"], strict=True):
            column.view.append_tokens([TokenStep.from_dict(t) for t in sample["tokens"]])
            column.title.setText(f"Sample {sample['idx'] + 1} of run #{run['id']}: seed {sample['seed']}")
        self.last_request = self.build_request()
        self.last_run_id = run["id"]
        self.ranking.offer(run["id"], len(run["samples"]))
        if run["kind"] in ("chat", "explorer"):
            self.message.emit(
                f"run #{run['id']} came from the {run['kind'].capitalize()}: its prompt went to the model as tokens "
                "(a chat format's control tokens, or an Explorer branch's own token ids), so Run here treats that "
                "text as plain text and may not reproduce it"
            )

    # -- run -----------------------------------------------------------------------
    def build_request(self) -> GenerationRequest:
        params = SamplingParams(
            temperature=self.temperature.value(),
            top_k=int(self.top_k.value()),
            top_p=self.top_p.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            seed=None if self.random_seed.isChecked() else self.seed.value(),
        )
        return GenerationRequest(
            self.prompt.toPlainText(),
            params,
            max_tokens=int(self.max_tokens.value()),
            stop=parse_stop_list(self.stops.text()),
            top_logprobs=10,
        ).validate()

    def run(self) -> None:
        try:
            request = self.build_request()
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        count = int(self.samples.value())
        self.last_request = request
        if self.ranking is not None:
            self.ranking.skip()
        self._make_columns(count, request.prompt)
        self.set_running(True)
        self.runRequested.emit(request, count)

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _make_columns(self, count: int, prompt: str) -> None:
        for column in self.columns:
            column.hide()
            column.setParent(None)  # out of the splitter now, not at the next event-loop turn
            column.deleteLater()
        self.columns = []
        for index in range(count):
            column = SampleColumn(index)
            column.view.set_chips(self.chips.isChecked())
            column.view.set_prefix(prompt if count == 1 else "")
            column.view.hovered.connect(lambda i, pos, v=column.view: self._hover(v, i, pos))
            column.view.clicked.connect(lambda i, pos, v=column.view: self._pin(v, i, pos))
            self.outputs.addWidget(column)
            self.columns.append(column)

    def add_tokens(self, index: int, steps: list) -> None:
        if index < len(self.columns):
            self.columns[index].view.append_tokens(steps)

    def sample_done(self, index: int, generation) -> None:
        if index < len(self.columns):
            t = generation.timings
            self.columns[index].title.setText(
                f"Sample {index + 1}: {generation.finish_reason}, {len(generation.tokens)} tokens, "
                f"{t.tokens_per_s:.1f} tok/s, seed {generation.seed}"
            )

    # -- token popup -----------------------------------------------------------------
    def _hover(self, view: TokenView, index: int, pos) -> None:
        if self.popup.pinned:
            return
        if index < 0:
            self.popup.hide()
            return
        self.popup.show_step(view.tokens[index], pos)

    def _pin(self, view: TokenView, index: int, pos) -> None:
        self.pinned_at = (view, index)
        self.popup.toggle_pin(view.tokens[index], pos)

    def _explore_alternative(self, token_id: int) -> None:
        """Open the Explorer where the pinned token was drawn, with this alternative chosen instead."""
        view, index = self.pinned_at
        self.exploreRequested.emit(
            self.last_request.prompt, self.last_request.add_bos, view.tokens[: index + 1], token_id
        )

    def _request_numeric_check(self) -> None:
        """The distribution the pinned token was drawn from, recomputed in the other configuration."""
        view, index = self.pinned_at
        before = [step.id for step in view.tokens[:index]]
        self.numericCheckRequested.emit(self.last_request.prompt, self.last_request.add_bos, before)

    def show_numeric_check(self, check) -> None:
        self.popup.show_check(check_text(check, self.popup.step))

    def _set_chips(self, on: bool) -> None:
        for column in self.columns:
            column.view.set_chips(on)

    def copy_text(self) -> None:
        texts = [c.view.plain_text() for c in self.columns]
        QApplication.clipboard().setText("\n\n".join(texts))

    # -- settings ----------------------------------------------------------------------
    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("playground/prompt", self.prompt.toPlainText())
        for name in ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "samples"):
            settings.setValue(f"playground/{name}", getattr(self, name).value())
        settings.setValue("playground/stops", self.stops.text())
        settings.setValue("playground/main_split", self.main_split.saveState())
        settings.setValue("playground/editor_split", self.editor_split.saveState())

    def load_settings(self, settings: QSettings) -> None:
        self.prompt.setPlainText(str(settings.value("playground/prompt", "")))
        for name in ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "samples"):
            value = settings.value(f"playground/{name}")
            if value is not None:
                getattr(self, name).set_value(float(value))
        self.stops.setText(str(settings.value("playground/stops", "")))
        for key, splitter in (("main_split", self.main_split), ("editor_split", self.editor_split)):
            state = settings.value(f"playground/{key}")
            if state is not None:
                splitter.restoreState(state)
