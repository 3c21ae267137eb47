"""Read a GGUF file's header (metadata and tensor table) without loading weights.

gguf-py's GGUFReader builds a numpy view per vocabulary entry and takes ~40 s on a
262,144-token vocabulary; this reader skips large arrays and takes milliseconds.
It also checks that the file is long enough for every tensor it declares, so a
truncated download is reported before llama.cpp sees it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
SMALL_ARRAY = 64  # arrays longer than this keep only their length

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    array_lengths: dict[str, int] = field(default_factory=dict)
    parameter_count: int = 0
    tensor_count: int = 0
    expected_size: int = 0
    tensor_bytes: int = 0

    @property
    def vocab_only(self) -> bool:
        """A vocabulary with no weights (llama.cpp's tokenizer-test files): it can tokenize, not generate."""
        return self.tensor_count == 0


class _Cursor:
    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        raw = self.buf[self.pos : self.pos + length]
        if len(raw) != length:
            raise struct.error("string runs past the end of the file")
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.pos += 8 + struct.unpack_from("<Q", self.buf, self.pos)[0]

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        raise struct.error(f"unknown GGUF value type {kind}")

    def array(self) -> tuple[list[Any] | None, int]:
        kind = self.unpack("<I")
        count = self.unpack("<Q")
        if count <= SMALL_ARRAY:
            return [self.value(kind) for _ in range(count)], count
        if kind == _STRING:
            for _ in range(count):
                self.skip_string()
        elif kind in _SCALARS:
            self.pos += count * struct.calcsize(_SCALARS[kind])
        else:
            raise struct.error("nested GGUF arrays are not supported")
        return None, count


def _tensor_bytes(n_elements: int, ggml_type: int) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    return n_elements // block * type_size


_headers: dict[tuple[str, int, int], GGUFHeader] = {}


def read_header(path: Path) -> GGUFHeader:
    """Parse `path` (once per file version: a 262,144-token vocabulary takes ~0.3 s to walk); raise
    ModelLoadError with a user-facing reason if it is not usable."""
    try:
        stat = Path(path).stat()
    except OSError:
        return _read_header(Path(path))  # the uncached path says what is wrong
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _headers:
        _headers[key] = _read_header(Path(path))
    return _headers[key]


def array_length(path: Path, key: str) -> int | None:
    """The length of one array in the metadata (e.g. `tokenizer.ggml.tokens`: the vocabulary size), read
    without walking the arrays after it; None when the file is not GGUF or has no such array."""
    try:
        with Path(path).open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != GGUF_MAGIC:
                return None
            cur = _Cursor(buf)
            cur.pos = 8
            cur.unpack("<Q")
            for _ in range(cur.unpack("<Q")):
                name, kind = cur.string(), cur.unpack("<I")
                if kind != _ARRAY:
                    cur.value(kind)
                    continue
                if name == key:
                    cur.unpack("<I")
                    return int(cur.unpack("<Q"))
                cur.array()
    except (OSError, ValueError, struct.error):
        return None
    return None


def _read_header(path: Path) -> GGUFHeader:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelLoadError(f"model file not found: {path}") from None
    except OSError as err:
        raise ModelLoadError(f"cannot read model file {path}: {err.strerror}") from None
    if not path.is_file():
        raise ModelLoadError(f"not a file: {path}")
    if size < 24:
        raise ModelLoadError(f"not a GGUF model (only {size} bytes): {path}")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != GGUF_MAGIC:
            raise ModelLoadError(f"not a GGUF model file (wrong magic bytes): {path}")
        try:
            header = _parse(_Cursor(buf))
        except (struct.error, ValueError, KeyError, OverflowError) as err:
            raise ModelLoadError(f"GGUF header is damaged or truncated ({err}): {path}") from None
    if header.expected_size > size:
        raise ModelLoadError(
            f"model file is truncated: {size:,} bytes, its tensors need {header.expected_size:,}: {path}"
        )
    return header


def _parse(cur: _Cursor) -> GGUFHeader:
    cur.pos = 4
    version = cur.unpack("<I")
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old")
    tensor_count, kv_count = cur.unpack("<Q"), cur.unpack("<Q")
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for _ in range(kv_count):
        key = cur.string()
        kind = cur.unpack("<I")
        if kind == _ARRAY:
            values, count = cur.array()
            lengths[key] = count
            if values is not None:
                metadata[key] = values
        else:
            metadata[key] = cur.value(kind)
    params, data_end, tensor_bytes = 0, 0, 0
    for _ in range(tensor_count):
        cur.skip_string()
        n_dims = cur.unpack("<I")
        n_elements = 1
        for _ in range(n_dims):
            n_elements *= cur.unpack("<Q")
        ggml_type, offset = cur.unpack("<I"), cur.unpack("<Q")
        params += n_elements
        size = _tensor_bytes(n_elements, ggml_type)
        tensor_bytes += size
        data_end = max(data_end, offset + size)
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    # the tensor data starts at the next aligned offset; a file with no tensors ends at its metadata, unpadded
    data_start = (cur.pos + alignment - 1) // alignment * alignment if tensor_count else cur.pos
    return GGUFHeader(
        version=version,
        metadata=metadata,
        array_lengths=lengths,
        parameter_count=params,
        tensor_count=tensor_count,
        expected_size=data_start + data_end,
        tensor_bytes=tensor_bytes,
    )


def file_type_name(file_type: int | None) -> str:
    """GGUF `general.file_type` as llama.cpp names it, e.g. 15 -> 'Q4_K_M'."""
    if file_type is None:
        return "unknown"
    from gguf.constants import LlamaFileType

    try:
        return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except ValueError:
        return f"type {file_type}"
