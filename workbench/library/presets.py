"""Ready experiments: a named grid (templates x dataset x models) kept as a YAML file in the starter
library's `experiments/` folder. Applying one imports any of its starter templates or datasets the
database lacks (older databases predate them), so a preset always runs as written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench import config
from workbench.errors import InputError, WorkbenchError
from workbench.library import datasets
from workbench.library.files import PRESETS_FOLDER, read_template


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    dataset: str
    templates: tuple[str, ...]
    models: tuple[str, ...]
    samples: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "templates": list(self.templates), "models": list(self.models)}


def starter_folder() -> Path:
    return config.REPO_ROOT / "prompts"


def _read(path: Path) -> Preset:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"{path}: not a readable experiment file: {err}") from None
    if not isinstance(data, dict) or not {"name", "dataset", "templates", "models"} <= set(data):
        raise InputError(f"{path}: an experiment file needs name, dataset, templates and models")
    return Preset(
        name=str(data["name"]),
        description=" ".join(str(data.get("description", "")).split()),
        dataset=str(data["dataset"]),
        templates=tuple(str(t) for t in data["templates"]),
        models=tuple(str(m) for m in data["models"]),
        samples=int(data.get("samples", 1)),
    )


def list_presets(folder: Path | None = None) -> list[Preset]:
    where = (folder or starter_folder()) / PRESETS_FOLDER
    return [_read(path) for path in sorted(where.glob("*.yaml"))] if where.is_dir() else []


def get_preset(name: str, folder: Path | None = None) -> Preset:
    found = {p.name: p for p in list_presets(folder)}
    if name not in found:
        raise InputError(f"unknown ready experiment '{name}' (known: {', '.join(found) or 'none'})")
    return found[name]


def ensure_ingredients(store, preset: Preset, folder: Path | None = None) -> list[str]:
    """Import the preset's templates and dataset from the starter library when the database lacks them;
    returns what was imported."""
    folder = folder or starter_folder()
    have = {t.name for t in store.list_templates()}
    imported = []
    for name in preset.templates:
        if name not in have:
            path = folder / "templates" / f"{name}.yaml"
            if not path.is_file():
                raise InputError(f"ready experiment {preset.name} needs template {name}, which is not in the library")
            store.save_template(read_template(path))
            imported.append(name)
    if preset.dataset not in {d["name"] for d in store.list_datasets()}:
        path = folder / "datasets" / f"{preset.dataset}.jsonl"
        try:
            store.save_dataset(datasets.read_dataset(path))
        except WorkbenchError:
            raise InputError(f"ready experiment {preset.name} needs dataset {preset.dataset}") from None
        imported.append(preset.dataset)
    return imported


def ensure_starter_template(store, name: str, folder: Path | None = None) -> None:
    """A starter template (a judge's prompt) the database lacks, imported from the starter library: a database
    made before the template was shipped gets it on first use; one the user edited or deleted stays theirs
    only while it exists (a deleted judge template comes back when a judge needs it)."""
    if name in {t.name for t in store.list_templates()}:
        return
    path = (folder or starter_folder()) / "templates" / f"{name}.yaml"
    if not path.is_file():
        raise InputError(f"the judge template {name} is neither in the library nor in the starter library")
    store.save_template(read_template(path))
