"""Saved connections to OpenAI-compatible servers: add (the key to the system keyring, or the name of the
environment variable that holds it), remove, and check one (what the server is and serves)."""

from __future__ import annotations

from typing import Any

from workbench.engine.openai_compat import endpoint as endpoints
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.errors import InputError


def save_connection(store, endpoint: Endpoint, key: str | None = None) -> Endpoint:
    """Save (or replace) a connection. With `keyring`, `key` goes to the system keyring first, so a failing
    keyring leaves nothing half-saved; the database never holds a key."""
    endpoint = endpoint.validate()
    if endpoint.keyring and endpoint.api_key_env:
        raise InputError("the key comes from the keyring or from an environment variable, not both")
    if endpoint.keyring:
        if not key:
            raise InputError("--keyring needs the key on standard input")
        endpoints.keyring_set(endpoint.connection, key.strip())
    elif key:
        raise InputError("a key is only taken for the keyring (--keyring); else name its variable (--api-key-env)")
    return store.save_connection(endpoint)


def remove_connection(store, name: str) -> None:
    endpoint = store.connection(name)
    store.delete_connection(name)
    if endpoint.keyring:
        endpoints.keyring_delete(name)


def check_connection(endpoint: Endpoint) -> dict[str, Any]:
    """Contact the server: its kind, the model it will answer with, what it accepts, whether it tokenizes.
    RemoteError (one line) when the URL, the key or the model is wrong, or the server is unreachable."""
    from workbench.engine.openai_compat.backend import RemoteBackend
    from workbench.engine.openai_compat.server import server_models

    backend = RemoteBackend(endpoint, parallel=1)
    try:
        listed = [m["id"] for m in server_models(backend.client, backend.endpoint)]
        report = {"connection": endpoint.connection, "models": listed, **backend.runtime_info()}
        return {**report, **numbers_report(backend)}
    finally:
        backend.close()


CLOSEST_FLAGS = "-ctk f32 -ctv f32 -fa off --no-repack -no-kvu --no-cache-prompt"
MEASURED_GAP_NATS = 0.17  # largest first-token gap measured with CLOSEST_FLAGS (tests/integration/test_llama_server.py)


def numbers_report(backend) -> dict[str, Any]:
    """Whether the server's numbers can be compared with the local ones, from what it says about itself. A
    llama.cpp server's /props gives its build, slots, context and model file, but not its K/V type, flash
    attention, repacking, unified cache or prompt cache: those are only known from how it was started."""
    from workbench.engine.openai_compat.server import http_json

    if backend.profile.kind != "llama.cpp":
        return {"numbers": f"not comparable: a {backend.profile.kind} server computes with its own settings"}
    status, props = http_json(backend.endpoint, "GET", "/props")
    props = props if status == 200 and isinstance(props, dict) else {}
    known = {
        "build_info": props.get("build_info"),
        "total_slots": props.get("total_slots"),
        "model_path": props.get("model_path"),
        "n_ctx_per_slot": (props.get("default_generation_settings") or {}).get("n_ctx"),
    }
    return {
        "props": known,
        "numbers": (
            f"close, not identical: started with {CLOSEST_FLAGS} and the engine's llama.cpp version, its "
            f"log-probabilities were within {MEASURED_GAP_NATS} nats of the local reference ones (measured); "
            f"/props (build {known['build_info'] or '?'}) does not say how it was started"
        ),
    }
