"""The Playground's History: every kept run, newest first, searchable and filtered; open one back exactly,
star, tag, delete, compare two token by token, copy as code. The figures are `workbench runs`'s."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.runs import history, runcode
from workbench.store import RunQuery


class HistoryPanel(QWidget):
    openRequested = Signal(object)  # the stored run (dict)
    message = Signal(str)

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.search = QLineEdit()
        self.search.setObjectName("history-search")
        self.search.setPlaceholderText("search prompts and outputs (any substring for Chinese)")
        self.model = QComboBox()
        self.kind = QComboBox()
        self.kind.addItem("any source", "")
        for kind in history.KINDS:
            self.kind.addItem("CLI" if kind == "generate" else kind, kind)
        self.ranked = QComboBox()
        for label, value in (("ranked or not", None), ("ranked", True), ("not ranked", False)):
            self.ranked.addItem(label, value)
        self.starred = QCheckBox("★ only")
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("tag")
        self.since = QLineEdit()
        self.since.setPlaceholderText("since YYYY-MM-DD")
        self.until = QLineEdit()
        self.until.setPlaceholderText("until YYYY-MM-DD")
        self.list = QListWidget()
        self.list.setObjectName("history-list")
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.itemDoubleClicked.connect(lambda _item: self.open_selected())
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.ElideRight)
        self.result = QLabel()
        self.result.setObjectName("history-result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.timer = QTimer(self, singleShot=True, interval=200)
        self.timer.timeout.connect(self.refresh)
        for edit in (self.search, self.tag, self.since, self.until):
            edit.textChanged.connect(self.timer.start)
        for combo in (self.model, self.kind, self.ranked):
            combo.activated.connect(self.timer.start)
        self.starred.toggled.connect(self.timer.start)
        self._build()

    def _build(self) -> None:
        filters = QGridLayout()
        filters.addWidget(self.search, 0, 0, 1, 2)
        filters.addWidget(self.model, 1, 0)
        filters.addWidget(self.kind, 1, 1)
        filters.addWidget(self.ranked, 2, 0)
        filters.addWidget(self.starred, 2, 1)
        filters.addWidget(self.since, 3, 0)
        filters.addWidget(self.until, 3, 1)
        filters.addWidget(self.tag, 4, 0)
        rows = [
            [("Open", self.open_selected), ("★", self.toggle_star), ("Tag…", self.tag_selected)],
            [("Compare 2", self.compare_selected), ("Delete", self.delete_selected)],
            [("Copy as Python", lambda: self.copy_code("python")), ("Copy as curl", lambda: self.copy_code("curl"))],
        ]
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.list, 1)
        for row in rows:
            line = QHBoxLayout()
            for text, slot in row:
                button = QPushButton(text)
                button.setObjectName("history-" + text.lower().replace(" ", "-").strip("…★") or "history-star")
                button.clicked.connect(slot)
                line.addWidget(button)
            layout.addLayout(line)
        layout.addWidget(self.result)

    # -- the list ------------------------------------------------------------------------------
    def query(self) -> RunQuery:
        return RunQuery(
            search=self.search.text(),
            model=self.model.currentData() or "",
            since=self.since.text().strip(),
            until=self.until.text().strip(),
            starred=self.starred.isChecked(),
            tag=self.tag.text().strip(),
            ranked=self.ranked.currentData(),
            kind=self.kind.currentData() or "",
        )

    def refresh(self) -> None:
        self._fill_models()
        try:
            found = self.store.list_runs(200, self.query().validate())
        except WorkbenchError as err:
            self.result.setText(str(err))
            return
        self.list.clear()
        for run in found:
            star = "★ " if run.starred else ""
            tags = f" [{', '.join(run.tags)}]" if run.tags else ""
            ranked = " · ranked" if run.ranked else ""
            first = run.prompt.replace("\n", " ")[:48]
            output = run.first_output.replace("\n", " ")[:48]
            item = QListWidgetItem(
                f"{star}#{run.id} {first}\n→ {output}\n{run.model} · {run.kind} · {run.created_at[5:16]} · "
                f"{run.samples}×{ranked}{tags}"
            )
            item.setToolTip(f"{run.prompt}\n→ {run.first_output}")
            item.setData(Qt.UserRole, run.id)
            self.list.addItem(item)
        self.result.setText(f"{len(found)} run(s)" + (" (the newest 200)" if len(found) == 200 else ""))

    def _fill_models(self) -> None:
        current = self.model.currentData()
        names = self.store.run_models()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem("any model", "")
        for name in names:
            self.model.addItem(name, name)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self.model.blockSignals(False)

    def selected_ids(self) -> list[int]:
        return [int(item.data(Qt.UserRole)) for item in self.list.selectedItems()]

    def _one(self) -> int | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            self.message.emit("select one run in the history")
            return None
        return ids[0]

    # -- actions -------------------------------------------------------------------------------
    def open_selected(self) -> None:
        run_id = self._one()
        if run_id is not None:
            self.openRequested.emit(self.store.get_run(run_id))

    def toggle_star(self) -> None:
        for run_id in self.selected_ids():
            self.store.set_run_star(run_id, not self.store.get_run(run_id)["starred"])
        self.refresh()

    def tag_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        text, ok = QInputDialog.getText(self, "Tag runs", "Tags (comma-separated; -tag removes it):")
        if ok:
            self.apply_tags(ids, text)

    def apply_tags(self, ids: list[int], text: str) -> None:
        words = [w.strip() for w in text.split(",") if w.strip()]
        for run_id in ids:
            tags = set(self.store.get_run(run_id)["tags"])
            tags |= {w for w in words if not w.startswith("-")}
            tags -= {w[1:] for w in words if w.startswith("-")}
            self.store.set_run_tags(run_id, sorted(tags))
        self.refresh()

    def delete_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        answer = QMessageBox.question(self, "Delete runs", f"Delete {len(ids)} run(s) with their samples and rankings?")
        if answer == QMessageBox.Yes:
            for run_id in ids:
                self.store.delete_run(run_id)
            self.refresh()

    def compare_selected(self) -> str:
        ids = self.selected_ids()
        if len(ids) != 2:
            self.message.emit("select two runs (Ctrl+click) to compare them token by token")
            return ""
        left, right = (self.store.get_run(i) for i in sorted(ids))
        result = history.diff_runs(left, right)
        self.result.setText(describe_divergence(left["id"], right["id"], result))
        return self.result.text()

    def copy_code(self, language: str) -> str:
        run_id = self._one()
        if run_id is None:
            return ""
        run = self.store.get_run(run_id)
        code = runcode.python_snippet(run) if language == "python" else runcode.curl_command(run)
        QApplication.clipboard().setText(code)
        self.result.setText(f"copied: {language} that reproduces run #{run_id} (sample 1)")
        return code


def describe_divergence(left_id: int, right_id: int, result: history.Divergence) -> str:
    if result.identical:
        return f"#{left_id} and #{right_id} are identical token for token ({result.common_tokens} tokens)"

    def side(run_id: int, value: history.SideAt | None) -> str:
        if value is None or value.token_id is None:
            return f"#{run_id} ends"
        other = "not among its alternatives" if value.prob_of_other is None else f"{value.prob_of_other:.1%}"
        return f"#{run_id} took {value.text!r} (p = {value.prob:.1%}; the other's token {other})"

    notes = "".join(f"\nnote: {n}" for n in result.notes)
    return (
        f"The same for {result.common_tokens} tokens ({result.common_text[-40:]!r}); then "
        f"{side(left_id, result.left)}, {side(right_id, result.right)}{notes}"
    )
