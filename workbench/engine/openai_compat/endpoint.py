"""Where a remote model lives: an OpenAI-compatible base URL, the server's model name, and where its API key
comes from (an environment variable or the system keyring, never stored). An Endpoint is written into a grid's
plan as a reference string (`remote:{json}`) so a later process can resume it; the reference holds no secret."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from workbench.engine.model_info import ModelInfo
from workbench.errors import InputError, RemoteError

REF_PREFIX = "remote:"
KEYRING_SERVICE = "prompt-workbench"
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends in /v1 (added when missing)
    model: str = ""  # the server's model name ("": the server's only model)
    connection: str = ""  # the saved connection's name, "" for one given on the command line
    api_key_env: str = ""  # the environment variable holding the key, "" for none
    keyring: bool = False  # the key is in the system keyring under (KEYRING_SERVICE, connection)
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = 2  # on 429, 5xx and dropped connections, with exponential backoff

    def validate(self) -> Endpoint:
        normalized = normalize_base_url(self.base_url)
        if self.timeout_s <= 0:
            raise InputError(f"the timeout must be > 0 seconds (got {self.timeout_s})")
        if not 0 <= self.max_retries <= 10:
            raise InputError(f"retries must be 0..10 (got {self.max_retries})")
        if self.keyring and not self.connection:
            raise InputError("a key in the keyring belongs to a saved connection: give it a name")
        return replace(self, base_url=normalized)

    @property
    def label(self) -> str:
        """How runs and pickers name it: the connection (or host) and the server's model."""
        where = self.connection or urlsplit(self.base_url).netloc
        return f"{where}/{self.model}" if self.model else where

    @property
    def server_root(self) -> str:
        """The URL without its /v1: llama.cpp's /tokenize and /props, llama-cpp-python's /extras live there."""
        return self.base_url.removesuffix("/v1")

    def ref(self) -> str:
        record = {k: v for k, v in asdict(self).items() if v not in ("", False)}
        return REF_PREFIX + json.dumps(record, sort_keys=True)

    def describe(self) -> dict[str, Any]:
        """What a run records: where and which model, and where the key came from (never the key)."""
        key = "keyring" if self.keyring else f"${self.api_key_env}" if self.api_key_env else "none"
        return {"engine": "openai", "base_url": self.base_url, "model": self.model, "api_key": key}

    def api_key(self) -> str:
        """The key from the environment or the keyring; "none" when the server needs none (the client
        library insists on a value)."""
        if self.keyring:
            return keyring_get(self.connection)
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise RemoteError(f"the environment variable {self.api_key_env} (the API key) is not set")
            return value
        return "none"


def is_ref(path: str) -> bool:
    return path.startswith(REF_PREFIX)


def from_ref(ref: str) -> Endpoint:
    try:
        record = json.loads(ref.removeprefix(REF_PREFIX))
        return Endpoint(**record).validate()
    except (ValueError, TypeError) as err:
        raise InputError(f"not a remote model reference: {ref[:80]!r} ({err})") from None


def normalize_base_url(url: str) -> str:
    """http(s)://host[:port][/path], with /v1 at the end (every OpenAI-compatible server serves it there)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"not an http(s) URL: {url!r} (expected e.g. http://127.0.0.1:8080/v1)")
    if parts.username or parts.password:
        raise InputError("put the API key in an environment variable or the keyring, not in the URL")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise InputError(f"the port in {url!r} is not a number from 0 to 65535") from None
    if parts.query or parts.fragment:
        raise InputError(f"the base URL has a query or fragment: {url!r}")
    return url if url.endswith("/v1") else url + "/v1"


def keyring_get(connection: str) -> str:
    import keyring
    from keyring.errors import KeyringError

    try:
        value = keyring.get_password(KEYRING_SERVICE, connection)
    except KeyringError as err:
        raise RemoteError(f"the system keyring cannot be read: {err}") from None
    if not value:
        raise RemoteError(f"no API key for connection {connection!r} in the system keyring")
    return value


def keyring_set(connection: str, key: str) -> None:
    import keyring
    from keyring.errors import KeyringError

    try:
        keyring.set_password(KEYRING_SERVICE, connection, key)
    except (KeyringError, RuntimeError) as err:
        reason = str(err).split(". ")[0].strip() or type(err).__name__
        raise RemoteError(f"no usable system keyring here ({reason}); use --api-key-env instead") from None


def keyring_delete(connection: str) -> None:
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    with contextlib.suppress(PasswordDeleteError, KeyringError, RuntimeError):  # nothing stored, or no keyring
        keyring.delete_password(KEYRING_SERVICE, connection)


def remote_info(endpoint: Endpoint) -> ModelInfo:
    """A model on an OpenAI-compatible server, named without contacting it; its `path` is the reference a
    grid, a conversation or a run keeps (no secret in it)."""
    return ModelInfo(
        name=endpoint.label,
        path=endpoint.ref(),
        source="remote",
        size_bytes=0,
        architecture="remote",
        parameter_count=0,
        quantization="",
        context_length=None,
        vocab_size=None,
        has_chat_template=True,  # the server applies its model's template on /v1/chat/completions
        bos_token_id=None,
        eos_token_id=None,
        add_bos=True,
        description=f"{endpoint.model or 'the only model'} at {endpoint.base_url}",
    )
