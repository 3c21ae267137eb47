"""Models, in one package: the registry of embedded and added GGUF files (`registry`), adding and removing
files, load settings and their one merge rule, the quick benchmark (`library`), saved server connections
(`connections`) and opening the engine for a model (`engines.open_engine`). What a model *is* (`ModelInfo`,
read from its GGUF header) lives in `workbench.engine.model_info`, so the engine can build it; the SQL behind
preferences and connections is `workbench.store`'s.

`from workbench import models` gives the registry's names: `models.resolve(name)`, `models.list_models()`.
"""

from workbench.engine.model_info import ModelInfo, chat_template, header_of, inspect
from workbench.models.registry import (
    CONNECTION_PREFIX,
    DEFAULT_MODEL_NAME,
    EMBEDDED,
    INSTRUCT_MODEL_NAME,
    EmbeddedModel,
    default_model,
    default_model_path,
    embedded_path,
    list_models,
    model_folders,
    model_sha256,
    preferences,
    resolve,
)

__all__ = [
    "CONNECTION_PREFIX",
    "DEFAULT_MODEL_NAME",
    "EMBEDDED",
    "INSTRUCT_MODEL_NAME",
    "EmbeddedModel",
    "ModelInfo",
    "chat_template",
    "default_model",
    "default_model_path",
    "embedded_path",
    "header_of",
    "inspect",
    "list_models",
    "model_folders",
    "model_sha256",
    "preferences",
    "resolve",
]
