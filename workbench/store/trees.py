"""Branch trees of the Explorer: one row per tree, one per node; choosing a token a node already has
returns that node (a branch is never duplicated), another token makes a sibling."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.clock import now
from workbench.errors import InputError
from workbench.store.base import StoreBase


class TreesMixin(StoreBase):
    def create_tree(self, name: str, model: str, model_path: str, prompt: str, add_bos: bool, numerics: str) -> int:
        """The tree and its root node (the prompt) in one transaction; returns the tree id."""
        stamp = now()
        try:
            with self.db.atomic():
                record = {
                    "name": name,
                    "model": model,
                    "model_path": model_path,
                    "prompt": prompt,
                    "add_bos": int(add_bos),
                    "numerics": numerics,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                tree_id = int(self.db["trees"].insert(record).last_pk)
                self.db["tree_nodes"].insert({"tree_id": tree_id, "how": "prompt", "created_at": stamp})
                return tree_id
        except sqlite3.Error as err:
            raise self.write_error("save the tree", err) from None

    def add_tree_node(
        self,
        tree_id: int,
        parent_id: int,
        token_id: int,
        data: bytes,
        logprob: float,
        how: str,
        prob_sampled: float | None = None,
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        runs: int = 0,
    ) -> int:
        """The child of `parent_id` for `token_id`: the existing one (its run count increased by `runs`),
        or a new node. Returns its id."""
        self.tree_node(tree_id, parent_id)  # a clear error for a node of another tree
        try:
            with self.db.atomic():
                found = list(
                    self.db["tree_nodes"].rows_where(
                        "tree_id = ? AND parent_id = ? AND token_id = ?", [tree_id, parent_id, token_id]
                    )
                )
                if found:
                    if runs:
                        self.db["tree_nodes"].update(found[0]["id"], {"count": (found[0]["count"] or 0) + runs})
                    return int(found[0]["id"])
                record = {
                    "tree_id": tree_id,
                    "parent_id": parent_id,
                    "token_id": token_id,
                    "bytes_hex": data.hex(),
                    "logprob": logprob,
                    "prob_sampled": prob_sampled,
                    "how": how,
                    "seed": seed,
                    "params": json.dumps(params) if params is not None else None,
                    "count": runs or None,
                    "created_at": now(),
                }
                node_id = int(self.db["tree_nodes"].insert(record).last_pk)
                self.db["trees"].update(tree_id, {"updated_at": now()})
                return node_id
        except sqlite3.Error as err:
            raise self.write_error("save the tree node", err) from None

    def tree(self, tree_id: int) -> dict[str, Any]:
        rows = list(self.db["trees"].rows_where("id = ?", [tree_id]))
        if not rows:
            raise InputError(f"no tree with id {tree_id}")
        tree = dict(rows[0])
        tree["add_bos"] = bool(tree["add_bos"])
        nodes = self.db["tree_nodes"].rows_where("tree_id = ?", [tree_id], order_by="id")
        tree["nodes"] = [_node(row) for row in nodes]
        return tree

    def tree_node(self, tree_id: int, node_id: int) -> dict[str, Any]:
        rows = list(self.db["tree_nodes"].rows_where("id = ? AND tree_id = ?", [node_id, tree_id]))
        if not rows:
            self.tree(tree_id)
            raise InputError(f"tree {tree_id} has no node {node_id}")
        return _node(rows[0])

    def list_trees(self) -> list[dict[str, Any]]:
        sql = (
            "SELECT t.*, (SELECT COUNT(*) FROM tree_nodes n WHERE n.tree_id = t.id) - 1 AS nodes "
            "FROM trees t ORDER BY t.updated_at DESC, t.id DESC"
        )
        return [dict(row) for row in self.db.query(sql)]

    def rename_tree(self, tree_id: int, name: str) -> None:
        self.tree(tree_id)
        self.db["trees"].update(tree_id, {"name": name, "updated_at": now()})

    def delete_tree(self, tree_id: int) -> None:
        self.tree(tree_id)
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM tree_nodes WHERE tree_id = ?", [tree_id])
                self.db.execute("DELETE FROM trees WHERE id = ?", [tree_id])
        except sqlite3.Error as err:
            raise self.write_error(f"delete tree {tree_id}", err) from None


def _node(row: dict[str, Any]) -> dict[str, Any]:
    node = dict(row)
    node["bytes"] = bytes.fromhex(node.pop("bytes_hex") or "")
    node["params"] = json.loads(node["params"]) if node["params"] else None
    return node
