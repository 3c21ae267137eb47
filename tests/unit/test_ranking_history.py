"""Rankings, the run history's search and filters, and run diffs, on a temporary database."""

import pytest

from workbench.engine.base import Generation, GenerationRequest, SamplingParams, Timings, TokenStep, TopToken
from workbench.errors import InputError, StoreError
from workbench.experiments import ranking
from workbench.runs import history
from workbench.store import RunQuery, Store


def _step(token_id: int, text: str, logprob: float = -0.5, others: tuple[int, ...] = ()) -> TokenStep:
    top = (
        TopToken(token_id, text, text.encode(), logprob, logprob),
        *tuple(TopToken(o, f"t{o}", b"x", -2.0, -2.0) for o in others),
    )
    return TokenStep(token_id, text.encode(), text, logprob, logprob, top, top, 1)


def _generation(text_ids: list[tuple[int, str]], seed: int) -> Generation:
    steps = tuple(_step(i, t, others=(99,)) for i, t in text_ids)
    return Generation("".join(t for _, t in text_ids), "length", steps, Timings(1.0, 1.0, 3, len(steps)), seed)


def _save(store: Store, prompt: str, outputs: list[list[tuple[int, str]]], kind: str = "generate") -> int:
    request = GenerationRequest(prompt, SamplingParams(seed=7), max_tokens=4)
    samples = [_generation(o, 7 + i) for i, o in enumerate(outputs)]
    return store.save_run(kind, "m", "/m.gguf", request, 3, samples, numerics="reference", n_ctx=512)


def test_parse_order_ties_and_bad_orders():
    assert ranking.parse_order("3,1,2,4", 4) == (2, 3, 1, 4)
    assert ranking.parse_order("3, 1=2, 4", 4) == (2, 2, 1, 3)
    for order, message in [
        ("1,2,3", "4 missing"),
        ("1,1,2,3", "appears twice"),
        ("1,2,3,5", "'5' in the order is not a sample number"),
        ("a,b", "not a sample number"),
    ]:
        with pytest.raises(InputError, match=message):
            ranking.parse_order(order, 4)
    with pytest.raises(InputError, match="at least 2 samples; this run has 1"):
        ranking.parse_order("1", 1)


def test_four_samples_give_six_pairs_and_a_tie_removes_one():
    full = ranking.Ranking(1, ranking.parse_order("3,1,2,4", 4))
    assert len(full.pairs()) == 6
    assert (2, 0) in full.pairs() and (0, 1) in full.pairs() and (1, 3) in full.pairs()
    tied = ranking.Ranking(1, ranking.parse_order("3,1=2,4", 4))
    assert len(tied.pairs()) == 5 and (0, 1) not in tied.pairs() and (1, 0) not in tied.pairs()
    assert tied.order_text() == "3,1=2,4"
    assert ranking.check_ranks([3, 1, 3, 7], 4) == (2, 1, 2, 3)


def test_search_finds_a_chinese_substring_and_english_words(tmp_path):
    store = Store(tmp_path / "h.sqlite")
    chinese = _save(store, "台湾最高的山是", [[(1, "玉山"), (2, "，海拔")]])
    english = _save(store, "The tallest mountain is", [[(3, " Yushan"), (4, " indeed")]], kind="playground")
    assert [r.id for r in store.list_runs(10, RunQuery(search="最高"))] == [chinese]
    assert [r.id for r in store.list_runs(10, RunQuery(search="海拔"))] == [chinese]  # in an output
    assert [r.id for r in store.list_runs(10, RunQuery(search="yushan"))] == [english]  # FTS, any case
    assert [r.id for r in store.list_runs(10, RunQuery(search='tall "'))] == []  # quotes are text, not syntax
    assert [r.id for r in store.list_runs(10, RunQuery(kind="playground"))] == [english]
    store.set_run_star(chinese, True)
    store.set_run_tags(chinese, ["geo", "zh", " "])
    assert [r.id for r in store.list_runs(10, RunQuery(starred=True))] == [chinese]
    assert store.list_runs(10, RunQuery(tag="zh"))[0].tags == ("geo", "zh")
    store.save_ranking(english, (1,), "me")
    assert [r.id for r in store.list_runs(10, RunQuery(ranked=True))] == [english]
    assert [r.id for r in store.list_runs(10, RunQuery(ranked=False))] == [chinese]
    assert store.list_runs(10, RunQuery(until="2000-01-01")) == []
    with pytest.raises(InputError, match="'since' takes a date"):
        RunQuery(since="yesterday").validate()
    store.delete_run(english)
    assert [r.id for r in store.list_runs(10)] == [chinese]
    with pytest.raises(StoreError, match="no run with id"):
        store.delete_run(english)


def test_diff_finds_where_two_runs_part_and_each_sides_probability(tmp_path):
    store = Store(tmp_path / "h.sqlite")
    a = store.get_run(_save(store, "p", [[(1, "A"), (2, "B"), (3, "C")]]))
    b = store.get_run(_save(store, "p", [[(1, "A"), (99, "X")]]))
    result = history.diff_runs(a, b)
    assert result.common_tokens == 1 and result.common_text == "A"
    assert result.left.token_id == 2 and result.right.token_id == 99
    assert result.left.prob_of_other == pytest.approx(0.1353, abs=1e-3)  # 99 was among the left step's top
    assert history.diff_runs(a, a).identical


def test_preference_rows_follow_the_order(tmp_path):
    store = Store(tmp_path / "h.sqlite")
    run_id = _save(store, "p", [[(1, "one")], [(2, "two")], [(3, "three")], [(4, "four")]])
    store.save_ranking(run_id, ranking.parse_order("3,1,2,4", 4), "me")
    rows = ranking.export_rows(store, "preferences", run=run_id)
    assert len(rows) == 6
    assert {(r["chosen"], r["rejected"]) for r in rows} >= {("three", "one"), ("one", "two"), ("two", "four")}
    assert all(r["chosen_rank"] < r["rejected_rank"] for r in rows)
    listed = ranking.export_rows(store, "ranked", run=run_id)
    assert listed[0]["completions"] == ["three", "one", "two", "four"]
    store.save_ranking(run_id, ranking.parse_order("3,1=2,4", 4), "me")  # ranking again replaces it
    assert len(ranking.export_rows(store, "preferences")) == 5
    with pytest.raises(StoreError, match="no run with id 99"):
        ranking.export_rows(store, "preferences", run=99)
