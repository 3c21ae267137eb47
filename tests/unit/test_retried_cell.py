"""A cell a server failed and a resume then completed carries no trace of the failure: no error in the store,
none in the summary's failure count or in an export."""

from __future__ import annotations

from workbench import experiments
from workbench.library import files as library_files
from workbench.store import Store


def test_a_retried_cell_that_succeeds_has_no_error(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    library_files.ensure_starter_library(store)
    spec = experiments.GridSpec(["sentiment-instruction-en"], "sentiment-en", [experiments.Config(max_tokens=2)])
    experiment_id = experiments.plan(store, spec)
    cell = store.pending_cells(experiment_id)[0]
    store.fail_cell(cell["id"], "cannot reach http://127.0.0.1:9/v1: peer closed connection")
    assert store.experiment(experiment_id)["failed_cells"] == 1
    assert experiments.summarize(store, experiment_id)["server_failed"] == 1
    result = {"output": "positive", "answer": "positive", "score": 1.0, "finish_reason": "stop", "tokens": []}
    store.finish_cell(cell["id"], result)
    row = store.grid_run(cell["id"])
    assert row["status"] == "done" and row["error"] is None and row["output"] == "positive"
    report = experiments.summarize(store, experiment_id)
    assert report["server_failed"] == 0 and all(r["failures"] == 0 for r in report["summary"])
    store.close()
