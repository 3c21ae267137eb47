"""A server's own tokenizer, through its tokenize endpoint (llama.cpp's /tokenize, llama-cpp-python's
/extras/tokenize, vLLM's /tokenize). Servers without one (Ollama, hosted APIs) say so: no guessing."""

from __future__ import annotations

from workbench.models import ModelInfo


class RemoteTokenizer:
    def __init__(self, info: ModelInfo, name: str | None = None) -> None:
        from workbench.engines import open_backend

        self.backend = open_backend(info, in_flight=1)  # contacts the server: a bad URL fails here
        self.info = self.backend.info
        self.name = name or info.name
        self.vocab_size = 0  # a server does not say
        self._pieces: dict[int, bytes] = {}

    def encode(self, text: str, special: bool = False, bos: bool = False) -> list[int]:
        return self.backend.tokenize(text, add_bos=bos, special=special)

    def token_bytes(self, token_id: int) -> bytes:
        if token_id not in self._pieces:  # one request per distinct token, then remembered
            self._pieces[token_id] = self.backend.token_bytes(token_id)
        return self._pieces[token_id]

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def is_special(self, token_id: int) -> bool:
        return False  # a server does not mark control tokens

    def close(self) -> None:
        self.backend.close()
