"""Explorer tab: the text chain by hand. A prefix, the chart of its next tokens (raw and after the
sampling settings, re-shaped from the cached logits as a slider moves), and a branch tree grown by
clicking a bar, rolling the dice, taking the top token, continuing N tokens, overlaying N runs or
running beam search. Every model call runs off the UI thread; the tree is saved as it grows."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from workbench.engine.base import SEED_RANGE, Backend, NextTokenDistribution, SamplingParams
from workbench.engine.next_token import MAX_TOP, describe_next
from workbench.errors import InputError
from workbench.explore import tree as trees
from workbench.explore.surprise import TextScore, score_text
from workbench.text.display import visible_text
from workbench.ui.tabs.explorer_widgets import (
    BranchTree,
    NextTokenChart,
    branches_html,
    surprise_html,
    surprise_tip,
    token_link,
)
from workbench.ui.token_view import probability_colour
from workbench.ui.workers import LatestJob


@dataclass
class View:
    """What the worker hands back: the tree, the node shown, and that node's raw next-token logits."""

    tree: trees.Tree
    node: int
    raw: np.ndarray
    context: list[int]


class ExplorerTab(QWidget):
    message = Signal(str)
    sendToPlayground = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.backend: Backend | None = None
        self.view: View | None = None
        self.dist: NextTokenDistribution | None = None
        self.job = LatestJob("explorer", self)
        self.job.finished.connect(self._shown)
        self.job.failed.connect(self._failed)
        self.score_job = LatestJob("explorer-score", self)
        self.score_job.finished.connect(self._scored)
        self.score_job.failed.connect(self._failed)
        self.scored: TextScore | None = None
        self.text_shows_score = False
        self._build()
        self.refresh_trees()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.prefix = QPlainTextEdit("台湾最高的山是")
        self.prefix.setMaximumHeight(70)
        self.new_button = QPushButton("New tree from this prefix")
        self.new_button.clicked.connect(self.new_tree)
        self.saved = QComboBox()
        self.saved.activated.connect(lambda i: self.open_tree(self.saved.itemData(i)))
        self.branches = BranchTree()
        self.branches.nodeSelected.connect(self.go_to)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Prefix</b>"))
        left_layout.addWidget(self.prefix)
        left_layout.addWidget(self.new_button)
        left_layout.addWidget(QLabel("<b>Saved trees</b>"))
        left_layout.addWidget(self.saved)
        left_layout.addWidget(QLabel("<b>Branches</b> (select a node to continue from it)"))
        left_layout.addWidget(self.branches, 1)
        self.text = QTextBrowser()
        self.text.setMaximumHeight(150)
        self.text.setOpenLinks(False)
        self.text.highlighted.connect(self._hover_token)
        self.meter = QLabel("")
        self.branch_list = QTextBrowser()
        self.branch_list.setMaximumHeight(110)
        self.chart = NextTokenChart()
        self.chart.picked.connect(self.pick)
        self.summary = QLabel("")
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.text)
        middle_layout.addWidget(self.meter)
        middle_layout.addWidget(self.branch_list)
        middle_layout.addWidget(
            QLabel(
                "<b>Next token</b>: light bar raw probability, dark bar after the settings; "
                "grey: removed (click a bar to append it)"
            )
        )
        middle_layout.addWidget(self.chart, 1)
        middle_layout.addWidget(self.summary)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(middle)
        splitter.addWidget(self._build_controls())
        splitter.setSizes([330, 700, 300])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def _build_controls(self) -> QWidget:
        self.temperature = self._slider(0, 200, 80)
        self.top_p = self._slider(1, 100, 95)
        self.min_p = self._slider(0, 50, 5)
        self.top_k = QSpinBox(minimum=0, maximum=500, value=40)
        self.top_k.valueChanged.connect(self.reshape)
        self.top_n = QSpinBox(minimum=5, maximum=MAX_TOP, value=20)
        self.top_n.valueChanged.connect(self.reshape)
        self.settings_label = QLabel("")
        self.seed = QSpinBox(minimum=0, maximum=SEED_RANGE - 1, value=1)
        self.random_seed = QCheckBox("random")
        self.random_seed.setChecked(True)
        self.auto_steps = QSpinBox(minimum=1, maximum=trees.MAX_AUTO_STEPS, value=24)
        self.auto_greedy = QCheckBox("greedy")
        self.auto_greedy.setChecked(True)
        self.runs = QSpinBox(minimum=1, maximum=trees.MAX_RUNS, value=8)
        self.beams = QSpinBox(minimum=1, maximum=8, value=3)
        form = QFormLayout()
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-k (0 off)", self.top_k)
        form.addRow("Top-p", self.top_p)
        form.addRow("Min-p", self.min_p)
        form.addRow("", self.settings_label)
        form.addRow("Bars", self.top_n)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed)
        seed_row.addWidget(self.random_seed)
        form.addRow("Seed", seed_row)
        buttons = QGridLayout()
        self.roll_button = self._button("Roll", self.roll, "sample one token with the settings and the seed")
        self.greedy_button = self._button("Greedy", self.greedy, "append the most probable token")
        self.auto_button = self._button("Auto N", self.auto, "continue N tokens (greedy, or sampled)")
        self.runs_button = self._button("N runs", self.add_runs, "N sampled continuations overlaid with counts")
        self.beams_button = self._button("Beam search", self.add_beams, "B beams from the prompt, drawn as a tree")
        self.send_button = self._button("Send to Playground", self.send, "the prefix and this branch")
        self.score_button = self._button(
            "How surprising?", lambda: self.score(), "colour the prefix and this branch by each token's probability"
        )
        buttons.addWidget(self.roll_button, 0, 0)
        buttons.addWidget(self.greedy_button, 0, 1)
        buttons.addWidget(self.auto_button, 1, 0)
        auto_row = QHBoxLayout()
        auto_row.addWidget(self.auto_steps)
        auto_row.addWidget(self.auto_greedy)
        buttons.addLayout(auto_row, 1, 1)
        buttons.addWidget(self.runs_button, 2, 0)
        buttons.addWidget(self.runs, 2, 1)
        buttons.addWidget(self.beams_button, 3, 0)
        buttons.addWidget(self.beams, 3, 1)
        buttons.addWidget(self.send_button, 4, 0, 1, 2)
        buttons.addWidget(self.score_button, 5, 0, 1, 2)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Sampling settings</b> (re-shape the chart, no model call)"))
        layout.addLayout(form)
        layout.addWidget(QLabel("<b>Continue</b>"))
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._show_settings()
        return panel

    def _slider(self, low: int, high: int, value: int) -> QSlider:
        slider = QSlider(Qt.Horizontal, minimum=low, maximum=high, value=value)
        slider.valueChanged.connect(self.reshape)
        return slider

    def _button(self, text: str, slot, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- settings --------------------------------------------------------------------------
    def params(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature.value() / 100,
            top_k=self.top_k.value(),
            top_p=self.top_p.value() / 100,
            min_p=self.min_p.value() / 100,
            seed=None if self.random_seed.isChecked() else self.seed.value(),
        ).validate()

    def _show_settings(self) -> None:
        p = self.params()
        self.settings_label.setText(f"T {p.temperature:.2f} · top-p {p.top_p:.2f} · min-p {p.min_p:.2f}")

    def reshape(self, *_args) -> None:
        """Re-shape the chart from the cached logits: the sampling truth on numbers already computed."""
        self._show_settings()
        if self.view is None or self.backend is None:
            return
        self.dist = describe_next(
            self.view.raw, self.view.context, self.params(), self.top_n.value(), self.backend.token_bytes
        )
        self.chart.set_distribution(self.dist)
        self.summary.setText(
            f"kept {self.dist.kept_count:,} tokens holding {self.dist.kept_mass:.1%} of the raw probability · "
            f"entropy {self.dist.entropy_bits:.2f} bits · context {self.dist.prompt_tokens} tokens"
        )

    # -- backend and jobs --------------------------------------------------------------------
    def set_backend(self, backend: Backend | None) -> None:
        self.backend = backend
        if backend is not None and self.view is not None and self.view.tree.model_path == backend.info.path:
            self.go_to(self.view.node)  # fresh logits from the reloaded model

    def release_backend(self) -> None:
        self.backend = None

    def _submit(self, work) -> None:
        if self.backend is None:
            self.message.emit("the model is still loading")
            return
        backend, store = self.backend, self.store

        def job() -> View:
            tree, node = work(backend, store)
            context = trees.context_ids(backend, tree, node)
            return View(tree, node, backend.logits_after(context), context)

        self._set_busy(True)
        self.job.submit(job)

    def _set_busy(self, busy: bool) -> None:
        for button in (
            self.new_button,
            self.roll_button,
            self.greedy_button,
            self.auto_button,
            self.runs_button,
            self.beams_button,
        ):
            button.setEnabled(not busy)
        self.chart.setEnabled(not busy)

    def _failed(self, message: str) -> None:
        self._set_busy(False)
        self.message.emit(message)

    def _shown(self, view: View) -> None:
        self._set_busy(False)
        self.view = view
        self.branches.set_tree(view.tree, view.node)
        self._show_text()
        self.reshape()
        self.refresh_trees(select=view.tree.id)

    def _show_text(self) -> None:
        self.text_shows_score = False
        tree, node = self.view.tree, self.view.node
        parts = [f"<span style='color:#666'>{html.escape(tree.prompt)}</span>"]
        for step in tree.path(node):
            prob = math.exp(step.logprob) if step.logprob is not None else 0.0
            colour = probability_colour(prob).name()
            text = html.escape(visible_text(step.bytes.decode("utf-8", errors="replace")) or f"<{step.bytes.hex()}>")
            parts.append(token_link(len(parts) - 1, text, colour))
        self.text.setHtml("<div style='font-size:14pt'>" + "".join(parts) + "</div>")
        ids = [n.token_id for n in tree.path(node)]
        meter = trees.repetition(ids)
        self.meter.setText(
            f"branch: {len(ids)} tokens, log p {tree.total_logprob(node):.2f} · repeated 3-grams "
            f"{meter['repeated_3grams']:.0%} · distinct-2 {meter['distinct_2']:.2f}"
        )
        self.branch_list.setHtml(branches_html(tree))

    def current_node(self) -> int | None:
        return self.view.node if self.view else None

    # -- actions ---------------------------------------------------------------------------
    def new_tree(self) -> None:
        prompt = self.prefix.toPlainText()
        self._submit(lambda backend, store: self._root(trees.new_tree(store, backend, prompt)))

    def open_what_if(self, prompt: str, add_bos: bool, before: list, alternative: int) -> None:
        """A new tree: the prompt, the tokens generated before a token, then `alternative` in its place."""
        self.prefix.setPlainText(prompt)
        self._submit(lambda backend, store: trees.what_if(store, backend, prompt, add_bos, before, alternative))

    def open_tree(self, tree_id: int | None) -> None:
        if tree_id is not None:
            self._submit(lambda backend, store: self._root(self._checked(trees.load_tree(store, tree_id), backend)))

    @staticmethod
    def _root(tree: trees.Tree) -> tuple[trees.Tree, int]:
        return tree, tree.root

    @staticmethod
    def _checked(tree: trees.Tree, backend: Backend) -> trees.Tree:
        if tree.model_path != backend.info.path:
            raise InputError(f"tree {tree.id} was grown with {tree.model}; load that model to continue it")
        return tree

    def go_to(self, node: int) -> None:
        if self.view is not None:
            tree = self.view.tree
            self._submit(lambda backend, store: (trees.load_tree(store, tree.id), node))

    def pick(self, token: int, how: str = "pick") -> None:
        if self.view is None:
            return
        tree, node, raw = self.view.tree, self.view.node, self.view.raw  # the chart's logits: no second evaluation

        def work(backend, store):
            grown = trees.pick(store, backend, tree, node, token, how, raw)
            return grown, _child(grown, node, token)

        self._submit(work)

    def greedy(self) -> None:
        if self.dist is not None:
            self.pick(int(np.argmax(self.view.raw)), "greedy")

    def roll(self) -> None:
        if self.view is None:
            return
        tree, node, params = self.view.tree, self.view.node, self.params()
        self._submit(lambda backend, store: trees.roll(store, backend, tree, node, params, params.seed))

    def auto(self) -> None:
        if self.view is None:
            return
        tree, node, steps = self.view.tree, self.view.node, self.auto_steps.value()
        params = SamplingParams(temperature=0.0) if self.auto_greedy.isChecked() else self.params()
        self._submit(lambda backend, store: trees.auto(store, backend, tree, node, steps, params))

    def add_runs(self) -> None:
        if self.view is None:
            return
        tree, node, runs, steps, params = self.view.tree, self.view.node, self.runs.value(), 8, self.params()
        self._submit(lambda backend, store: (trees.add_runs(store, backend, tree, node, runs, steps, params), node))

    def add_beams(self) -> None:
        if self.view is None:
            return
        tree, beams = self.view.tree, self.beams.value()
        self._submit(lambda backend, store: trees.add_beams(store, backend, tree, None, beams, 8))

    def send(self) -> None:
        if self.view is not None:
            self.sendToPlayground.emit(self.view.tree.prompt + self.view.tree.continuation(self.view.node))

    def score(self, text: str | None = None) -> None:
        """Colour a text (default: the prefix and the branch shown) by how surprising each token is."""
        if self.backend is None:
            self.message.emit("the model is still loading")
            return
        if text is None:
            text = self.view.tree.prompt + self.view.tree.continuation(self.view.node) if self.view else ""
            text = text or self.prefix.toPlainText()
        backend = self.backend
        self.score_job.submit(lambda: score_text(backend, text, top=5))

    def _hover_token(self, url) -> None:
        """The card of the token under the mouse in the text panel (a scored text, or the branch)."""
        index = int(url.fragment()) if url.fragment().isdigit() else -1
        tip = ""
        if self.scored is not None and self.text_shows_score and 0 <= index < len(self.scored.tokens):
            tip = surprise_tip(self.scored.tokens[index])
        elif self.view is not None and not self.text_shows_score:
            path = self.view.tree.path(self.view.node)
            if 0 <= index < len(path):
                node = path[index]
                tip = f"p {math.exp(node.logprob):.2%} ({node.how}) · id {node.token_id} · bytes {node.bytes.hex(' ')}"
        QToolTip.showText(QCursor.pos(), tip) if tip else QToolTip.hideText()

    def _scored(self, result: TextScore) -> None:
        self.scored = result
        self.text_shows_score = True
        self.text.setHtml(surprise_html(result))
        self.meter.setText(
            f"how surprising: {len(result.scored)} tokens scored, total log p {result.total_logprob:.2f}, "
            f"perplexity {result.perplexity:.2f}, {result.bits_per_byte:.3f} bits per byte (hover a token)"
        )

    def refresh_trees(self, select: int | None = None) -> None:
        self.saved.blockSignals(True)
        self.saved.clear()
        for found in self.store.list_trees():
            self.saved.addItem(f"#{found['id']} {found['name']} ({found['nodes']} nodes)", found["id"])
            if found["id"] == select:
                self.saved.setCurrentIndex(self.saved.count() - 1)
        self.saved.blockSignals(False)

    def shutdown(self) -> None:
        self.job.shutdown()
        self.score_job.shutdown()


def _child(tree: trees.Tree, node: int, token: int) -> int:
    return next(c for c in tree.node(node).children if tree.nodes[c].token_id == token)
