"""A server's own tokenizer, through its tokenize endpoint (llama.cpp's /tokenize, llama-cpp-python's
/extras/tokenize, vLLM's /tokenize). Servers without one (Ollama, hosted APIs) say so: no guessing."""

from __future__ import annotations

from workbench.engine.model_info import ModelInfo
from workbench.errors import RemoteError


class RemoteTokenizer:
    def __init__(self, info: ModelInfo, name: str | None = None) -> None:
        from workbench.models.engines import Overrides, open_engine

        self.backend = open_engine(info, Overrides(parallel=1))  # contacts the server: a bad URL fails here
        self.info = self.backend.info
        self.name = name or info.name
        self.vocab_size = 0  # a server does not say
        self._pieces: dict[int, bytes | None] = {}

    def encode(self, text: str, special: bool = False, bos: bool = False) -> list[int]:
        return self.backend.tokenize(text, add_bos=bos, special=special)

    def token_bytes(self, token_id: int) -> bytes:
        piece = self._known_bytes(token_id)
        if piece is None:
            raise RemoteError(f"the server cannot spell token {token_id} on its own (a partial UTF-8 character)")
        return piece

    def _known_bytes(self, token_id: int) -> bytes | None:
        if token_id not in self._pieces:  # one request per distinct token, then remembered
            try:
                self._pieces[token_id] = self.backend.token_bytes(token_id)
            except RemoteError:
                self._pieces[token_id] = None  # e.g. llama-cpp-python refuses to detokenize a byte token
        return self._pieces[token_id]

    def pieces_of(self, text: str, ids: list[int]) -> list[bytes]:
        """Each token's bytes. A server spells whole characters only, so tokens that are pieces of one
        character are spelled together: the group's bytes one per token when it has as many tokens as
        bytes (byte-fallback vocabularies), else all on its first token (the local vocabulary shows the split)."""
        pieces: list[bytes] = []
        index = 0
        while index < len(ids):
            piece = self._known_bytes(ids[index])
            if piece is not None:
                pieces.append(piece)
                index += 1
                continue
            group, size = self._character_group(ids, index)
            pieces += [group[k : k + 1] for k in range(size)] if len(group) == size else [group] + [b""] * (size - 1)
            index += size
        return pieces

    def _character_group(self, ids: list[int], start: int) -> tuple[bytes, int]:
        """The shortest run of tokens from `start` that spells whole characters, and its length."""
        for end in range(start + 2, min(start + 8, len(ids)) + 1):
            try:
                return self.backend.detokenize(ids[start:end]), end - start
            except RemoteError:
                continue
        return b"", 1  # nothing whole within 8 tokens: shown empty rather than guessed

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def is_special(self, token_id: int) -> bool:
        return False  # a server does not mark control tokens

    def close(self) -> None:
        self.backend.close()
