"""A GGUF model's vocabulary through llama.cpp's C API: text -> ids, id -> raw bytes.

Shared by the engine (a loaded model) and the tokenizer viewer (a vocabulary-only load).
"""

from __future__ import annotations

import ctypes
import threading

from workbench.errors import InputError


class Vocabulary:
    def __init__(self, llama_cpp, vocab) -> None:
        self._llama_cpp = llama_cpp
        self._vocab = vocab
        self.size = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self._buffer = ctypes.create_string_buffer(256)
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._lock = threading.Lock()  # the piece buffer is shared between threads

    def tokenize(self, text: str, add_bos: bool, special: bool) -> list[int]:
        data = text.encode("utf-8")
        room = len(data) + 8  # never more tokens than bytes, plus BOS/EOS
        buffer = (self._llama_cpp.llama_token * room)()
        count = self._llama_cpp.llama_tokenize(self._vocab, data, len(data), buffer, room, add_bos, special)
        if count < 0:
            raise InputError(f"llama.cpp could not tokenize the text ({-count} tokens needed)")
        return buffer[:count]

    def piece(self, token_id: int, special: bool) -> bytes:
        """The token's raw bytes; with `special`, control tokens spell their name (<bos>)."""
        key = (token_id, special)
        cached = self._pieces.get(key)
        if cached is None:
            with self._lock:
                size = self._llama_cpp.llama_token_to_piece(
                    self._vocab, token_id, self._buffer, len(self._buffer), 0, special
                )
                cached = self._buffer.raw[: max(size, 0)]
            self._pieces[key] = cached
        return cached

    def is_control(self, token_id: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_control(self._vocab, token_id))

    def is_end_of_generation(self, token_id: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token_id))

    def bos_id(self) -> int | None:
        bos = int(self._llama_cpp.llama_vocab_bos(self._vocab))
        return bos if bos >= 0 else None
