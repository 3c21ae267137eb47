"""The rotating log: errors with their context in the user data folder, `--verbose` on stderr, no keys."""

from __future__ import annotations

import logging

from workbench import logs


def test_a_failure_is_one_line_on_stderr_and_logged_with_its_context(cli, tmp_path):
    result = cli("generate", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "-p", "Hi", "-n", "1")
    assert result.code == 1 and result.stderr.count("\n") == 1
    logged = (tmp_path / "logs" / "workbench.log").read_text(encoding="utf-8")
    assert "WARNING workbench: generate failed: RemoteError: cannot reach http://127.0.0.1:9/v1" in logged
    assert "Hi" not in logged.split("failed")[0]  # the prompt is not logged


def test_verbose_prints_the_log_lines(cli):
    result = cli("-v", "tokenize", "--text", "hello", "--tokenizer", "cl100k_base")
    assert result.code == 0
    assert "workbench log: DEBUG workbench: command tokenize" in result.stderr


def test_keys_are_redacted_from_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOG_DIR", str(tmp_path / "somewhere"))
    path = logs.setup()
    logs.log.warning("request failed: Authorization: Bearer sk-abc123secret456 api_key=abcdef123456")
    for handler in logs.log.handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "abc123secret456" not in text and "abcdef123456" not in text
    assert "Bearer [redacted]" in text and "api_key=[redacted]" in text
    assert path == tmp_path / "somewhere" / "workbench.log"


def test_an_unwritable_log_folder_leaves_the_workbench_working(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_LOG_DIR", str(blocker / "logs"))
    assert logs.setup() is None
    logs.log.warning("still fine")
    assert all(not isinstance(h, logging.FileHandler) for h in logs.log.handlers)
    assert capsys.readouterr().err == ""  # not on stderr either: the CLI's one line stays one line
