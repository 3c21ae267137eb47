"""Guards the Qt binding itself: PySide6 6.12.0 dropped a reference to None on every void call
and to True on every bool signal, so a long session crashed the interpreter (pinned below 6.12)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QPushButton


class _Emitter(QObject):
    flag = Signal(bool)


def test_void_calls_and_bool_signals_keep_reference_counts(qtbot):
    button = QPushButton()
    qtbot.addWidget(button)
    emitter = _Emitter()
    received: list[bool] = []
    emitter.flag.connect(received.append)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        button.click()
        emitter.flag.emit(True)
    assert len(received) == 200
    assert sys.getrefcount(None) - none_before > -20, "the Qt binding leaks references to None"
    assert sys.getrefcount(True) - true_before > -20, "the Qt binding leaks references to True"
