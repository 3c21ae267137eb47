"""Opening the engine for a model: llama.cpp in-process for a GGUF file, the OpenAI-compatible client for
a model on a server. Every caller (CLI, window, grid, chat) opens engines here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.models import ModelInfo

if TYPE_CHECKING:
    from workbench.engine.base import Backend
    from workbench.engine.llama.options import LoadOptions


def open_backend(info: ModelInfo, options: LoadOptions | None = None, in_flight: int = 4) -> Backend:
    """The backend for `info`; a server is contacted now, so a bad URL, an unreachable server, a refused key
    or a model it does not have fails here with one line. `in_flight`: requests a remote grid keeps open."""
    if info.source == "remote":
        from workbench.engine.openai_compat.backend import RemoteBackend
        from workbench.engine.openai_compat.endpoint import from_ref

        return RemoteBackend(from_ref(info.path), in_flight)
    from workbench.engine.llama import LlamaBackend

    return LlamaBackend(info, options)
