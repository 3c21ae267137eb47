"""The workbench's log: a rotating file in the user data folder with errors and their context (the command,
the model, what failed), never a prompt, a completion or a key. `--verbose` (CLI) also prints it on stderr."""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

from workbench import config

LOG_FILE = "workbench.log"
MAX_BYTES = 1_000_000
BACKUPS = 3  # workbench.log and three older files: at most 4 MB
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SECRET = re.compile(r"(?i)(bearer\s+|api[_-]?key[=:\s]+|sk-)[A-Za-z0-9._\-]{6,}")

log = logging.getLogger("workbench")


class Redact(logging.Filter):
    """Masks anything shaped like a key (`Bearer ...`, `api_key=...`, `sk-...`) that reached a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = SECRET.sub(lambda m: m.group(1) + "[redacted]", message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def log_path() -> Path:
    return config.log_dir() / LOG_FILE


def setup(verbose: bool = False) -> Path | None:
    """Log to the rotating file (and to stderr when `verbose`); called again with another log folder (tests,
    `WORKBENCH_LOG_DIR`) it moves there. A folder that cannot be written leaves the workbench working without
    a file log; the file's path is returned when there is one."""
    global _configured
    wanted = (log_path(), verbose)
    if _configured == wanted:
        return wanted[0]
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    redact = Redact()
    path: Path | None = wanted[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redact)
        log.addHandler(handler)
    except OSError:
        path = None
        log.addHandler(logging.NullHandler())  # else logging's last resort prints warnings on stderr
    if verbose:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter("workbench log: %(levelname)s %(name)s: %(message)s"))
        stream.addFilter(redact)
        log.addHandler(stream)
    _configured = wanted
    return path


_configured: tuple[Path, bool] | None = None
