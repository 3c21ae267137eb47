"""Changing the model registry: add a GGUF (copied into the user folder or linked where it is), remove it,
choose the default, per-model load settings with a memory estimate, and the quick benchmark."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import config
from workbench.engine.llama.options import LoadOptions
from workbench.engine.model_info import ModelInfo, inspect
from workbench.engine.numerics import DEFAULT_NUMERICS, GGML_TYPE_F32, numeric_mode
from workbench.errors import InputError, InvalidParameterError, ModelLoadError
from workbench.fsutil import atomic_copy
from workbench.models import registry
from workbench.store import Store

DEFAULT_N_CTX = 4096
ADD_MODES = ("copy", "link")


# -- adding and removing ----------------------------------------------------------------------
def check_loadable(info: ModelInfo) -> None:
    """Ask the bundled llama.cpp to read the file's vocabulary: it refuses an architecture it does not know."""
    from workbench.engine.llama.handles import LlamaModel

    try:
        LlamaModel(info.path, vocab_only=True).close()
    except ModelLoadError as err:
        if "unknown model architecture" in str(err) or "architecture" in str(err):
            raise ModelLoadError(
                f"the bundled llama.cpp does not know the architecture '{info.architecture}' of {info.path}"
            ) from None
        raise


def add_model(path: Path, mode: str, store: Store) -> ModelInfo:
    """Register a GGUF: `copy` puts a copy in the user models folder, `link` remembers its path."""
    if mode not in ADD_MODES:
        raise InputError(f"unknown add mode '{mode}' (copy or link)")
    info = inspect(Path(path))  # refuses a missing, non-GGUF or truncated file
    check_loadable(info)
    if info.vocab_only:
        raise ModelLoadError(
            f"{Path(path).name} holds a vocabulary and no weights: it cannot generate "
            "(use it as a tokenizer: workbench tokenize --tokenizer FILE)"
        )
    if mode == "link":
        store.link_model(info.path)
        return inspect(Path(info.path), "linked")
    folder = config.user_models_dir()
    target = folder / Path(info.path).name
    if target.exists():
        raise InputError(f"the user models folder already has a file named {target.name}: {target}")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_copy(Path(info.path), target)
    return inspect(target, "user")


def remove_model(info: ModelInfo, store: Store) -> str:
    """Take a model out of the registry; returns what was done (a copied file is deleted)."""
    if info.source == "embedded":
        raise InputError(f"{info.name} is an embedded model; it cannot be removed")
    if info.source == "linked":
        store.forget_model(info.path)
        return f"unlinked {info.path} (the file itself was left where it is)"
    if info.source == "user":
        store.forget_model(info.path)
        try:
            Path(info.path).unlink()
        except OSError as err:
            raise InputError(f"cannot delete {info.path}: {err.strerror}") from None
        return f"deleted the copy {info.path}"
    raise InputError(f"{info.path} is not in the registry the workbench manages (remove the file yourself)")


def set_default(info: ModelInfo | None, store: Store) -> None:
    """`info` becomes the model every command and tab uses when none is named; None: the embedded Gemma."""
    if info is not None and info.vocab_only:
        raise ModelLoadError(f"{info.name} is a vocabulary without weights; it cannot be the default model")
    is_embedded_default = info is None or info.path == str(registry.default_model_path().resolve())
    store.set_default_model(None if is_embedded_default else info.path)


# -- load settings ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadSettings:
    n_ctx: int = DEFAULT_N_CTX
    threads: int = 0  # 0: chosen for this machine
    gpu_layers: int = 0
    numerics: str = DEFAULT_NUMERICS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_options(self, **engine: Any) -> LoadOptions:
        """The engine's LoadOptions for these settings; `engine` adds what is not a per-model setting
        (n_parallel, batching) or overrides one for this load (numerics from the toolbar)."""
        fields = {"n_ctx": self.n_ctx, "n_threads": self.threads, "n_gpu_layers": self.gpu_layers}
        return LoadOptions(**{**fields, "numerics": self.numerics, **engine}).validate()

    def validate(self) -> LoadSettings:
        if self.n_ctx < 16:
            raise InvalidParameterError(f"context size must be >= 16 (got {self.n_ctx})")
        if self.threads < 0:
            raise InvalidParameterError(f"threads must be >= 0 (got {self.threads})")
        numeric_mode(self.numerics)
        return self


def saved_load_settings(info: ModelInfo) -> LoadSettings:
    """What the Models tab saved for this model; unsaved fields: a context of min(4096, trained)."""
    saved = registry.preferences().get(info.path)
    fallback = LoadSettings(n_ctx=min(DEFAULT_N_CTX, info.context_length or DEFAULT_N_CTX))
    if saved is None or not saved.load:
        return fallback
    known = {k: v for k, v in saved.load.items() if k in LoadSettings.__dataclass_fields__}
    return LoadSettings(**{**fallback.to_dict(), **known})


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_bytes: int
    available_bytes: int | None

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def kv_bytes_per_token(info: ModelInfo, numerics: str) -> int:
    """K and V for every layer: 2 x layers x kv_heads x head_dim values, F32 (reference) or F16 (fast)."""
    if not (info.layers and info.kv_heads and info.head_dim):
        return 0
    value_bytes = 4 if numeric_mode(numerics).kv_type == GGML_TYPE_F32 else 2
    return 2 * info.layers * info.kv_heads * info.head_dim * value_bytes


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_estimate(info: ModelInfo, settings: LoadSettings) -> MemoryEstimate:
    """Weights (the file, memory-mapped) plus the K/V cache for `n_ctx` tokens (shared by the parallel
    sequences; sliding-window layers keep the full cache too, since the engine loads with swa_full)."""
    kv = kv_bytes_per_token(info, settings.numerics) * settings.n_ctx
    return MemoryEstimate(info.size_bytes, kv, available_memory())


def load_warnings(info: ModelInfo, settings: LoadSettings) -> list[str]:
    """What is wrong with these settings, with the numbers (empty: nothing)."""
    found = []
    if info.context_length and settings.n_ctx > info.context_length:
        found.append(
            f"context {settings.n_ctx:,} is above {info.name}'s trained maximum of {info.context_length:,} "
            "tokens: positions past it were never seen in training and the output degrades"
        )
    estimate = memory_estimate(info, settings)
    if estimate.available_bytes is not None and estimate.total_bytes > estimate.available_bytes:
        found.append(
            f"weights {estimate.weights_bytes / 2**20:,.0f} MiB + K/V cache {estimate.kv_bytes / 2**20:,.0f} MiB "
            f"need {estimate.total_bytes / 2**20:,.0f} MiB; this machine has {estimate.available_bytes / 2**20:,.0f} "
            "MiB available"
        )
    return found


def save_load_settings(info: ModelInfo, settings: LoadSettings, store: Store) -> list[str]:
    store.set_load_settings(info.path, settings.validate().to_dict())
    return load_warnings(info, settings)


# -- quick benchmark --------------------------------------------------------------------------
BENCH_PROMPT_TOKENS = 256
BENCH_GEN_TOKENS = 64


def quick_benchmark(backend: Any, store: Store | None = None) -> dict[str, Any]:
    """Prompt tokens/s over a 256-token prompt and greedy generation tokens/s over 64 tokens, on this
    machine with the loaded settings; stored with the model when `store` is given."""
    from workbench.engine.base import GenerationRequest, SamplingParams

    filler = "The quick brown fox jumps over the lazy dog. " * 64
    ids = backend.tokenize(filler, add_bos=True)[:BENCH_PROMPT_TOKENS]
    backend.forget_cache()
    started = time.perf_counter()
    backend.logits_after(ids)
    prompt_s = time.perf_counter() - started
    request = GenerationRequest(
        prompt="Once upon a time",
        params=SamplingParams(temperature=0.0),
        max_tokens=BENCH_GEN_TOKENS,
        stop=(),
    ).validate()
    generation = backend.generate(request)
    result = {
        "prompt_tokens": len(ids),
        "prompt_tokens_per_s": round(len(ids) / prompt_s, 1),
        "generated_tokens": generation.timings.generated_tokens,
        "generation_tokens_per_s": round(generation.timings.tokens_per_s, 1),
        "threads": backend.runtime_info().get("n_threads"),
        "numerics": backend.runtime_info().get("numerics"),
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }
    if store is not None:
        store.set_benchmark(backend.info.path, result)
    return result
