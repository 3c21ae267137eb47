"""llama.cpp in-process: the backend (model + context with public methods), its load options, the
per-token run loop, batched decoding, the vocabulary and the prompt plan (prefix reuse)."""

from workbench.engine.llama.backend import LlamaBackend
from workbench.engine.llama.options import LoadOptions

__all__ = ["LlamaBackend", "LoadOptions"]
