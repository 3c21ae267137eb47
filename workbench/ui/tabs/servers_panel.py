"""The Models tab's servers: saved connections to OpenAI-compatible servers (llama.cpp's server, vLLM, Ollama,
hosted APIs). Add or edit one, check it (off the UI thread: what the server is, what it serves, which settings
it takes), remove it, or use it as the window's model. Keys come from an environment variable or the system
keyring; the form never writes one to the database."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from workbench import models
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.errors import WorkbenchError
from workbench.models import connections
from workbench.ui.workers import LatestJob


class ServersPanel(QGroupBox):
    message = Signal(str)
    useRequested = Signal(str)  # connection:NAME, to load as the window's model
    changed = Signal()

    def __init__(self, store) -> None:
        super().__init__("Servers (OpenAI-compatible: llama.cpp server, vLLM, Ollama, hosted APIs)")
        self.store = store
        self.check_job = LatestJob("server-check", self)
        self.check_job.finished.connect(self._checked)
        self.check_job.failed.connect(self._check_failed)
        self._build()
        self.refresh()

    def _build(self) -> None:
        self.list = QListWidget()
        self.list.setObjectName("servers-list")
        self.list.setMaximumHeight(110)
        self.list.currentItemChanged.connect(self._show_current)
        self.name = QLineEdit(placeholderText="lab-gpu")
        self.base_url = QLineEdit(placeholderText="http://127.0.0.1:8080/v1")
        self.model = QLineEdit(placeholderText="the server's model name (empty: its only model)")
        self.key_env = QLineEdit(placeholderText="environment variable with the API key, e.g. OPENAI_API_KEY")
        self.use_keyring = QCheckBox("key in the system keyring:")
        self.key = QLineEdit(placeholderText="API key (stored in the keyring, never in the database)")
        self.key.setEchoMode(QLineEdit.Password)
        self.key.setEnabled(False)
        self.use_keyring.toggled.connect(self.key.setEnabled)
        self.use_keyring.toggled.connect(lambda on: self.key_env.setEnabled(not on))
        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.use_keyring)
        keyring_row.addWidget(self.key)
        form = QFormLayout()
        for label, field in (("Name", self.name), ("Base URL", self.base_url), ("Model", self.model)):
            field.setObjectName(f"server-{label.split()[-1].lower()}")
            form.addRow(label, field)
        form.addRow("API key from", self.key_env)
        form.addRow("", keyring_row)
        buttons = QHBoxLayout()
        for text, slot in (("Save", self.save), ("Check", self.check), ("Use", self.use), ("Remove", self.remove)):
            button = QPushButton(text)
            button.setObjectName(f"server-{text.lower()}")
            button.clicked.connect(slot)
            buttons.addWidget(button)
        self.status = QLabel("Save a server to use its models in the Playground, Compare and the Tokenizer.")
        self.status.setObjectName("server-status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    # -- data ----------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        self.list.clear()
        for endpoint in self.store.connections():
            key = endpoint.describe()["api_key"]
            item = QListWidgetItem(
                f"{endpoint.connection} · {endpoint.base_url} · {endpoint.model or '(its only model)'}"
            )
            item.setData(Qt.UserRole, endpoint.connection)
            item.setToolTip(f"API key: {key}")
            self.list.addItem(item)
            if endpoint.connection == select:
                self.list.setCurrentItem(item)

    def current(self) -> Endpoint | None:
        item = self.list.currentItem()
        if item is None:
            return None
        try:
            return self.store.connection(item.data(Qt.UserRole))
        except WorkbenchError:
            return None

    def _show_current(self, *_args) -> None:
        endpoint = self.current()
        if endpoint is None:
            return
        self.name.setText(endpoint.connection)
        self.base_url.setText(endpoint.base_url)
        self.model.setText(endpoint.model)
        self.key_env.setText(endpoint.api_key_env)
        self.use_keyring.setChecked(endpoint.keyring)
        self.key.clear()

    def form_endpoint(self) -> Endpoint:
        return Endpoint(
            self.base_url.text(),
            self.model.text().strip(),
            self.name.text().strip(),
            "" if self.use_keyring.isChecked() else self.key_env.text().strip(),
            self.use_keyring.isChecked(),
        )

    # -- actions -------------------------------------------------------------------------------
    def save(self) -> bool:
        try:
            key = self.key.text() if self.use_keyring.isChecked() and self.key.text() else None
            endpoint = self.form_endpoint()
            if endpoint.keyring and key is None and self._saved_keyring(endpoint.connection):
                saved = self.store.save_connection(endpoint.validate())  # the key already in the keyring stays
            else:
                saved = connections.save_connection(self.store, endpoint, key)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return False
        self.key.clear()
        self.refresh(select=saved.connection)
        self.status.setText(f"Saved {saved.connection}: {saved.base_url}. Check it to see what it serves.")
        self.changed.emit()
        return True

    def _saved_keyring(self, name: str) -> bool:
        return any(e.connection == name and e.keyring for e in self.store.connections())

    def check(self) -> None:
        endpoint = self.current()
        if endpoint is None or self.check_job.busy:
            self.message.emit("choose a saved server to check")
            return
        self.status.setText(f"contacting {endpoint.base_url}…")
        self.check_job.submit(lambda: connections.check_connection(endpoint))

    def _checked(self, report: dict) -> None:
        context = f"{report['n_ctx']:,} tokens" if report["n_ctx_known"] else "not reported (4,096 assumed)"
        self.status.setText(
            f"{report['connection']}: a {report['server']} server answering with {report['server_model']} "
            f"(serves: {', '.join(report['models'])}). Takes: {', '.join(report['accepts'])}. "
            f"Context: {context}. Tokenizer: {'yes' if report['tokenize'] else 'none (Tokenizer tab unavailable)'}."
        )

    def _check_failed(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit(text)

    def use(self) -> None:
        endpoint = self.current()
        if endpoint is None:
            self.message.emit("choose a saved server to use")
            return
        self.useRequested.emit(models.CONNECTION_PREFIX + endpoint.connection)

    def remove(self) -> None:
        endpoint = self.current()
        if endpoint is None:
            return
        try:
            connections.remove_connection(self.store, endpoint.connection)
        except WorkbenchError as err:
            self.message.emit(str(err))
            return
        self.refresh()
        self.status.setText(f"Removed {endpoint.connection}.")
        self.changed.emit()

    def shutdown(self) -> None:
        self.check_job.shutdown(30_000)
