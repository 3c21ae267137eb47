"""A server's log-probabilities as the workbench's one token record (TokenStep).

Two shapes exist on the wire: the completions API's (`tokens`, `token_logprobs`, `top_logprobs` as
{text: logprob}, `text_offset`: OpenAI, vLLM, llama-cpp-python) and the chat API's (`content`: a list of
{token, logprob, bytes, top_logprobs: [...]}, with `id` from llama.cpp's server). Both carry raw
log-probabilities only: no after-sampling split, so the records say RAW_ONLY. A chunk without any gives a
NO_PROBABILITIES record: its text, never an invented number.
"""

from __future__ import annotations

import math
from typing import Any

from workbench.engine.base import NO_PROBABILITIES, RAW_ONLY, TokenStep, TopToken

UNKNOWN_ID = -1  # the server did not say which vocabulary entry it was


def _bytes(entry: dict[str, Any], text: str) -> bytes:
    raw = entry.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return bytes(raw)
    return text.encode("utf-8")


def _id(entry: dict[str, Any]) -> int:
    value = entry.get("id")
    return value if isinstance(value, int) and value >= 0 else UNKNOWN_ID


def _logprob(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _top(entries: list[TopToken]) -> tuple[TopToken, ...]:
    return tuple(sorted(entries, key=lambda t: -t.logprob if math.isfinite(t.logprob) else math.inf))


def steps_from_logprobs(logprobs: dict[str, Any] | None, text: str) -> list[TokenStep]:
    """The records of one streamed chunk (or a whole response): one per token the server reported."""
    if not logprobs:
        return [text_only_step(text)] if text else []
    if isinstance(logprobs.get("content"), list):
        return [_chat_step(entry) for entry in logprobs["content"] if isinstance(entry, dict)]
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or [None] * len(tokens)
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    return [_completion_step(str(t), v, top) for t, v, top in zip(tokens, values, tops, strict=False)]


def _completion_step(token: str, value: Any, top: dict[str, Any] | None) -> TokenStep:
    logprob = _logprob(value)
    alternatives = [
        TopToken(UNKNOWN_ID, str(k), str(k).encode("utf-8"), _logprob(v), None) for k, v in (top or {}).items()
    ]
    return TokenStep(
        id=UNKNOWN_ID,
        bytes=token.encode("utf-8"),
        text=token,
        logprob=logprob,
        logprob_sampled=math.nan,
        top=_top(alternatives),
        probabilities=RAW_ONLY if math.isfinite(logprob) else NO_PROBABILITIES,
    )


def _chat_step(entry: dict[str, Any]) -> TokenStep:
    text = str(entry.get("token", ""))
    logprob = _logprob(entry.get("logprob"))
    alternatives = [
        TopToken(_id(t), str(t.get("token", "")), _bytes(t, str(t.get("token", ""))), _logprob(t.get("logprob")), None)
        for t in entry.get("top_logprobs") or []
        if isinstance(t, dict)
    ]
    return TokenStep(
        id=_id(entry),
        bytes=_bytes(entry, text),
        text=text,
        logprob=logprob,
        logprob_sampled=math.nan,
        top=_top(alternatives),
        probabilities=RAW_ONLY if math.isfinite(logprob) else NO_PROBABILITIES,
    )


def text_only_step(text: str) -> TokenStep:
    """A streamed piece without probabilities (the server gave none): its text only."""
    return TokenStep(
        id=UNKNOWN_ID,
        bytes=text.encode("utf-8"),
        text=text,
        logprob=math.nan,
        logprob_sampled=math.nan,
        probabilities=NO_PROBABILITIES,
    )


def prompt_logprobs(logprobs: dict[str, Any], boundary: int, end: int) -> float | None:
    """Sum of the echoed prompt tokens' log-probabilities between character offsets `boundary` and `end`
    (the continuation being scored; generated tokens after it are left out); None when the server echoed
    no offsets or no values."""
    offsets = logprobs.get("text_offset") or []
    values = logprobs.get("token_logprobs") or []
    if not offsets or len(offsets) != len(values):
        return None
    tokens = logprobs.get("tokens") or [""] * len(offsets)
    total, counted = 0.0, 0
    for offset, value, token in zip(offsets, values, tokens, strict=True):
        if offset >= end:
            break
        if offset + len(str(token)) > boundary:  # a token that reaches past the prompt belongs to the continuation
            if value is None:
                return None
            total += float(value)
            counted += 1
    return total if counted else None
