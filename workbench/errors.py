"""Typed errors whose message is fit to show a user as-is (one line, no traceback)."""


class WorkbenchError(Exception):
    """Base of every error a user can cause; `str(err)` is the message to show."""


class ModelLoadError(WorkbenchError):
    """The model file is missing, not GGUF, truncated, or llama.cpp refused it."""


class ContextOverflowError(WorkbenchError):
    """The prompt (plus what must be generated) does not fit the context window."""


class EngineError(WorkbenchError):
    """llama.cpp failed while evaluating (out of memory, a backend fault)."""


class InvalidParameterError(WorkbenchError):
    """A sampling or generation setting is outside its valid range."""


class InputError(WorkbenchError):
    """Bad user input: empty prompt, unreadable or non-UTF-8 file, unknown name."""


class StoreError(WorkbenchError):
    """The SQLite store cannot be opened, migrated or written."""


class TemplateError(WorkbenchError):
    """A template does not parse, misses a variable, or tried something the sandbox refuses."""


class RemoteError(WorkbenchError):
    """An OpenAI-compatible server refused, failed or could not be reached. `transient`: trying again later
    may succeed (unreachable, timed out, 429, 5xx), so a grid marks the cell failed and resume retries it."""

    def __init__(self, message: str, transient: bool = False, unreachable: bool = False) -> None:
        super().__init__(message)
        self.transient = transient or unreachable
        self.unreachable = unreachable


class UnsupportedError(WorkbenchError):
    """The engine cannot do this (a remote server has no whole-vocabulary distribution, no tokenizer, ...)."""
