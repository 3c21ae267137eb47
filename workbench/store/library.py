"""Templates with immutable versions, datasets with their cases, and full-text search."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from workbench.clock import now
from workbench.errors import InputError
from workbench.library.assertions import AssertionSet
from workbench.library.datasets import Case, Dataset
from workbench.library.templates import AnswerRule, GenerationSettings, Template
from workbench.store.base import StoreBase


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class LibraryMixin(StoreBase):
    # -- templates -------------------------------------------------------------------------
    def save_template(self, template: Template) -> tuple[Template, str]:
        """Insert, or add a version when the content changed; returns (saved, "new"|"version"|"unchanged").

        Description and tags are the template's labels, updated in place; body, variables,
        examples, k and answer rule are versioned: a version, once written, never changes.
        """
        template = template.validate()
        stamp = now()
        try:
            with self.db.atomic():
                row = self._template_row(template.name)
                if row is not None and row.get("deleted_at"):  # saving a retired name brings it back
                    self.db["templates"].update(row["id"], {"deleted_at": None})
                if row is None:
                    template_id = self.db["templates"].insert(self._template_fields(template, 1, stamp)).last_pk
                    self._insert_version(template_id, 1, template, stamp)
                    return self.get_template(template.name), "new"
                current = self.get_template(template.name)
                labels = {"description": template.description, "tags": _json(list(template.tags))}
                if current.content_key() == template.content_key():
                    if (current.description, current.tags) != (template.description, template.tags):
                        self.db["templates"].update(row["id"], {**labels, "updated_at": stamp})
                    return self.get_template(template.name), "unchanged"
                version = row["current_version"] + 1
                self._insert_version(row["id"], version, template, stamp)
                self.db["templates"].update(
                    row["id"],
                    {
                        **labels,
                        "kind": template.kind,
                        "body": template.body,
                        "current_version": version,
                        "updated_at": stamp,
                    },
                )
                return self.get_template(template.name), "version"
        except sqlite3.Error as err:
            raise self.write_error(f"save template {template.name}", err) from None

    def _template_fields(self, template: Template, version: int, stamp: str) -> dict[str, Any]:
        return {
            "name": template.name,
            "kind": template.kind,
            "description": template.description,
            "tags": _json(list(template.tags)),
            "body": template.body,
            "current_version": version,
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _insert_version(self, template_id: int, version: int, template: Template, stamp: str) -> None:
        self.db["template_versions"].insert(
            {
                "template_id": template_id,
                "version": version,
                "kind": template.kind,
                "body": template.body,
                "variables": _json(list(template.variables)),
                "examples": _json(list(template.examples)),
                "k": template.k,
                "answer": _json(template.answer.to_dict()) if template.answer else None,
                "settings": _json(template.settings.to_dict()) if template.settings.to_dict() else None,
                "assertions": _json(template.checks.to_dict()) if template.checks else None,
                "created_at": stamp,
            }
        )

    def _template_row(self, name: str) -> dict[str, Any] | None:
        rows = list(self.db["templates"].rows_where("name = ?", [name], limit=1))
        return rows[0] if rows else None

    def delete_template(self, name: str) -> None:
        """Retire a template: hidden from the library, its versions kept for the runs that used them."""
        row = self._template_row(name)
        if row is None or row.get("deleted_at"):
            raise InputError(f"no template named '{name}'")
        try:
            self.db["templates"].update(row["id"], {"deleted_at": now(), "updated_at": now()})
        except sqlite3.Error as err:
            raise self.write_error(f"delete template {name}", err) from None

    def get_template(self, name: str, version: int | None = None) -> Template:
        row = self._template_row(name)
        if row is None:
            known = ", ".join(r["name"] for r in self.db["templates"].rows_where(select="name", order_by="name"))
            raise InputError(f"no template named '{name}' (known: {known or 'none yet'})")
        wanted = version or row["current_version"]
        found = list(self.db["template_versions"].rows_where("template_id = ? AND version = ?", [row["id"], wanted]))
        if not found:
            raise InputError(f"template {name} has no version {wanted} (latest: {row['current_version']})")
        return self._template(row, found[0])

    def _template(self, row: dict[str, Any], version: dict[str, Any]) -> Template:
        answer = json.loads(version["answer"]) if version["answer"] else None
        return Template(
            name=row["name"],
            kind=version["kind"],
            body=version["body"],
            description=row["description"] or "",
            tags=tuple(json.loads(row["tags"] or "[]")),
            variables=tuple(json.loads(version["variables"] or "[]")),
            examples=tuple(json.loads(version["examples"] or "[]")),
            k=version["k"],
            answer=AnswerRule.from_dict(answer),
            settings=GenerationSettings.from_dict(json.loads(version["settings"]) if version.get("settings") else None),
            checks=_checks(version.get("assertions")),
            version=version["version"],
            created_at=version["created_at"],
            updated_at=row["updated_at"],
        )

    def template_history(self, name: str) -> list[Template]:
        """Every version, newest first."""
        row = self._template_row(name)
        if row is None:
            raise InputError(f"no template named '{name}'")
        versions = self.db["template_versions"].rows_where("template_id = ?", [row["id"]], order_by="version desc")
        return [self._template(row, v) for v in versions]

    def list_templates(
        self, kind: str | None = None, tag: str | None = None, search: str | None = None
    ) -> list[Template]:
        """Current versions; `search` is full-text (FTS5 syntax; plain words match as prefixes)."""
        if search and search.strip():
            try:
                ids = [r["rowid"] for r in self.db["templates"].search(_fts_query(search), columns=["rowid"])]
            except sqlite3.OperationalError:
                raise InputError(f"cannot search for {search!r}: not a valid full-text query") from None
            if not ids:  # FTS5 keeps a run of Chinese characters as one word: fall back to a substring match
                pattern = f"%{search.strip()}%"
                ids = [
                    r["id"]
                    for r in self.db["templates"].rows_where(
                        "name LIKE ? OR description LIKE ? OR body LIKE ?", [pattern] * 3, select="id"
                    )
                ]
            rows = [self.db["templates"].get(i) for i in ids]
        else:
            rows = list(self.db["templates"].rows_where(order_by="name"))
        found = []
        for row in rows:
            if row.get("deleted_at"):
                continue
            if kind and row["kind"] != kind:
                continue
            if tag and tag not in json.loads(row["tags"] or "[]"):
                continue
            found.append(self.get_template(row["name"]))
        return found

    def template_tags(self) -> list[str]:
        tags: set[str] = set()
        for row in self.db["templates"].rows_where(select="tags"):
            tags.update(json.loads(row["tags"] or "[]"))
        return sorted(tags)

    def meta(self, key: str) -> str | None:
        rows = list(self.db["meta"].rows_where("key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        try:
            with self.db.atomic():
                self.db["meta"].upsert({"key": key, "value": value}, pk="key")
        except sqlite3.Error as err:
            raise self.write_error(f"write {key}", err) from None

    # -- datasets --------------------------------------------------------------------------
    def save_dataset(self, dataset: Dataset) -> str:
        """Replace a dataset's cases with these (one transaction); "new", "updated" or "unchanged"."""
        stamp = now()
        try:
            with self.db.atomic():
                rows = list(self.db["datasets"].rows_where("name = ?", [dataset.name]))
                if rows and self.get_dataset(dataset.name).cases == dataset.cases:
                    return "unchanged"
                if rows:
                    dataset_id = rows[0]["id"]
                    self.db["datasets"].update(
                        dataset_id, {"description": dataset.description, "source": dataset.source, "updated_at": stamp}
                    )
                    self.db["cases"].delete_where("dataset_id = ?", [dataset_id])
                    status = "updated"
                else:
                    dataset_id = (
                        self.db["datasets"]
                        .insert(
                            {
                                "name": dataset.name,
                                "description": dataset.description,
                                "source": dataset.source,
                                "created_at": stamp,
                                "updated_at": stamp,
                            }
                        )
                        .last_pk
                    )
                    status = "new"
                self.db["cases"].insert_all(
                    {
                        "dataset_id": dataset_id,
                        "case_key": case.id,
                        "position": position,
                        "vars": _json(case.vars),
                        "expected": case.expected,
                        "choices": _json(list(case.choices)) if case.choices is not None else None,
                        "assertions": _json(list(case.checks)) if case.checks else None,
                    }
                    for position, case in enumerate(dataset.cases)
                )
                return status
        except sqlite3.Error as err:
            raise self.write_error(f"save dataset {dataset.name}", err) from None

    def get_dataset(self, name: str) -> Dataset:
        rows = list(self.db["datasets"].rows_where("name = ?", [name]))
        if not rows:
            known = ", ".join(r["name"] for r in self.db["datasets"].rows_where(select="name", order_by="name"))
            raise InputError(f"no dataset named '{name}' (known: {known or 'none yet'})")
        row = rows[0]
        cases = [
            Case(
                c["case_key"],
                json.loads(c["vars"]),
                c["expected"],
                tuple(json.loads(c["choices"])) if c["choices"] is not None else None,
                tuple(json.loads(c["assertions"])) if c.get("assertions") else (),
            )
            for c in self.db["cases"].rows_where("dataset_id = ?", [row["id"]], order_by="position")
        ]
        return Dataset(row["name"], cases, row["description"] or "", row["source"] or "")

    def list_datasets(self) -> list[dict[str, Any]]:
        found = []
        for row in self.db["datasets"].rows_where(order_by="name"):
            dataset = self.get_dataset(row["name"])
            found.append(
                {
                    "name": dataset.name,
                    "cases": len(dataset.cases),
                    "variables": dataset.variables(),
                    "with_expected": sum(c.expected is not None for c in dataset.cases),
                    "with_choices": sum(c.choices is not None for c in dataset.cases),
                    "description": dataset.description,
                    "source": dataset.source,
                }
            )
        return found


def _fts_query(text: str) -> str:
    """Plain words become prefix terms ANDed together; anything with FTS syntax is passed through."""
    if any(ch in text for ch in '"*():') or " OR " in text or " NOT " in text:
        return text
    words = [w for w in text.split() if w]
    return " ".join(f'"{w}"*' for w in words)


def _checks(text: str | None) -> AssertionSet | None:
    if not text:
        return None
    data = json.loads(text)
    return AssertionSet.from_list(data["assert"], data.get("threshold"))
