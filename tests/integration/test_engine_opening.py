"""Opening a model, one way: the saved load settings, then each override the caller gives. The window and the
CLI open another model of a grid with the same options; nothing but the opener builds a LlamaBackend."""

from __future__ import annotations

import re
from pathlib import Path

from workbench import models
from workbench.cli import options as cli_options
from workbench.cli.main import build_parser
from workbench.engine.llama.options import LoadOptions
from workbench.models import library as model_library
from workbench.models.engines import GridEngines, Overrides, load_options
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]


def test_a_multi_model_grid_opens_the_other_model_alike_from_the_gui_and_the_cli(backend):
    smol = models.resolve(models.INSTRUCT_MODEL_NAME)
    # the window: the loaded model (reference numerics, exact batching, 4 sequences) sets the grid's overrides
    gui = Overrides.like(backend)
    # the CLI: the same choices typed on the command line
    args = build_parser().parse_args(
        [
            "compare",
            "--models",
            f"{models.DEFAULT_MODEL_NAME},{models.INSTRUCT_MODEL_NAME}",
            "--numerics",
            backend.options.numerics,
            "--batching",
            backend.options.batching,
            "--parallel",
            str(backend.options.n_parallel),
            "--templates",
            "sentiment-instruction-en",
            "--dataset",
            "sentiment-en",
        ]
    )
    cli = cli_options.overrides(args)
    assert load_options(smol, gui) == load_options(smol, cli)
    assert load_options(smol, gui).n_ctx == model_library.saved_load_settings(smol).n_ctx  # its own context


def test_the_merge_rule_saved_settings_then_overrides(isolated_db):
    smol = models.resolve(models.INSTRUCT_MODEL_NAME)
    store = Store(isolated_db)
    saved = model_library.LoadSettings(n_ctx=1024, threads=1, gpu_layers=0, numerics="fast")
    model_library.save_load_settings(smol, saved, store)
    assert load_options(smol) == LoadOptions(n_ctx=1024, n_threads=1, numerics="fast")
    merged = load_options(smol, Overrides(n_ctx=512, batching="fast", parallel=2))
    assert merged == LoadOptions(n_ctx=512, n_threads=1, numerics="fast", batching="fast", n_parallel=2)
    store.close()


def test_the_grid_engines_reuse_the_loaded_model_and_free_what_they_open(backend):
    smol = models.resolve(models.INSTRUCT_MODEL_NAME)
    with GridEngines(Overrides.like(backend), loaded=backend) as engines:
        assert engines(backend.info.path) is backend
        other = engines(smol.path)
        assert other.info.path == smol.path and other.options.numerics == backend.options.numerics
    assert other.closed and not backend.closed


def test_only_the_engine_opener_builds_a_local_backend():
    built = []
    for path in (ROOT / "workbench").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bLlamaBackend\(", line) and "class LlamaBackend" not in line:
                built.append(f"{path.relative_to(ROOT)}:{number}")
    # the opener, and the engine's own sibling() (the same model in the other numerics, for the numeric check)
    assert sorted(p.split(":")[0] for p in built) == [
        "workbench/engine/llama/backend.py",
        "workbench/models/engines.py",
    ]
