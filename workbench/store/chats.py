"""Chat conversations: one row each, their messages in order; saving a conversation replaces its
messages in one transaction, so an edit that cuts the history never leaves half of it behind."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.clock import now
from workbench.errors import InputError
from workbench.store.base import StoreBase


class ChatsMixin(StoreBase):
    def save_conversation(self, record: dict[str, Any], messages: list[dict[str, Any]]) -> int:
        """Insert (no `id`) or update a conversation and replace all its messages; returns its id.

        `record`: name, model, model_path, system_prompt, chat_format, settings (a dict);
        each message: role, content, tokens (list of token dicts or None), seed, finish_reason."""
        stamp = now()
        row = {**record, "settings": json.dumps(record.get("settings") or {}), "updated_at": stamp}
        conversation_id = row.pop("id", None)
        try:
            with self.db.atomic():
                if conversation_id is None:
                    conversation_id = int(self.db["conversations"].insert({**row, "created_at": stamp}).last_pk)
                else:
                    self._conversation_row(conversation_id)
                    self.db["conversations"].update(conversation_id, row)
                    self.db.execute("DELETE FROM chat_messages WHERE conversation_id = ?", [conversation_id])
                self.db["chat_messages"].insert_all(
                    {
                        "conversation_id": conversation_id,
                        "position": position,
                        "role": message["role"],
                        "content": message["content"],
                        "tokens": json.dumps(message["tokens"], ensure_ascii=False) if message.get("tokens") else None,
                        "seed": message.get("seed"),
                        "finish_reason": message.get("finish_reason"),
                        "run_id": message.get("run_id"),
                        "created_at": stamp,
                    }
                    for position, message in enumerate(messages)
                )
        except sqlite3.Error as err:
            raise self.write_error("save the conversation", err) from None
        return conversation_id

    def _conversation_row(self, conversation_id: int) -> dict[str, Any]:
        rows = list(self.db["conversations"].rows_where("id = ?", [conversation_id]))
        if not rows:
            raise InputError(f"no conversation with id {conversation_id}")
        return rows[0]

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        """The conversation's row with `settings` parsed and its `messages` (tokens parsed), in order."""
        row = self._conversation_row(conversation_id)
        row["settings"] = json.loads(row["settings"] or "{}")
        messages = self.db["chat_messages"].rows_where("conversation_id = ?", [conversation_id], order_by="position")
        row["messages"] = [{**m, "tokens": json.loads(m["tokens"]) if m["tokens"] else []} for m in messages]
        return row

    def list_conversations(self) -> list[dict[str, Any]]:
        """Newest first: id, name, model, messages, updated_at."""
        rows = self.db.execute(
            "SELECT c.id, c.name, c.model, COUNT(m.id), c.updated_at FROM conversations c "
            "LEFT JOIN chat_messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.updated_at DESC, c.id DESC"
        ).fetchall()
        keys = ("id", "name", "model", "messages", "updated_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def rename_conversation(self, conversation_id: int, name: str) -> None:
        if not name.strip():
            raise InputError("a conversation's name cannot be empty")
        self._conversation_row(conversation_id)
        try:
            with self.db.atomic():
                self.db["conversations"].update(conversation_id, {"name": name.strip(), "updated_at": now()})
        except sqlite3.Error as err:
            raise self.write_error("rename the conversation", err) from None

    def delete_conversation(self, conversation_id: int) -> None:
        self._conversation_row(conversation_id)
        try:
            with self.db.atomic():
                self.db.execute("DELETE FROM chat_messages WHERE conversation_id = ?", [conversation_id])
                self.db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
        except sqlite3.Error as err:
            raise self.write_error("delete the conversation", err) from None
