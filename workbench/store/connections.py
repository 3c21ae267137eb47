"""Saved connections to OpenAI-compatible servers. A row says where the key comes from, never the key."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, fields
from typing import Any

from sqlite_utils.db import NotFoundError

from workbench.clock import now
from workbench.engine.openai_compat.endpoint import Endpoint
from workbench.errors import InputError
from workbench.store.base import StoreBase, read_only_rows

ENDPOINT_FIELDS = {f.name for f in fields(Endpoint)} - {"connection"}


class ConnectionsMixin(StoreBase):
    def save_connection(self, endpoint: Endpoint) -> Endpoint:
        endpoint = endpoint.validate()
        if not endpoint.connection.strip():
            raise InputError("a saved connection needs a name")
        record = {k: v for k, v in asdict(endpoint).items() if k in ENDPOINT_FIELDS}
        record["keyring"] = int(record["keyring"])
        stamp = now()
        try:
            with self.db.atomic():
                self.db.execute(
                    "INSERT OR IGNORE INTO connections (name, base_url, created_at) VALUES (?, ?, ?)",
                    [endpoint.connection, endpoint.base_url, stamp],
                )
                self.db["connections"].update(endpoint.connection, {**record, "updated_at": stamp})
        except sqlite3.Error as err:
            raise self.write_error(f"save connection {endpoint.connection!r}", err) from None
        return endpoint

    def connection(self, name: str) -> Endpoint:
        try:
            row = self.db["connections"].get(name)
        except NotFoundError:
            known = ", ".join(c.connection for c in self.connections()) or "none saved"
            raise InputError(f"no connection named {name!r} (known: {known})") from None
        return _endpoint(row)

    def connections(self) -> list[Endpoint]:
        return [_endpoint(row) for row in self.db["connections"].rows_where(order_by="name")]

    def delete_connection(self, name: str) -> None:
        self.connection(name)
        try:
            with self.db.atomic():
                self.db["connections"].delete(name)
        except sqlite3.Error as err:
            raise self.write_error(f"delete connection {name!r}", err) from None


def _endpoint(row: dict[str, Any]) -> Endpoint:
    values = {k: row[k] for k in ENDPOINT_FIELDS if row.get(k) is not None}
    values["keyring"] = bool(values.get("keyring"))
    return Endpoint(connection=row["name"], **values)


def read_connections(db_path) -> list[Endpoint]:
    """Every saved connection, read-only (none before the database or the table exists)."""
    return [_endpoint(row) for row in read_only_rows(db_path, "SELECT * FROM connections ORDER BY name") or []]


def read_connection(db_path, name: str) -> Endpoint:
    """A saved connection read without opening the Store (the model registry resolves `connection:NAME`
    read-only, as it reads model preferences)."""
    rows = read_only_rows(db_path, "SELECT * FROM connections WHERE name = ?", [name])
    if not rows:
        raise InputError(
            f"no saved connection named {name!r} (add one: workbench connections add {name} --base-url URL)"
        )
    return _endpoint(rows[0])
