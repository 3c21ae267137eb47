"""Branch trees and the next-token chart on the real default model and a real SQLite file."""

from __future__ import annotations

import pytest

from workbench.engine.base import SamplingParams
from workbench.engine.next_token import describe_next
from workbench.errors import InputError, InvalidParameterError
from workbench.explore import tree as trees
from workbench.store import Store

PREFIX = "台湾最高的山是"


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path / "trees.sqlite")
    yield opened
    opened.close()


def test_the_chart_equals_workbench_next_and_reshapes_without_the_model(backend, store, cli, isolated_db):
    tree = trees.new_tree(store, backend, PREFIX)
    params = SamplingParams(temperature=0.7, top_k=20, top_p=0.9, min_p=0.02)
    raw, chart = trees.next_at(backend, tree, None, params, top=10)
    shown = cli(
        "next", "-p", PREFIX, "-t", "0.7", "--top-k", "20", "--top-p", "0.9", "--min-p", "0.02", "--top", "10", "--json"
    ).json()
    assert [c.id for c in chart.candidates] == [c["id"] for c in shown["candidates"]]
    for mine, theirs in zip(chart.candidates, shown["candidates"], strict=True):
        assert mine.prob == pytest.approx(theirs["prob"], abs=1e-6)
        assert mine.prob_sampled == pytest.approx(theirs["prob_sampled"], abs=1e-6)
        assert mine.removed_by == theirs["removed_by"]
    assert chart.kept_count == shown["kept_count"] and chart.entropy_bits == pytest.approx(shown["entropy_bits"])
    evaluated = backend.prompt_tokens_evaluated
    ids = trees.context_ids(backend, tree, None)
    for temperature in (0.1, 0.5, 1.0, 1.5):  # a slider moving: the cached logits re-shaped
        reshaped = describe_next(raw, ids, SamplingParams(temperature=temperature, top_k=0), 10, backend.token_bytes)
        assert [c.prob for c in reshaped.candidates] == [c.prob for c in chart.candidates]  # raw stays
    greedy_view = describe_next(raw, ids, SamplingParams(temperature=0.0), 10, backend.token_bytes)
    assert greedy_view.candidates[0].prob_sampled == 1.0 and greedy_view.candidates[1].removed_by == "greedy"
    assert backend.prompt_tokens_evaluated == evaluated  # no model call


def test_branches_save_and_reopen_identical(backend, store):
    tree = trees.new_tree(store, backend, "The tallest mountain in Taiwan is")
    tree = trees.greedy(store, backend, tree, None)
    first = tree.path(tree.leaves()[0].id)[0]
    _, chart = trees.next_at(backend, tree, None, SamplingParams(), top=5)
    other = chart.candidates[1].id
    tree = trees.pick(store, backend, tree, None, other)  # a sibling branch at the root
    tree = trees.pick(store, backend, tree, None, other)  # the same choice again: the same node
    root = tree.node(None)
    assert len(root.children) == 2 and {tree.nodes[c].token_id for c in root.children} == {first.token_id, other}
    tree, last = trees.auto(store, backend, tree, first.id, 6, SamplingParams(temperature=0.0))
    assert len(tree.path(last)) == 7
    reopened = trees.load_tree(Store(store.path), tree.id)
    assert reopened.to_dict() == tree.to_dict()
    assert reopened.total_logprob(last) == pytest.approx(sum(n.logprob for n in tree.path(last)))
    assert chart.candidates[1].logprob == pytest.approx(tree.nodes[max(root.children)].logprob, abs=1e-5)


def test_rolls_are_reproducible_and_byte_tokens_complete_their_character(backend, store):
    tree = trees.new_tree(store, backend, "中文: 龘")
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)
    tree, a = trees.roll(store, backend, tree, None, params, seed=5)
    again = trees.new_tree(store, backend, "中文: 龘")
    again, b = trees.roll(store, backend, again, None, params, seed=5)
    assert tree.nodes[a].token_id == again.nodes[b].token_id and tree.nodes[a].seed == 5
    fragments = [i for i in range(256, 2000) if len(backend.token_bytes(i)) == 1 and backend.token_bytes(i)[0] >= 0x80]
    lead = next(i for i in fragments if backend.token_bytes(i) == "龘".encode()[:1])
    middle = next(i for i in fragments if backend.token_bytes(i) == "龘".encode()[1:2])
    end = next(i for i in fragments if backend.token_bytes(i) == "龘".encode()[2:])
    tree = trees.pick(store, backend, tree, None, lead)
    node = max(tree.nodes)
    assert tree.continuation(node) == ""  # a fragment shows nothing until the character is whole
    tree = trees.pick(store, backend, tree, node, middle)
    tree = trees.pick(store, backend, tree, max(tree.nodes), end)
    assert tree.continuation(max(tree.nodes)) == "龘"


def test_n_runs_counts_add_up_to_n(backend, store):
    tree = trees.new_tree(store, backend, "Once upon a time")
    tree = trees.add_runs(store, backend, tree, None, 6, 4, SamplingParams(temperature=1.0, seed=2))
    root = tree.node(None)
    assert sum(tree.nodes[c].count for c in root.children) == 6
    for node in tree.nodes.values():  # every inner node's count is the sum over its children
        if node.parent is not None and node.children:
            assert node.count == sum(tree.nodes[c].count for c in node.children)


def test_repetition_meter():
    assert trees.repetition([1, 2, 3, 1, 2, 3, 1, 2, 3]) == {"repeated_3grams": 4 / 7, "distinct_2": 3 / 8}
    assert trees.repetition([1, 2, 3, 4]) == {"repeated_3grams": 0.0, "distinct_2": 1.0}


def test_bad_tree_inputs(backend, store, cli):
    with pytest.raises(InvalidParameterError, match="the prompt is empty"):
        trees.new_tree(store, backend, "")
    with pytest.raises(InvalidParameterError, match="over the context of 2,048"):
        trees.new_tree(store, backend, "word " * 2100)
    tree = trees.new_tree(store, backend, "Hello")
    with pytest.raises(InputError, match=f"tree {tree.id} has no node 999"):
        trees.greedy(store, backend, tree, 999)
    with pytest.raises(InvalidParameterError, match="runs must be between 1 and 64"):
        trees.add_runs(store, backend, tree, None, 0, 4, SamplingParams())
    for args, message in {
        ("tree", "show", "77"): "no tree with id 77",
        ("tree", "greedy", "77"): "no tree with id 77",
        ("tree", "new", "-p", ""): "the prompt is empty",
        ("tree", "auto", "1", "-n", "0"): "no tree with id 1",
    }.items():
        result = cli(*args)
        assert result.code == 1 and message in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)


def test_tree_cli_builds_and_reads_a_tree(cli):
    created = cli("tree", "new", "-p", PREFIX, "--json").json()
    tree_id = str(created["id"])
    assert cli("tree", "greedy", tree_id).code == 0
    auto = cli("tree", "auto", tree_id, "-n", "8", "-t", "0", "--json").json()
    assert set(auto["repetition"]) == {"repeated_3grams", "distinct_2"}
    beams = cli("tree", "beams", tree_id, "--beams", "2", "-n", "3", "--json").json()
    assert any(n["how"] == "beam" for n in beams["nodes"])
    listed = cli("tree", "list", "--json").json()
    assert [t["id"] for t in listed] == [created["id"]]
    exported = cli("tree", "export", tree_id, "--json").json()
    assert exported == cli("tree", "show", tree_id, "--json").json() and exported["branches"]
