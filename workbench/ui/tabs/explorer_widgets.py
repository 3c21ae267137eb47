"""Explorer parts: the next-token bar chart (raw vs after the sampling settings, removed tokens greyed
with the setting that removed them; click a bar to choose it) and the branch tree view."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from workbench.engine.base import NextTokenDistribution
from workbench.explore import tree as trees
from workbench.explore.surprise import TextScore
from workbench.explore.tree import Tree
from workbench.text.display import visible_text
from workbench.ui.token_view import probability_colour

RAW, SAMPLED, REMOVED = QColor("#9ec5ee"), QColor("#1f6fc0"), QColor("#c9c9c9")


def one_line(text: str) -> str:
    """A token's visible form on one line (↵ for a newline, · for a space)."""
    return visible_text(text, line_breaks=False)


class NextTokenChart(QWidget):
    """One row per candidate: the token, a light bar for its raw probability and a dark one for its
    probability after the transforms; a removed token is grey and says which setting removed it."""

    picked = Signal(int)  # token id
    ROW = 22

    def __init__(self) -> None:
        super().__init__()
        self.dist: NextTokenDistribution | None = None
        self.setMinimumHeight(200)
        self.setMouseTracking(True)

    def set_distribution(self, dist: NextTokenDistribution | None) -> None:
        self.dist = dist
        rows = len(dist.candidates) if dist else 0
        self.setMinimumHeight(max(200, 8 + self.ROW * rows))
        self.update()

    def row_at(self, y: float) -> int | None:
        if self.dist is None:
            return None
        row = int((y - 4) // self.ROW)
        return row if 0 <= row < len(self.dist.candidates) else None

    def mousePressEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        if row is not None:
            self.picked.emit(self.dist.candidates[row].id)

    def mouseMoveEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        if row is None:
            self.setToolTip("")
            return
        c = self.dist.candidates[row]
        removed = f"\nremoved by {c.removed_by}" if c.removed_by else ""
        self.setToolTip(
            f"id {c.id} · bytes {c.bytes.hex(' ')}\nraw p {c.prob:.4%} (log p {c.logprob:.3f})\n"
            f"after the settings {c.prob_sampled:.4%}{removed}\nclick: append this token"
        )

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if self.dist is None:
            return
        label_width, note_width = 130, 170
        left, right = label_width + 8, self.width() - note_width
        span = max(right - left, 20)
        top_prob = max(max(c.prob, c.prob_sampled) for c in self.dist.candidates) or 1.0
        mono = QFont("Noto Sans Mono CJK SC", 10)
        for i, c in enumerate(self.dist.candidates):
            y = 4 + i * self.ROW
            painter.setFont(mono)
            painter.setPen(QColor("#222") if c.kept else QColor("#999"))
            label = one_line(c.text) if c.text else f"<{c.bytes.hex()}>"
            painter.drawText(QRectF(0, y, label_width, self.ROW), Qt.AlignRight | Qt.AlignVCenter, label)
            raw_width = c.prob / top_prob * span
            painter.fillRect(QRectF(left, y + 3, raw_width, self.ROW - 6), RAW if c.kept else REMOVED)
            if c.kept:
                painter.fillRect(QRectF(left, y + 8, c.prob_sampled / top_prob * span, self.ROW - 16), SAMPLED)
            painter.setFont(QFont(self.font().family(), 9))
            note = f"{c.prob:.1%} → {c.prob_sampled:.1%}" if c.kept else f"{c.prob:.1%} · {c.removed_by}"
            painter.drawText(QRectF(right + 6, y, note_width - 6, self.ROW), Qt.AlignVCenter, note)


class BranchTree(QTreeWidget):
    """The tree as an outline: each node's token, probability, how it was chosen, run count, and the
    total log-probability of the path that ends there."""

    nodeSelected = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setHeaderLabels(["token", "p", "how", "runs", "path log p"])
        self.setColumnWidth(0, 180)
        self.items: dict[int, QTreeWidgetItem] = {}
        self.currentItemChanged.connect(self._changed)

    def set_tree(self, tree: Tree | None, current: int | None) -> None:
        self.blockSignals(True)
        self.clear()
        self.items = {}
        if tree is not None:
            root = tree.node(None)
            item = QTreeWidgetItem([tree.prompt[-40:], "", "prompt", "", "0.00"])
            item.setData(0, Qt.UserRole, root.id)
            self.addTopLevelItem(item)
            self.items[root.id] = item
            self._add_children(tree, root.id, item)
            self.expandAll()
            if current in self.items:
                self.setCurrentItem(self.items[current])
        self.blockSignals(False)

    def _add_children(self, tree: Tree, node_id: int, parent: QTreeWidgetItem) -> None:
        """A fork indents; a chain of single choices stays at one level, so long branches stay readable."""
        for child_id in tree.nodes[node_id].children:
            node = tree.nodes[child_id]
            text = one_line(node.bytes.decode("utf-8", errors="replace")) if node.bytes else ""
            prob = 2.718281828459045**node.logprob if node.logprob is not None else 0.0
            item = QTreeWidgetItem(
                [text, f"{prob:.1%}", node.how, str(node.count or ""), f"{tree.total_logprob(child_id):.2f}"]
            )
            item.setBackground(1, probability_colour(prob))
            item.setData(0, Qt.UserRole, child_id)
            parent.addChild(item)
            self.items[child_id] = item
            in_chain = len(tree.nodes[node_id].children) == 1 and len(node.children) <= 1
            self._add_children(tree, child_id, parent if in_chain else item)

    def _changed(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is not None:
            self.nodeSelected.emit(int(item.data(0, Qt.UserRole)))


LINK = "color:#000000; text-decoration:none"


def token_link(index: int, text: str, colour: str) -> str:
    """A token of a text panel: coloured by probability, a link so hovering it can show its card."""
    return f"<a href='#{index}' style='{LINK}'><span style='background:{colour}'>{text}</span></a>"


def surprise_tip(token) -> str:
    prob = math.exp(token.logprob)
    alternatives = ", ".join(f"{t.text!r} {math.exp(t.logprob):.1%}" for t in token.top[:3])
    return f"p {prob:.2%} · {token.surprise_bits:.1f} bits · rank {token.rank}\ntop: {alternatives}"


def surprise_html(result: TextScore) -> str:
    """Each token on the colour of its probability (hover: surprise, rank and alternatives)."""
    parts = []
    for index, token in enumerate(result.tokens):
        text = html.escape(visible_text(token.text, line_breaks=False)) if token.text else ""
        if token.logprob is None:
            parts.append(f"<span style='color:#666'>{text}</span>")
        else:
            parts.append(token_link(index, text, probability_colour(math.exp(token.logprob)).name()))
    return "<div style='font-size:14pt'>" + "".join(parts) + "</div>"


def branches_html(tree: trees.Tree) -> str:
    """Every branch side by side (greedy, sampled, beams, runs): how it was grown, its total
    log-probability, its repetition and its text, most probable first."""
    rows = []
    for leaf in sorted(tree.leaves(), key=lambda n: -tree.total_logprob(n.id)):
        path = tree.path(leaf.id)
        meter = trees.repetition([n.token_id for n in path])
        how = "/".join(dict.fromkeys(n.how for n in path))
        text = html.escape(visible_text(tree.continuation(leaf.id), line_breaks=False))
        rows.append(
            f"<tr><td>{how}</td><td align=right>{tree.total_logprob(leaf.id):.2f}</td>"
            f"<td align=right>{len(path)}</td><td align=right>{meter['repeated_3grams']:.0%}</td><td>{text}</td></tr>"
        )
    header = "<tr><th>grown by</th><th>log p</th><th>tokens</th><th>rep. 3-grams</th><th>branch</th></tr>"
    return f"<table cellspacing=4>{header}{''.join(rows)}</table>"
