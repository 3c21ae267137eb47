"""Text embeddings for the `similar` assertion: llama.cpp's own (any GGUF it can embed, mean-pooled, through
llama-cpp-python) or a server's `/v1/embeddings`. Unit-length vectors, so a dot product is the cosine."""

from __future__ import annotations

import contextlib
import os
from typing import Protocol

import numpy as np

from workbench.errors import EngineError, RemoteError


class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def close(self) -> None: ...


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class LlamaEmbedder:
    def __init__(self, path: str, name: str, n_ctx: int = 2048, threads: int | None = None) -> None:
        import llama_cpp

        self.name = name
        try:
            with open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
                self.model = llama_cpp.Llama(
                    path,
                    embedding=True,
                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                    n_ctx=n_ctx,
                    n_batch=n_ctx,  # a text longer than the batch would be embedded by its beginning only
                    n_ubatch=n_ctx,
                    n_threads=threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as err:
            raise EngineError(f"llama.cpp could not open {name} for embeddings: {err}") from None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Each text on its own: a text's vector does not depend on what else is embedded with it (a batch of
        several sequences takes other kernels and moves the cosine by ~1e-4)."""
        try:
            return _unit(np.array([self.model.embed(t or " ") for t in texts], dtype=float))
        except (ValueError, RuntimeError) as err:
            raise EngineError(f"llama.cpp could not embed with {self.name}: {err}") from None

    def close(self) -> None:
        self.model.close()


class RemoteEmbedder:
    def __init__(self, endpoint, name: str) -> None:
        from workbench.engine.openai_compat.server import make_client

        self.endpoint, self.name = endpoint, name
        self.client = make_client(endpoint)

    def embed(self, texts: list[str]) -> np.ndarray:
        from workbench.engine.openai_compat.server import remote_error

        try:
            answer = self.client.embeddings.create(model=self.endpoint.model or "default", input=texts)
        except Exception as err:  # every client failure becomes one line naming the server
            raise remote_error(err, self.endpoint) from None
        if len(answer.data) != len(texts):
            raise RemoteError(f"{self.endpoint.base_url} returned {len(answer.data)} embeddings for {len(texts)} texts")
        return _unit(np.array([item.embedding for item in sorted(answer.data, key=lambda d: d.index)], dtype=float))

    def close(self) -> None:
        self.client.close()
