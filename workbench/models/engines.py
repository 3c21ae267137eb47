"""Opening the engine for a model, the one way every caller does it (CLI, window, grid, chat, tokenizer):
llama.cpp in-process for a GGUF file, the OpenAI-compatible client for a model on a server.

Load options follow one merge rule: the model's saved load settings (Models tab, `models --set-load`), then
each override the caller gives (command-line options, the window's toolbar) in their place. Another model of
a grid opens with the same overrides as the first, so the GUI and the CLI load it identically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from workbench.engine.model_info import ModelInfo
from workbench.errors import InvalidParameterError

if TYPE_CHECKING:
    from workbench.engine.base import Backend
    from workbench.engine.llama.options import LoadOptions
    from workbench.models.library import LoadSettings

DEFAULT_IN_FLIGHT = 4  # requests a remote engine keeps open when nothing says otherwise
MAX_PARALLEL = 64  # sequences a local context decodes together at most (a server may take more in flight)


@dataclass(frozen=True)
class Overrides:
    """What a caller asks for on top of a model's saved load settings; None keeps the saved value.
    `parallel`: sequences decoded together (local) or requests in flight (a server)."""

    n_ctx: int | None = None
    threads: int | None = None
    gpu_layers: int | None = None
    numerics: str | None = None
    batching: str | None = None
    parallel: int | None = None

    def validate(self) -> Overrides:
        if self.parallel is not None and self.parallel < 1:
            raise InvalidParameterError(f"--parallel must be >= 1 (got {self.parallel})")
        return self

    @classmethod
    def like(cls, backend: Backend) -> Overrides:
        """Another model of a grid opened as `backend` was: its numerics and batching (a server's are its
        own, so then each model's saved ones) and as many sequences or requests at once."""
        options = backend.options
        if backend.remote:
            return cls(parallel=options.n_parallel)
        return cls(numerics=options.numerics, batching=options.batching, parallel=options.n_parallel)

    @classmethod
    def of_settings(cls, settings: LoadSettings, parallel: int | None = None) -> Overrides:
        """Load settings as typed (the Models tab before they are saved), every field given."""
        return cls(settings.n_ctx, settings.threads, settings.gpu_layers, settings.numerics, parallel=parallel)

    def given(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def load_options(info: ModelInfo, overrides: Overrides = Overrides()) -> LoadOptions:
    """The one merge rule: saved settings, then every override that is given."""
    from workbench.models.library import saved_load_settings

    overrides = overrides.validate()
    given = overrides.given()
    per_model = {k: given[k] for k in ("n_ctx", "threads", "gpu_layers", "numerics") if k in given}
    settings = replace(saved_load_settings(info), **per_model).validate()
    engine: dict[str, object] = {"n_parallel": min(overrides.parallel, MAX_PARALLEL)} if overrides.parallel else {}
    if overrides.batching:
        engine["batching"] = overrides.batching
    return settings.load_options(**engine)


def open_engine(model: ModelInfo | str | None, overrides: Overrides = Overrides()) -> Backend:
    """The backend for a model (a ModelInfo, or a name, path or connection for models.resolve); a server is
    contacted now, so a bad URL, an unreachable server, a refused key or a model it does not have fails
    here with one line."""
    from workbench.models.registry import resolve

    info = model if isinstance(model, ModelInfo) else resolve(model)
    if info.source == "remote":
        from workbench.engine.openai_compat.backend import RemoteBackend
        from workbench.engine.openai_compat.endpoint import from_ref

        return RemoteBackend(from_ref(info.path), overrides.validate().parallel or DEFAULT_IN_FLIGHT)
    from workbench.engine.llama import LlamaBackend

    return LlamaBackend(info, load_options(info, overrides))


class GridEngines:
    """The engines of a comparison over several models, for `experiments.run`: the engine already open
    (the window's loaded model) is used as it is; any other model opens with the same overrides, one at a
    time (the previous other one is closed first), and `close()` frees what was opened here."""

    def __init__(self, overrides: Overrides, loaded: Backend | None = None) -> None:
        self.overrides = overrides
        self.loaded = loaded
        self.opened: Backend | None = None

    def __call__(self, path: str) -> Backend:
        if self.loaded is not None and path == self.loaded.info.path:
            return self.loaded
        self.close()
        self.opened = open_engine(path, self.overrides)
        return self.opened

    def close(self) -> None:
        if self.opened is not None:
            opened, self.opened = self.opened, None
            opened.close()

    def __enter__(self) -> GridEngines:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_embedder(model: ModelInfo | str | None):  # -> engine.embeddings.Embedder
    """An embedding model for the `similar` assertion: a local GGUF (llama.cpp, mean pooling, the model's saved
    context and threads) or a saved connection's /v1/embeddings."""
    from workbench.engine.embeddings import LlamaEmbedder, RemoteEmbedder
    from workbench.models.registry import resolve

    info = model if isinstance(model, ModelInfo) else resolve(model)
    if info.source == "remote":
        from workbench.engine.openai_compat.endpoint import from_ref

        return RemoteEmbedder(from_ref(info.path), info.name)
    options = load_options(info)
    return LlamaEmbedder(info.path, info.name, n_ctx=min(options.n_ctx, 4096), threads=options.n_threads)


class OpenByName:
    """Models opened on first use under the name `name_of` gives a request, each once, all kept open until
    `close()` (a scoring's judges or embedding models)."""

    def __init__(self, opener: Callable[[Any], Any], name_of: Callable[[str], Any] = lambda name: name) -> None:
        self.opener, self.name_of = opener, name_of
        self.opened: dict[Any, Any] = {}

    def __call__(self, requested: str) -> Any:
        name = self.name_of(requested)
        if name not in self.opened:
            self.opened[name] = self.opener(name)
        return self.opened[name]

    def close(self) -> None:
        for model in self.opened.values():
            model.close()
        self.opened.clear()
