"""promptfoo suites in and out: a config imported as templates, a dataset with per-row assertions and mapped
providers (`import_suite`), run as a comparison (`run_suite`), and an experiment written as promptfoo's eval
output JSON (`suites.promptfoo_export.eval_document`), which `promptfoo import` reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import experiments, models
from workbench.errors import InputError
from workbench.suites.promptfoo_config import SuiteImport, import_config


@dataclass(frozen=True)
class SuiteOptions:
    allow_outside: bool = False  # read files outside the config's folder
    allow_code: bool = False  # python assertions (files) from the suite may run
    allow_unsaved_providers: bool = False  # leave out providers at unsaved URLs instead of refusing


def import_suite(store, path: Path, options: SuiteOptions = SuiteOptions()) -> SuiteImport:
    """Read, map and save a promptfoo config: its templates (new versions when changed) and its dataset."""
    connections = {endpoint.connection: endpoint.base_url for endpoint in store.connections()}
    local = [info.name for info in models.list_models()]
    suite = import_config(
        path, connections, local, options.allow_outside, options.allow_code, options.allow_unsaved_providers
    )
    if not suite.templates:
        reasons = "; ".join(f"{u.what}: {u.reason}" for u in suite.unmapped if u.what.startswith("prompt"))
        raise InputError(f"{path}: no prompt could be imported ({reasons or 'none given'})")
    saved = [store.save_template(template)[0] for template in suite.templates]
    suite.templates = saved
    store.save_dataset(suite.dataset)
    return suite


def run_suite(
    store,
    path: Path,
    load_backend: Callable[[str], Any],
    chosen_models: list[str] | None = None,
    options: SuiteOptions = SuiteOptions(),
    on_progress: Callable[[experiments.Progress], None] | None = None,
    parallel: int = 1,
) -> tuple[SuiteImport, int]:
    """Import, plan and run the suite as a comparison (its assertions scored after the grid, as the
    scoring "assert"); returns the import and the experiment id. Models: `chosen_models`, else the mapped
    providers, else the default model."""
    suite = import_suite(store, path, options)
    chosen = chosen_models or suite.models or [None]
    spec = experiments.GridSpec(
        [f"{t.name}@{t.version}" for t in suite.templates],
        suite.dataset.name,
        models=chosen,
        name=f"promptfoo {suite.name}",
        allow_code=options.allow_code,
    )
    experiment_id = experiments.plan(store, spec)
    experiments.run(store, experiment_id, load_backend, on_progress=on_progress, parallel=parallel)
    return suite, experiment_id
