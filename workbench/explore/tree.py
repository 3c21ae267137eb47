"""The text chain by hand, kept as a branch tree: the prompt is the root, every token chosen (picked
from the chart, rolled, taken greedily, continued automatically, found by beam search or by N runs)
is a node, and choosing differently at a node makes a sibling branch. Saved in SQLite as it grows."""

from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from workbench.engine.base import (
    Backend,
    GenerationRequest,
    NextTokenDistribution,
    SamplingParams,
    TokenStep,
    seed_or_fresh,
)
from workbench.engine.next_token import describe_next, raw_logprob
from workbench.engine.sampling import distribution
from workbench.errors import InputError, InvalidParameterError
from workbench.runs.samples import generate_samples

MAX_AUTO_STEPS = 512
MAX_RUNS = 64


@dataclass(frozen=True)
class Node:
    id: int
    parent: int | None
    token_id: int | None  # None: the root (the prompt)
    bytes: bytes
    logprob: float | None  # raw log-probability given the path before it
    how: str
    prob_sampled: float | None = None
    seed: int | None = None
    count: int | None = None  # N runs through this node
    children: tuple[int, ...] = ()


@dataclass
class Tree:
    id: int
    name: str
    model: str
    model_path: str
    prompt: str
    add_bos: bool
    numerics: str
    nodes: dict[int, Node] = field(default_factory=dict)

    @property
    def root(self) -> int:
        return next(n.id for n in self.nodes.values() if n.parent is None)

    def node(self, node_id: int | None) -> Node:
        node_id = self.root if node_id is None else node_id
        if node_id not in self.nodes:
            raise InputError(f"tree {self.id} has no node {node_id}")
        return self.nodes[node_id]

    def path(self, node_id: int | None) -> list[Node]:
        """The chosen tokens from the root to `node_id` (the root itself excluded)."""
        node, found = self.node(node_id), []
        while node.parent is not None:
            found.append(node)
            node = self.nodes[node.parent]
        return found[::-1]

    def continuation(self, node_id: int | None) -> str:
        """The text the path adds to the prompt (a trailing partial UTF-8 character waits for the rest)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return "".join(decoder.decode(n.bytes) for n in self.path(node_id))

    def total_logprob(self, node_id: int | None) -> float:
        return sum(n.logprob or 0.0 for n in self.path(node_id))

    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.children and n.parent is not None]

    def to_dict(self) -> dict[str, Any]:
        nodes = []
        for node in self.nodes.values():
            nodes.append(
                {
                    "id": node.id,
                    "parent": node.parent,
                    "token_id": node.token_id,
                    "text": codecs.decode(node.bytes, "utf-8", errors="replace"),
                    "bytes_hex": node.bytes.hex(),
                    "logprob": node.logprob,
                    "prob_sampled": node.prob_sampled,
                    "how": node.how,
                    "seed": node.seed,
                    "count": node.count,
                    "children": list(node.children),
                    "path_logprob": self.total_logprob(node.id),
                }
            )
        branches = [
            {"leaf": leaf.id, "text": self.continuation(leaf.id), "total_logprob": self.total_logprob(leaf.id)}
            for leaf in self.leaves()
        ]
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "model_path": self.model_path,
            "prompt": self.prompt,
            "add_bos": self.add_bos,
            "numerics": self.numerics,
            "nodes": nodes,
            "branches": branches,
        }


def load_tree(store, tree_id: int) -> Tree:
    record = store.tree(tree_id)
    children: dict[int, list[int]] = {}
    for row in record["nodes"]:
        if row["parent_id"] is not None:
            children.setdefault(row["parent_id"], []).append(row["id"])
    nodes = {
        row["id"]: Node(
            row["id"],
            row["parent_id"],
            row["token_id"],
            row["bytes"],
            row["logprob"],
            row["how"],
            row["prob_sampled"],
            row["seed"],
            row["count"],
            tuple(children.get(row["id"], ())),
        )
        for row in record["nodes"]
    }
    fields = ("id", "name", "model", "model_path", "prompt", "add_bos", "numerics")
    return Tree(**{key: record[key] for key in fields}, nodes=nodes)


def new_tree(store, backend: Backend, prompt: str, name: str = "", add_bos: bool = True) -> Tree:
    """A tree rooted at `prompt`; refuses an empty prompt or one that leaves no room in the context."""
    if not prompt:
        raise InvalidParameterError("the prompt is empty")
    ids = backend.tokenize(prompt, add_bos=add_bos)
    if len(ids) >= backend.n_ctx:
        over = len(ids) - backend.n_ctx + 1
        raise InvalidParameterError(
            f"the prompt is {len(ids):,} tokens, {over:,} over the context of {backend.n_ctx:,} (room for one token)"
        )
    title = name or prompt.strip().splitlines()[0][:60]
    numerics = backend.options.numerics
    tree_id = store.create_tree(title, backend.info.name, backend.info.path, prompt, add_bos, numerics)
    return load_tree(store, tree_id)


def context_ids(backend: Backend, tree: Tree, node_id: int | None) -> list[int]:
    """The prompt's token ids and the path's tokens: exactly what the model has seen at this node."""
    ids = backend.tokenize(tree.prompt, add_bos=tree.add_bos) + [n.token_id for n in tree.path(node_id)]
    if len(ids) >= backend.n_ctx:
        raise InvalidParameterError(f"this branch fills the context of {backend.n_ctx:,} tokens")
    return ids


def next_at(
    backend: Backend, tree: Tree, node_id: int | None, params: SamplingParams, top: int = 20
) -> tuple[np.ndarray, NextTokenDistribution]:
    """The raw logits after the node (kept by the Explorer to re-shape its chart) and their distribution."""
    ids = context_ids(backend, tree, node_id)
    raw = backend.logits_after(ids)
    return raw, describe_next(raw, ids, params, top, backend.token_bytes)


def pick(
    store,
    backend: Backend,
    tree: Tree,
    node_id: int | None,
    token: int,
    how: str = "pick",
    raw: np.ndarray | None = None,
) -> Tree:
    """Append `token` at the node (a click on a bar; any token of the vocabulary, byte fragments too).
    `raw`: the node's logits when the caller already has them (the Explorer's chart), saving an evaluation."""
    if raw is None:
        raw = backend.logits_after(context_ids(backend, tree, node_id))
    if not 0 <= token < raw.size:
        raise InvalidParameterError(f"token id {token} is not in the vocabulary (0..{raw.size - 1})")
    parent = tree.node(node_id).id
    store.add_tree_node(tree.id, parent, token, backend.token_bytes(token), raw_logprob(raw, token), how)
    return load_tree(store, tree.id)


def greedy(store, backend: Backend, tree: Tree, node_id: int | None) -> Tree:
    raw = backend.logits_after(context_ids(backend, tree, node_id))
    return pick(store, backend, tree, node_id, int(np.argmax(raw)), "greedy", raw)


def roll(
    store, backend: Backend, tree: Tree, node_id: int | None, params: SamplingParams, seed: int | None = None
) -> tuple[Tree, int]:
    """Roll the dice once with `params` (the one sampling truth) and a recorded seed; returns the new child."""
    ids = context_ids(backend, tree, node_id)
    raw = backend.logits_after(ids)
    seed = seed_or_fresh(seed)
    shaped = distribution(_penalised(raw, ids, params), params)
    token = shaped.draw(np.random.default_rng(seed))
    prob = float(shaped.prob_of(np.array([token]))[0])
    parent = tree.node(node_id).id
    child = store.add_tree_node(
        tree.id,
        parent,
        token,
        backend.token_bytes(token),
        raw_logprob(raw, token),
        "roll",
        prob,
        seed,
        asdict(params) | {"seed": seed},
    )
    return load_tree(store, tree.id), child


def _penalised(raw: np.ndarray, ids: list[int], params: SamplingParams) -> np.ndarray:
    from workbench.engine.sampling import apply_repeat_penalty

    recent = ids[-params.repeat_last_n :] if params.repeat_last_n else []
    return apply_repeat_penalty(raw, recent, params.repeat_penalty) if params.repeat_penalty != 1.0 and recent else raw


def _branch_request(
    backend: Backend, tree: Tree, node_id: int | None, steps: int, params: SamplingParams
) -> GenerationRequest:
    """A generation that continues the branch from its own token ids (not its re-tokenized text)."""
    if not 1 <= steps <= MAX_AUTO_STEPS:
        raise InvalidParameterError(f"steps must be between 1 and {MAX_AUTO_STEPS} (got {steps})")
    ids = context_ids(backend, tree, node_id)
    params = params.with_seed(seed_or_fresh(params.seed))
    text = tree.prompt + tree.continuation(node_id)
    return GenerationRequest(text, params, steps, (), 0, tree.add_bos, prompt_ids=tuple(ids))


def _add_generation(
    store, tree: Tree, node_id: int | None, request: GenerationRequest, generation, how: str, runs: int = 0
) -> int:
    """Each generated token a node below the previous one, with the settings and seed it was drawn with
    (none for greedy); returns the last node."""
    greedy = request.params.greedy
    record = None if greedy else asdict(request.params) | {"seed": generation.seed}
    parent = tree.node(node_id).id
    for step in generation.tokens:
        parent = store.add_tree_node(
            tree.id,
            parent,
            step.id,
            step.bytes,
            step.logprob,
            how,
            float(np.exp(step.logprob_sampled)),
            None if greedy else generation.seed,
            record,
            runs=runs,
        )
    return parent


def auto(
    store, backend: Backend, tree: Tree, node_id: int | None, steps: int, params: SamplingParams
) -> tuple[Tree, int]:
    """Continue `steps` tokens in one generation (greedy at temperature 0, else sampled with a recorded
    seed), each token a node; stops early at the model's end of text. Returns the last node."""
    request = _branch_request(backend, tree, node_id, steps, params)
    run = generate_samples(backend, request, 1, store=store, kind="explorer", source=f"tree {tree.id}")
    last = _add_generation(store, tree, node_id, run.request, run.samples[0], "greedy" if params.greedy else "auto")
    return load_tree(store, tree.id), last


def add_runs(
    store, backend: Backend, tree: Tree, node_id: int | None, runs: int, steps: int, params: SamplingParams
) -> Tree:
    """N sampled continuations (decoded together) overlaid on the tree: each node counts the runs through it."""
    if not 1 <= runs <= MAX_RUNS:
        raise InvalidParameterError(f"runs must be between 1 and {MAX_RUNS} (got {runs})")
    request = _branch_request(backend, tree, node_id, steps, params)
    run = generate_samples(backend, request, runs, store=store, kind="explorer", source=f"tree {tree.id}")
    for generation in run.samples:
        _add_generation(store, tree, node_id, run.request, generation, "runs", runs=1)
    return load_tree(store, tree.id)


def add_beams(store, backend: Backend, tree: Tree, node_id: int | None, beams: int, steps: int) -> tuple[Tree, int]:
    """Beam search from the node; every kept candidate of every step becomes a node (the search as a
    tree). Returns the tree and the last node of the best beam."""
    from workbench.engine.llama.beam import beam_search

    if tree.path(node_id):
        raise InvalidParameterError("beam search starts from the prompt (the root) of a tree")
    result = beam_search(backend, tree.prompt, beams, steps, add_bos=tree.add_bos)
    placed: dict[int | None, int] = {None: tree.root}
    for node in result.nodes:
        placed[node.id] = store.add_tree_node(
            tree.id, placed[node.parent], node.token, backend.token_bytes(node.token), node.logprob, "beam"
        )
    return load_tree(store, tree.id), placed[result.beams[0].node]


def what_if(
    store, backend: Backend, prompt: str, add_bos: bool, steps: list[TokenStep], alternative: int
) -> tuple[Tree, int]:
    """A tree for "what if the model had said this?": the generated tokens up to the last of `steps`
    (with the log-probabilities they were generated with), then `alternative` in the last one's place,
    with the log-probability the token card showed for it. Returns the tree and the alternative's node."""
    if not steps:
        raise InvalidParameterError("no generated token to replace")
    tree = new_tree(store, backend, prompt, add_bos=add_bos)
    parent = tree.root
    for step in steps[:-1]:
        parent = store.add_tree_node(tree.id, parent, step.id, step.bytes, step.logprob, "generated")
    shown = {alt.id: alt.logprob for alt in steps[-1].top}
    if alternative not in shown:
        tree = pick(store, backend, load_tree(store, tree.id), parent, alternative, "what-if")
        return tree, _child_of(tree, parent, alternative)
    node = store.add_tree_node(
        tree.id, parent, alternative, backend.token_bytes(alternative), shown[alternative], "what-if"
    )
    return load_tree(store, tree.id), node


def _child_of(tree: Tree, parent: int, token: int) -> int:
    return next(c for c in tree.node(parent).children if tree.nodes[c].token_id == token)


def repetition(token_ids: list[int]) -> dict[str, float]:
    """How much a text repeats itself: the share of its token 3-grams seen before in it, and distinct-2
    (distinct bigrams / bigrams). Greedy decoding falling into a loop drives the first up, the second down."""
    grams3 = [tuple(token_ids[i : i + 3]) for i in range(len(token_ids) - 2)]
    seen: set[tuple[int, ...]] = set()
    repeated = 0
    for gram in grams3:
        repeated += gram in seen
        seen.add(gram)
    grams2 = [tuple(token_ids[i : i + 2]) for i in range(len(token_ids) - 1)]
    return {
        "repeated_3grams": repeated / len(grams3) if grams3 else 0.0,
        "distinct_2": len(set(grams2)) / len(grams2) if grams2 else 1.0,
    }
