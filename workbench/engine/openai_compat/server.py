"""Talking to an OpenAI-compatible server: the client, what kind of server it is (which sampling settings
it honours, where it tokenizes), and its failures as one clear line each.

The official `openai` package is the client: it streams server-sent events, retries 429 / 5xx / dropped
connections with exponential backoff, applies timeouts and types every failure. Endpoints outside the
OpenAI API (llama.cpp's /tokenize and /props, llama-cpp-python's /extras/tokenize, vLLM's /tokenize) go
through httpx2, the HTTP library `openai` itself uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.engine.base import SamplingParams
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.errors import RemoteError

ALL_SAMPLING = frozenset({"temperature", "top_p", "top_k", "min_p", "repeat_penalty", "repeat_last_n", "seed"})


@dataclass(frozen=True)
class ServerProfile:
    """What one kind of server accepts. `wire` renames a setting where the server calls it otherwise."""

    kind: str
    accepts: frozenset[str]
    tokenize_path: str | None  # under the server root; None: the server cannot tokenize for us
    echo_logprobs: bool  # returns prompt log-probabilities with echo=True (label-likelihood scoring)
    max_top_logprobs: int
    wire: tuple[tuple[str, str], ...] = ()
    serial: str = ""  # why requests go one at a time to this kind of server ("": it takes several at once)

    def wire_name(self, name: str) -> str:
        return dict(self.wire).get(name, name)


PROFILES = {
    "llama.cpp": ServerProfile("llama.cpp", ALL_SAMPLING, "/tokenize", False, 20),
    "llama-cpp-python": ServerProfile(
        "llama-cpp-python",
        ALL_SAMPLING - {"repeat_last_n"},
        "/extras/tokenize",
        True,
        20,
        serial=(
            "llama-cpp-python's server answers one request at a time and, by default (--interrupt_requests "
            "true), ends a running stream when the next request arrives: requests go to it one at a time"
        ),
    ),
    "vllm": ServerProfile(
        "vllm",
        ALL_SAMPLING - {"repeat_last_n"},
        "/tokenize",
        True,
        20,
        wire=(("repeat_penalty", "repetition_penalty"),),
    ),
    "ollama": ServerProfile("ollama", frozenset({"temperature", "top_p", "seed"}), None, False, 20),
    "openai": ServerProfile("openai", frozenset({"temperature", "top_p", "seed"}), None, False, 5),
}


def sampling_settings(profile: ServerProfile, params: SamplingParams, seed: int) -> tuple[dict[str, Any], list[str]]:
    """The settings this server takes, under its names; a note for each it would ignore (none under greedy
    decoding, where truncation and the seed change nothing; none for a setting at its neutral value)."""
    wanted = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,
        "min_p": params.min_p,
        "repeat_penalty": params.repeat_penalty,
        "repeat_last_n": params.repeat_last_n,
        "seed": seed,
    }
    neutral = {"top_p": 1.0, "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
    body: dict[str, Any] = {}
    notes = []
    for name, value in wanted.items():
        if name in profile.accepts:
            body[profile.wire_name(name)] = value
        elif _matters(name, value, params, neutral):
            notes.append(f"{name} = {value} not applied: this {profile.kind} server does not take it")
    return body, notes


def _matters(name: str, value: Any, params: SamplingParams, neutral: dict[str, Any]) -> bool:
    if params.greedy:
        return False
    if name == "repeat_last_n":
        return params.repeat_penalty != 1.0
    return neutral.get(name) != value


def make_client(endpoint: Endpoint):
    import openai

    return openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key(),
        timeout=endpoint.timeout_s,
        max_retries=endpoint.max_retries,
    )


def http_headers(endpoint: Endpoint) -> dict[str, str]:
    key = endpoint.api_key()
    return {"Authorization": f"Bearer {key}"} if key != "none" else {}


def remote_error(err: BaseException, endpoint: Endpoint) -> RemoteError:
    """Any failure of a request as one line naming the server, and whether trying again may help."""
    import openai

    where = endpoint.base_url
    if isinstance(err, RemoteError):
        return err
    if isinstance(err, openai.APITimeoutError):
        return RemoteError(f"{where} did not answer within {endpoint.timeout_s:g} s", transient=True)
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err
        return RemoteError(f"cannot reach {where}: {_reason(cause)}", unreachable=True)
    if isinstance(err, openai.AuthenticationError):
        return RemoteError(f"{where} refused the API key (401): {_detail(err)}")
    if isinstance(err, openai.PermissionDeniedError):
        return RemoteError(f"{where} denied access (403): {_detail(err)}")
    if isinstance(err, openai.NotFoundError):
        return RemoteError(f"{where} has no such model or endpoint (404): {_detail(err)}")
    if isinstance(err, openai.RateLimitError):
        return RemoteError(f"{where} is rate-limiting (429) after {endpoint.max_retries} retries", transient=True)
    if isinstance(err, openai.APIStatusError):
        transient = err.status_code >= 500
        return RemoteError(f"{where} failed with HTTP {err.status_code}: {_detail(err)}", transient=transient)
    if isinstance(err, ValueError | KeyError | TypeError | AttributeError):  # a stream that is not JSON events
        return RemoteError(f"{where} sent a malformed response: {_reason(err)}", transient=True)
    return RemoteError(f"{where}: {_reason(err)}", transient=True)


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def _detail(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") or inner.get("detail") if isinstance(inner, dict) else inner
        if message:
            return str(message).splitlines()[0][:200]
    return _reason(err)


def http_json(endpoint: Endpoint, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """(status, parsed JSON or None) of a request to the server root; RemoteError when unreachable."""
    import httpx2

    url = endpoint.server_root + path
    try:
        response = httpx2.request(
            method, url, json=body, headers=http_headers(endpoint), timeout=min(endpoint.timeout_s, 30.0)
        )
    except httpx2.TimeoutException:
        raise RemoteError(f"{url} did not answer within {min(endpoint.timeout_s, 30.0):g} s", transient=True) from None
    except httpx2.HTTPError as err:
        raise RemoteError(f"cannot reach {endpoint.base_url}: {_reason(err)}", unreachable=True) from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def server_models(client, endpoint: Endpoint) -> list[dict[str, Any]]:
    """The server's /v1/models entries (id, owned_by)."""
    try:
        page = client.models.list()
        return [{"id": m.id, "owned_by": getattr(m, "owned_by", "") or ""} for m in page.data]
    except Exception as err:
        raise remote_error(err, endpoint) from None


def detect_profile(endpoint: Endpoint, listed: list[dict[str, Any]]) -> ServerProfile:
    """Which server this is, from what it lists and which of its own endpoints answer."""
    owners = {m["owned_by"] for m in listed}
    if "vllm" in owners:
        return PROFILES["vllm"]
    if owners & {"library", "ollama"}:
        return PROFILES["ollama"]
    status, body = http_json(endpoint, "GET", "/props")
    if status == 200 and isinstance(body, dict) and ("default_generation_settings" in body or "n_ctx" in body):
        return PROFILES["llama.cpp"]
    status, _ = http_json(endpoint, "POST", "/extras/tokenize/count", {"input": "a"})
    if status == 200:
        return PROFILES["llama-cpp-python"]
    return PROFILES["openai"]


def check_model(endpoint: Endpoint, listed: list[dict[str, Any]]) -> str:
    """The model to ask for: the one named, which the server must list; or the server's only model."""
    names = [m["id"] for m in listed]
    if endpoint.model:
        if names and endpoint.model not in names:
            raise RemoteError(
                f"{endpoint.base_url} does not serve the model {endpoint.model!r} (it has: {_few(names)})"
            )
        return endpoint.model
    if len(names) == 1:
        return names[0]
    raise RemoteError(f"{endpoint.base_url} serves {len(names)} models; name one with --model ({_few(names)})")


def _few(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") if names else "none"


def tokenize_body(profile: ServerProfile, model: str, text: str, add_bos: bool, special: bool) -> dict[str, Any]:
    if profile.kind == "llama.cpp":
        return {"content": text, "add_special": add_bos, "parse_special": special}
    if profile.kind == "vllm":
        return {"model": model, "prompt": text, "add_special_tokens": add_bos}
    return {"model": model, "input": text}


def tokens_of(body: Any) -> list[int]:
    tokens = body.get("tokens") if isinstance(body, dict) else None
    if not isinstance(tokens, list):
        raise RemoteError("the server's tokenize endpoint answered without a token list")
    return [t["id"] if isinstance(t, dict) else int(t) for t in tokens]
