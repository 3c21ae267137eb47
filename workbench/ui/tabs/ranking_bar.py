"""Ranking a run's samples under the Playground's columns, the way InstructGPT's labelers ranked K answers:
a rank per sample (equal ranks tie), or the order typed as keys ("3,1=2,4", the CLI's syntax); Save keeps
it with who and when, Skip moves on without one."""

from __future__ import annotations

import getpass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from workbench.errors import WorkbenchError
from workbench.experiments import ranking


class RankingBar(QWidget):
    message = Signal(str)
    saved = Signal(int)  # run id

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.run_id: int | None = None
        self.spins: list[QSpinBox] = []
        self.spin_row = QHBoxLayout()
        self.order = QLineEdit()
        self.order.setObjectName("ranking-order")
        self.order.setPlaceholderText("or type the order, best first: 3,1=2,4")
        self.order.returnPressed.connect(self.save_typed)
        self.save_button = QPushButton("Save ranking")
        self.save_button.setObjectName("ranking-save")
        self.save_button.clicked.connect(self.save)
        skip = QPushButton("Skip")
        skip.clicked.connect(self.skip)
        self.status = QLabel()
        self.status.setObjectName("ranking-status")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Rank</b> (1 = best, equal = tie):"))
        layout.addLayout(self.spin_row)
        layout.addWidget(self.order, 1)
        layout.addWidget(self.save_button)
        layout.addWidget(skip)
        layout.addWidget(self.status)
        self.hide()

    def offer(self, run_id: int, samples: int) -> None:
        """Show one rank box per sample for this run (a single sample has nothing to rank)."""
        self.run_id = run_id
        for spin in self.spins:
            spin.setParent(None)
            spin.deleteLater()
        self.spins = []
        for index in range(samples):
            spin = QSpinBox()
            spin.setObjectName(f"rank-{index + 1}")
            spin.setRange(1, samples)
            spin.setPrefix(f"#{index + 1}: ")
            spin.setValue(index + 1)
            self.spin_row.addWidget(spin)
            self.spins.append(spin)
        existing = self.store.rankings(run_id)
        if existing:
            for spin, rank in zip(self.spins, existing[-1]["ranks"], strict=False):
                spin.setValue(rank)
        self.order.clear()
        self.status.setText("ranked" if existing else "")
        self.setVisible(samples >= 2)

    def ranks(self) -> list[int]:
        return [spin.value() for spin in self.spins]

    def save(self) -> bool:
        return self._save(lambda: ranking.check_ranks(self.ranks(), len(self.spins)))

    def save_typed(self) -> bool:
        return self._save(lambda: ranking.parse_order(self.order.text(), len(self.spins)))

    def _save(self, ranks_of) -> bool:
        if self.run_id is None:
            return False
        try:
            ranks = ranks_of()
            self.store.save_ranking(self.run_id, ranks, getpass.getuser())
        except WorkbenchError as err:
            self.message.emit(str(err))
            return False
        for spin, rank in zip(self.spins, ranks, strict=True):
            spin.setValue(rank)
        pairs = len(ranking.Ranking(self.run_id, ranks).pairs())
        self.status.setText(f"saved: {pairs} preference pair(s)")
        self.saved.emit(self.run_id)
        return True

    def skip(self) -> None:
        self.run_id = None
        self.hide()
