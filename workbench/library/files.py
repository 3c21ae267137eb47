"""The template library as plain files: one template per YAML (or TOML) file, datasets as JSONL/CSV.

`import_dir` is idempotent: an unchanged file changes nothing, a changed template body becomes
a new version. Each file is read and saved on its own (one transaction each), so a bad file or
a bad line is reported with its place and the valid rest is imported.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench import config
from workbench.clock import now
from workbench.errors import InputError, TemplateError, WorkbenchError
from workbench.fsutil import atomic_write_text
from workbench.library import datasets
from workbench.library.assertions import AssertionSet
from workbench.library.templates import AnswerRule, GenerationSettings, Template

TEMPLATE_SUFFIXES = (".yaml", ".yml", ".toml")
DATASET_SUFFIXES = (".jsonl", ".csv")
EXAMPLES_FOLDER = "examples"  # files here are few-shot example data referenced by templates
PRESETS_FOLDER = "experiments"  # ready experiments (workbench.library.presets), not templates
TEMPLATE_KEYS = {
    "name",
    "kind",
    "description",
    "tags",
    "variables",
    "examples",
    "k",
    "answer",
    "settings",
    "assert",
    "assert_threshold",
    "body",
}


@dataclass
class ImportReport:
    templates: dict[str, str] = field(default_factory=dict)  # name -> new | version | unchanged
    datasets: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"templates": self.templates, "datasets": self.datasets, "problems": self.problems}


def _load_mapping(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{path}: not valid TOML: {err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise InputError(f"{path}{where}: not valid YAML: {problem}") from None


def read_template(path: Path) -> Template:
    """One template file; `examples` may be a list or a path (relative to the file) to a JSONL/YAML list."""
    path = Path(path)
    try:
        data = _load_mapping(path)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a template file holds one mapping (name, kind, body, ...)")
    unknown = set(data) - TEMPLATE_KEYS
    if unknown:
        known = ", ".join(sorted(TEMPLATE_KEYS))
        raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: {known})")
    for key in ("name", "kind", "body"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise InputError(f"{path}: `{key}` is required and must be text")
    examples = data.get("examples") or []
    if isinstance(examples, str):
        examples = _read_examples(path.parent / examples, path)
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise InputError(f"{path}: `examples` must be a list of mappings or a path to a .jsonl file")
    try:
        return Template(
            name=data["name"],
            kind=data["kind"],
            body=data["body"],
            description=str(data.get("description") or ""),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            variables=tuple(str(v) for v in data.get("variables") or ()),
            examples=tuple(examples),
            k=data.get("k"),
            answer=AnswerRule.from_dict(data.get("answer")),
            settings=GenerationSettings.from_dict(data.get("settings")),
            checks=_checks(data),
        ).validate()
    except TemplateError as err:
        raise InputError(f"{path}: {err}") from None


def _read_examples(source: Path, template_path: Path) -> list[dict[str, Any]]:
    if source.suffix in DATASET_SUFFIXES:
        found = datasets.read_dataset(source)
        if found.problems:
            raise InputError(f"{template_path}: examples file has bad lines: {found.problems[0]}")
        return [{k: v for k, v in c.to_record().items() if k != "id"} for c in found.cases]
    try:
        data = _load_mapping(source)
    except FileNotFoundError:
        raise InputError(f"{template_path}: examples file not found: {source}") from None
    return data if isinstance(data, list) else []


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line text as `|` blocks, so exported bodies read like the files people write."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not any(ch in value for ch in "\r\t") and value == value.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _str_representer)


def template_yaml(template: Template) -> str:
    data: dict[str, Any] = {"name": template.name, "kind": template.kind}
    if template.description:
        data["description"] = template.description
    if template.tags:
        data["tags"] = list(template.tags)
    if template.variables:
        data["variables"] = list(template.variables)
    if template.answer:
        data["answer"] = {k: v for k, v in template.answer.to_dict().items() if v}
    if template.settings.to_dict():
        data["settings"] = template.settings.to_dict()
    if template.checks:
        data["assert"] = [a.to_dict() for a in template.checks.assertions]
        if template.checks.threshold is not None:
            data["assert_threshold"] = template.checks.threshold
    if template.k is not None:
        data["k"] = template.k
    if template.examples:
        data["examples"] = list(template.examples)
    data["body"] = template.body
    return yaml.dump(data, Dumper=_LiteralDumper, allow_unicode=True, sort_keys=False, width=1000)


def import_dir(store, folder: Path) -> ImportReport:
    """Templates from every YAML/TOML file, datasets from every JSONL/CSV file (examples/ excluded)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    report = ImportReport()
    skipped = {EXAMPLES_FOLDER, PRESETS_FOLDER}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not skipped & set(p.relative_to(folder).parts))
    for path in files:
        try:
            if path.suffix in TEMPLATE_SUFFIXES:
                saved, status = store.save_template(read_template(path))
                report.templates[saved.name] = status
            elif path.suffix in DATASET_SUFFIXES:
                dataset = datasets.read_dataset(path)
                report.problems.extend(dataset.problems)
                if dataset.cases:
                    report.datasets[dataset.name] = store.save_dataset(dataset)
        except WorkbenchError as err:
            report.problems.append(str(err))
    return report


def export_dir(store, folder: Path) -> ImportReport:
    """Write every template (current version, examples inline) and dataset in the format import reads."""
    folder = Path(folder)
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "datasets").mkdir(parents=True, exist_ok=True)
    report = ImportReport()
    for template in store.list_templates():
        target = folder / "templates" / f"{_file_name(template.name)}.yaml"
        atomic_write_text(target, template_yaml(template))
        report.templates[template.name] = str(target)
    for summary in store.list_datasets():
        target = folder / "datasets" / f"{_file_name(summary['name'])}.jsonl"
        datasets.write_dataset(store.get_dataset(summary["name"]), target)
        report.datasets[summary["name"]] = str(target)
    return report


STARTER_MARK = "starter_library_imported"


def ensure_starter_library(store, folder: Path | None = None) -> ImportReport | None:
    """Import `prompts/` into a database that has never had it (first start); later starts do nothing,
    so templates a user deleted or changed are not brought back."""
    if store.meta(STARTER_MARK):
        return None
    report = import_dir(store, folder or config.REPO_ROOT / "prompts")
    store.set_meta(STARTER_MARK, now())
    return report


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _checks(data: dict[str, Any]) -> AssertionSet | None:
    """The template's `assert:` list (and `assert_threshold`), validated: a bad assertion names the template."""
    if not data.get("assert"):
        return None
    name = data.get("name", "?")
    try:
        return AssertionSet.from_list(data["assert"], data.get("assert_threshold"), where=f"template {name}: assert")
    except InputError as err:
        raise TemplateError(str(err)) from None
