"""How surprising a text is to the model: every token's log-probability given the text before it
(teacher forcing; the first token conditioned on BOS), its rank and the top alternatives, and the
whole text's total log-probability, perplexity and bits per byte."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.engine.base import Backend, TopToken
from workbench.engine.llama.decode_loop import Utf8Text
from workbench.engine.llama.prompt_plan import common_prefix
from workbench.engine.next_token import piece_text
from workbench.errors import InvalidParameterError

MAX_TOP = 20


@dataclass(frozen=True)
class ScoredToken:
    id: int
    bytes: bytes
    text: str  # the characters this token completes ("" while a character is partial)
    logprob: float | None  # None: the first token when the model adds no BOS (nothing to condition on)
    rank: int | None
    top: tuple[TopToken, ...]  # the most probable tokens here (raw logprobs; no sampling applied)

    @property
    def surprise_bits(self) -> float | None:
        return None if self.logprob is None else -self.logprob / math.log(2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "bytes_hex": self.bytes.hex(),
            "logprob": self.logprob,
            "rank": self.rank,
            "surprise_bits": self.surprise_bits,
            "top": [t.to_dict() for t in self.top],
        }


@dataclass(frozen=True)
class TextScore:
    model: str
    tokens: tuple[ScoredToken, ...]
    add_bos: bool

    @property
    def scored(self) -> list[ScoredToken]:
        return [t for t in self.tokens if t.logprob is not None]

    @property
    def total_logprob(self) -> float:
        return sum(t.logprob for t in self.scored)

    @property
    def perplexity(self) -> float:
        return math.exp(-self.total_logprob / len(self.scored))

    @property
    def bits_per_byte(self) -> float:
        size = sum(len(t.bytes) for t in self.scored)
        return -self.total_logprob / math.log(2) / size if size else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "add_bos": self.add_bos,
            "tokens": [t.to_dict() for t in self.tokens],
            "scored_tokens": len(self.scored),
            "total_logprob": self.total_logprob,
            "perplexity": self.perplexity,
            "bits_per_byte": self.bits_per_byte,
        }


def score_text(backend: Backend, text: str, add_bos: bool = True, top: int = 5, prompt: str = "") -> TextScore:
    """Teacher-force `text` through the model. With `prompt`, the text is scored as a continuation of
    it, one token per decode exactly as generation computes it (so a generated text scores to the
    generation's own log-probabilities); without, the whole text is evaluated in blocks (faster; each
    figure is llama.cpp's for that evaluation). InvalidParameterError for an empty text or a bad `top`;
    ContextOverflowError (saying by how much) when it does not fit the context."""
    if not text:
        raise InvalidParameterError("the text to score is empty")
    if not 1 <= top <= MAX_TOP:
        raise InvalidParameterError(f"top must be between 1 and {MAX_TOP} (got {top})")
    ids = backend.tokenize(prompt + text, add_bos=add_bos)
    bos = backend.info.bos_token_id
    with_bos = bool(ids) and add_bos and bos is not None and ids[0] == bos
    if prompt:
        start = common_prefix(backend.tokenize(prompt, add_bos=add_bos), ids)
        if start == 0 or start == len(ids):
            raise InvalidParameterError("the prompt and the text must each keep at least one token of their own")
    else:
        start = 1 if with_bos else 0
    if len(ids) < 2:
        raise InvalidParameterError("the text is too short to score: a token to condition on and one to score")
    positions = backend.score_tokens(ids, top, stepwise_from=start if prompt else None)
    decoder = Utf8Text()
    for token_id in ids[1 if with_bos else 0 : start]:
        decoder.feed(backend.token_bytes(token_id))
    tokens = []
    for index in range(start, len(ids)):
        data = backend.token_bytes(ids[index])
        shown = decoder.feed(data)
        if index == 0:  # no BOS and no prompt: the first token has nothing to condition on
            tokens.append(ScoredToken(ids[index], data, shown, None, None, ()))
            continue
        position = positions[index - 1]
        alternatives = tuple(
            TopToken(i, piece_text(backend.token_bytes(i)), backend.token_bytes(i), lp, None) for i, lp in position.top
        )
        tokens.append(ScoredToken(ids[index], data, shown, position.logprob, position.rank, alternatives))
    return TextScore(backend.info.name, tuple(tokens), with_bos)
