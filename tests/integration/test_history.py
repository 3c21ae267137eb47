"""Every run kept: the CLI history, re-runs with the stored seed, rankings exported as preference pairs,
copy as code executed, and Chat / Explorer generations in the same runs table."""

import json
import subprocess
import sys

import pytest

from workbench.chat import session
from workbench.chat.conversation import ChatRenderer, ChatSettings, Conversation
from workbench.engine.base import SamplingParams
from workbench.explore import tree as trees
from workbench.runs import history
from workbench.store import RunQuery, Store


def test_rank_four_samples_and_export_six_pairs(cli, tmp_path):
    made = cli("generate", "-p", "Once upon a time", "-n", "6", "--samples", "4", "--seed", "3", "--json")
    assert made.code == 0, made.stderr
    run_id = made.json()["run_id"]
    texts = [s["text"] for s in made.json()["samples"]]
    ranked = cli("rank", str(run_id), "--order", "3,1,2,4", "--json")
    assert ranked.code == 0 and ranked.json()["pairs"] == 6
    out = tmp_path / "prefs.jsonl"
    assert cli("export", "--what", "preferences", "--run", str(run_id), "--out", str(out)).code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6
    order = [texts[2], texts[0], texts[1], texts[3]]
    assert all(order.index(r["chosen"]) < order.index(r["rejected"]) for r in rows if r["chosen"] != r["rejected"])
    assert {"prompt", "chosen", "rejected"} <= set(rows[0]) and rows[0]["prompt"] == "Once upon a time"
    assert cli("rank", str(run_id), "--order", "3,1=2,4").code == 0
    tied = cli("export", "--what", "preferences", "--run", str(run_id)).stdout.splitlines()
    assert len(tied) == 5
    listed = cli("export", "--what", "ranked").stdout.splitlines()
    assert json.loads(listed[0])["ranks"] == [1, 2, 2, 3]
    assert cli("runs", "--ranked", "--json").json()[0]["id"] == run_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rank", "999", "--order", "1,2"), "no run with id 999"),
        (("runs", "999"), "no run with id 999"),
        (("runs", "--since", "last week"), "takes a date"),
        (("export", "--what", "runs"), "give --experiment ID"),
    ],
)
def test_history_bad_input_is_one_line(cli, args, message):
    result = cli(*args)
    assert result.code != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_ranking_needs_two_samples_and_a_permutation(cli):
    one = cli("generate", "-p", "Hi", "-n", "2", "--json").json()["run_id"]
    assert "at least 2 samples; this run has 1" in cli("rank", str(one), "--order", "1").stderr
    four = cli("generate", "-p", "Hi", "-n", "2", "--samples", "3", "--json").json()["run_id"]
    bad = cli("rank", str(four), "--order", "1,2,2")
    assert bad.code != 0 and "appears twice" in bad.stderr


def test_exporting_with_nothing_ranked_writes_an_empty_file_and_says_so(cli, tmp_path):
    out = tmp_path / "none.jsonl"
    result = cli("export", "--what", "preferences", "--out", str(out))
    assert result.code == 0 and out.read_text() == "" and "nothing to export" in result.stderr


def test_rerun_with_the_stored_seed_reproduces_every_token(cli):
    made = cli("generate", "-p", "台湾最高的山是", "-n", "10", "--samples", "2", "-t", "1.0", "--json").json()
    run_id = made["run_id"]
    again = cli("runs", str(run_id), "--rerun", "--sample", "2", "--json")
    assert again.code == 0, again.stderr
    document = again.json()
    assert document["identical"]
    assert [t["id"] for t in document["generation"]["tokens"]] == [t["id"] for t in made["samples"][1]["tokens"]]
    other = cli("generate", "-p", "台湾最高的山是", "-n", "10", "-t", "1.0", "--seed", "1", "--json").json()["run_id"]
    diff = cli("runs", str(run_id), "--diff", str(other), "--json").json()
    assert diff["left_run"] == run_id and diff["right_run"] == other and not diff["identical"]
    assert diff["left"]["token_id"] != diff["right"]["token_id"] and diff["left"]["prob"] > 0


def test_the_python_snippet_reproduces_a_greedy_run(cli, tmp_path):
    made = cli("generate", "-p", "The capital of France is", "-n", "8", "-t", "0", "--json").json()
    code = cli("runs", str(made["run_id"]), "--code", "python").stdout
    script = tmp_path / "reproduce.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip("\n") == made["samples"][0]["text"]
    curl = cli("runs", str(made["run_id"]), "--code", "curl").stdout
    assert curl.startswith("curl ") and '"prompt": "The capital of France is"' in curl and '"temperature": 0.0' in curl


def test_chat_answers_and_explorer_continuations_are_runs_with_one_token_record(backend, isolated_db):
    store = Store(isolated_db)
    info = backend.info
    conversation = Conversation("t", info.name, info.path, "", "gemma", ChatSettings(max_tokens=6))
    conversation = session.save(store, session.add_user_message(conversation, "Hello"))
    answered, _prompt, generation = session.reply(
        backend, conversation, ChatRenderer(info, "gemma"), backend.n_ctx, store=store
    )
    saved = session.save(store, answered)
    run_id = saved.messages[-1].run_id
    run = store.get_run(run_id)
    assert run["kind"] == "chat" and run["source"] == f"conversation {saved.id}"
    assert [t["id"] for t in run["samples"][0]["tokens"]] == [t.id for t in generation.tokens]
    row = store.conversation(saved.id)["messages"][-1]
    assert row["tokens"] == [] and row["run_id"] == run_id  # the tokens live in the run only
    assert session.load(store, saved.id).messages[-1].tokens == generation.tokens
    tree = trees.new_tree(store, backend, "Once upon a time")
    trees.auto(store, backend, tree, None, 4, SamplingParams(temperature=0))
    explorer = store.list_runs(5, RunQuery(kind="explorer"))
    assert explorer and explorer[0].prompt == "Once upon a time"
    history.set_keep_history(store, False)
    before = len(store.list_runs(50))
    trees.auto(store, backend, trees.load_tree(store, tree.id), None, 2, SamplingParams(temperature=0))
    assert len(store.list_runs(50)) == before
