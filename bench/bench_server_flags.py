"""Which llama-server flags give the workbench's local numbers: the same 60-cell grid (2 sentiment templates x
30 cases, greedy, 4 tokens, 4 requests in flight) locally in the reference numerics and on llama.cpp's own
llama-server started with each candidate flag set; prints how many outputs equal the local run and both
accuracies (2026-12-08: no set gave 60/60; see docs/BENCHMARKS.md).

    .venv/bin/python bench/bench_server_flags.py [WORD...]   # only the candidates whose label has a WORD
    (needs: python bench/llamacpp_tools.py llama-server)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import llama_server

from workbench import experiments, models
from workbench.engine.base import SamplingParams
from workbench.library import files as library_files
from workbench.library.datasets import Dataset
from workbench.models.engines import Overrides, open_engine
from workbench.store import Store

TEMPLATES = ["sentiment-instruction-en", "sentiment-3shot-en"]
CANDIDATES = {
    "README before (reference, --no-repack)": llama_server.REFERENCE,
    "+ --no-cache-prompt": [*llama_server.REFERENCE, "--no-cache-prompt"],
    "+ -no-kvu": [*llama_server.REFERENCE, "-no-kvu"],
    "+ -no-kvu --no-cache-prompt": llama_server.README_FLAGS,
    "+ -no-kvu --swa-full --no-cache-prompt": [*llama_server.README_FLAGS, "--swa-full"],
    "+ -no-kvu --no-cache-prompt -np 1": [*llama_server.README_FLAGS, "-np", "1"],
    "reference -np 1": [*llama_server.REFERENCE, "-np", "1"],
}


def grid(store: Store, model: str, cases: int = 30) -> tuple[list[str], float]:
    store.save_dataset(
        Dataset("flags", store.get_dataset("sentiment-en").cases[:cases]),
    )
    spec = experiments.GridSpec(
        TEMPLATES, "flags", [experiments.Config(SamplingParams(temperature=0.0, seed=1), max_tokens=4)], models=[model]
    )
    experiment_id = experiments.plan(store, spec)
    backend = open_engine(model, Overrides(parallel=4))
    try:
        experiments.run(store, experiment_id, lambda _path: backend, parallel=4)
    finally:
        backend.close()
    runs = store.experiment_runs(experiment_id)
    scores = [r["score"] for r in runs if r["score"] is not None]
    return [r["output"] for r in runs], sum(scores) / len(scores)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="server-flags-"))
    store = Store(folder / "db.sqlite")
    library_files.ensure_starter_library(store)
    gemma = str(models.default_model_path())
    local, local_accuracy = grid(store, models.DEFAULT_MODEL_NAME)
    print(f"local reference run: {len(local)} cells, accuracy {local_accuracy:.3f}")
    wanted = sys.argv[1:]  # labels containing one of these words; all when none is given
    for label, flags in CANDIDATES.items():
        if wanted and not any(word in label for word in wanted):
            continue
        process, url = llama_server.start(gemma, "gemma", folder, flags)
        try:
            from workbench.engine.openai_compat.endpoint import Endpoint

            outputs, accuracy = grid(store, Endpoint(url, "gemma").ref())
        finally:
            llama_server.stop(process)
        same = sum(a == b for a, b in zip(local, outputs, strict=True))
        print(f"{label:<42} {same:>2}/{len(local)} outputs equal, accuracy {accuracy:.3f}  ({' '.join(flags)})")


if __name__ == "__main__":
    main()
