"""A promptfoo config (promptfooconfig.yaml) as workbench records: each prompt a template, the tests one dataset
whose rows carry their own assertions (defaultTest's added to each), providers mapped to local models or saved
connections where they can be. Everything that cannot be mapped is listed with the reason, never dropped
silently. Nothing outside the config's folder is read, and no unsaved server URL is accepted, unless the user
says so: an imported suite could otherwise send a private file to someone else's server."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import InputError, TemplateError
from workbench.library.datasets import Case, Dataset
from workbench.library.templates import Template, render
from workbench.suites.promptfoo_assertions import Unmapped, map_assertion

KNOWN_KEYS = {
    "description": "",  # the dataset's description
    "prompts": "",
    "providers": "",
    "targets": "",
    "tests": "",
    "defaultTest": "",
    "assertionTemplates": "",
    "outputPath": "ignored: write an export with `workbench export --format promptfoo`",
    "sharing": "ignored: nothing is shared",
    "env": "ignored: keys and settings come from saved connections",
    "evaluateOptions": "ignored: the grid's --parallel sets concurrency",
    "scenarios": "not mapped: scenarios are not supported; list the tests directly",
    "nunjucksFilters": "not mapped: custom nunjucks filters are JavaScript",
    "derivedMetrics": "not mapped: derived metrics are JavaScript expressions",
    "redteam": "not mapped: red-team generation is not part of the workbench",
    "extensions": "not mapped: extensions are JavaScript hooks",
    "writeLatestResults": "ignored",
    "tags": "ignored",
    "metadata": "ignored",
}
HOSTED = ("openai:", "anthropic:", "azure:", "bedrock:", "vertex:", "google:", "mistral:", "groq:", "cohere:")
URL_KEYS = ("apiBaseUrl", "apiHost", "baseUrl", "base_url", "url", "apiBase")


class Yaml12Loader(yaml.SafeLoader):
    """YAML as promptfoo (js-yaml, YAML 1.2) reads it: `Yes`, `No`, `on`, `off` stay text; only true/false
    are booleans."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class SuiteImport:
    name: str
    folder: Path
    templates: list[Template]
    dataset: Dataset
    models: list[str]  # mapped providers: local model names or connection:NAME
    unmapped: list[Unmapped] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "templates": [t.name for t in self.templates],
            "dataset": self.dataset.name,
            "cases": len(self.dataset.cases),
            "assertions": sum(len(c.checks) for c in self.dataset.cases),
            "models": self.models,
            "unmapped": [asdict(u) for u in self.unmapped],
        }


@dataclass
class Reader:
    """Reads `file://` references relative to the config's folder, refusing anything outside it."""

    folder: Path
    allow_outside: bool = False

    def path(self, reference: str, what: str) -> Path:
        target = (self.folder / reference.removeprefix("file://")).resolve()
        if not self.allow_outside and not target.is_relative_to(self.folder.resolve()):
            raise InputError(
                f"{what} reads {target}, outside the suite's folder {self.folder}: refused (an imported suite "
                "could send a private file to a model server); pass --allow-outside-files if you trust it"
            )
        if not target.is_file():
            raise InputError(f"{what}: file {target} does not exist")
        return target

    def text(self, reference: str, what: str) -> str:
        target = self.path(reference, what)
        try:
            return target.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{what}: cannot read {target}: {err}") from None


def load_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"promptfoo config not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the promptfoo config {path}: {err}") from None
    try:
        data = yaml.load(text, Loader=Yaml12Loader) if path.suffix != ".json" else json.loads(text)
    except (yaml.YAMLError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path} is not valid YAML: {first}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a promptfoo config is a mapping with prompts, providers and tests")
    return data


def import_config(
    path: Path,
    connections: dict[str, str],
    local_models: list[str],
    allow_outside: bool = False,
    allow_code: bool = False,
    allow_unsaved_providers: bool = False,
) -> SuiteImport:
    """The suite as records (nothing saved yet). `connections`: saved connection name -> base URL. A config
    whose parts have shapes promptfoo would not accept either is one clear error naming the part."""
    try:
        return _import(path, connections, local_models, allow_outside, allow_code, allow_unsaved_providers)
    except (TypeError, AttributeError, KeyError, ValueError) as err:
        detail = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise InputError(f"{path}: a part of the config has a shape the importer cannot read ({detail})") from None


def _import(path, connections, local_models, allow_outside, allow_code, allow_unsaved_providers) -> SuiteImport:
    data = load_config(path)
    reader = Reader(path.parent, allow_outside)
    name = _slug(path.parent.name if path.stem == "promptfooconfig" else path.stem)
    unmapped = [Unmapped(f"key {k}", KNOWN_KEYS.get(k, "unknown key: left out")) for k in data]
    unmapped = [u for u in unmapped if u.reason]
    if "prompts" not in data:
        raise InputError(f"{path}: the config has no prompts")
    templates = _templates(name, data["prompts"], reader, unmapped)
    refs = data.get("assertionTemplates") or {}
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = _load_structured(default, reader, "defaultTest")
    tests = _tests(data.get("tests") or [], reader)
    known = frozenset(local_models) | {f"connection:{name}" for name in connections}
    cases = [
        _case(index, test, default, refs, reader, unmapped, allow_code, known) for index, test in enumerate(tests)
    ] or [_case(0, {}, default, refs, reader, unmapped, allow_code, known)]
    templates = _usable(templates, cases, unmapped)
    _unused_vars(templates, cases, unmapped)
    providers = data.get("providers", data.get("targets")) or []
    models = _providers(providers, connections, local_models, unmapped, allow_unsaved_providers)
    description = str(data.get("description") or f"imported from {path}")
    return SuiteImport(
        name, path.parent, templates, Dataset(f"promptfoo-{name}", cases, description, str(path)), models, unmapped
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "suite"


def _templates(name: str, prompts: Any, reader: Reader, unmapped: list[Unmapped]) -> list[Template]:
    prompts = prompts if isinstance(prompts, list) else [prompts]
    texts: list[tuple[str, str]] = []  # (label, text)
    for index, prompt in enumerate(prompts, start=1):
        label = None
        if isinstance(prompt, dict):
            label, prompt = prompt.get("label") or prompt.get("id"), prompt.get("raw") or prompt.get("id")
        if not isinstance(prompt, str):
            unmapped.append(Unmapped(f"prompt {index}", "neither text nor file://"))
            continue
        if prompt.startswith("file://"):
            reference = prompt.removeprefix("file://")
            if any(ch in reference for ch in "*?") or reference.endswith((".js", ".py", ".ts")) or ":" in reference:
                unmapped.append(Unmapped(f"prompt {prompt}", "globs and prompt functions (code) are not imported"))
                continue
            content = reader.text(prompt, f"prompt {index}")
            if reference.endswith(".json"):
                texts.append((label or Path(reference).stem, _chat_body(content, prompt)))
            else:
                for part, piece in enumerate(re.split(r"\n-{3,}\n", content), start=1):
                    texts.append((label or f"{Path(reference).stem}-{part}", piece.strip()))
        else:
            texts.append((label or f"p{index}", prompt))
    templates = []
    for label, body in texts:
        if not body.lstrip().startswith("### "):
            body = "### user\n" + body
        templates.append(
            Template(
                f"pf-{name}-{_slug(str(label))}",
                "chat",
                body,
                description=f"promptfoo prompt {label}",
                tags=("promptfoo", name),
            )
        )
    return templates


def _chat_body(content: str, where: str) -> str:
    try:
        messages = json.loads(content)
    except ValueError as err:
        raise InputError(f"prompt {where} is not valid JSON: {err}") from None
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise InputError(f"prompt {where}: a JSON prompt is a list of {{role, content}} messages")
    return "\n".join(f"### {m['role']}\n{m.get('content', '')}" for m in messages)


def _load_structured(reference: str, reader: Reader, what: str) -> Any:
    text = reader.text(reference, what)
    suffix = Path(reference).suffix
    try:
        if suffix == ".csv":
            return [{k: v for k, v in row.items() if k is not None} for row in csv.DictReader(io.StringIO(text))]
        if suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=Yaml12Loader)
    except (ValueError, yaml.YAMLError, csv.Error) as err:
        raise InputError(f"{what}: {reference} cannot be read: {str(err).splitlines()[0]}") from None


def _tests(tests: Any, reader: Reader) -> list[dict[str, Any]]:
    if isinstance(tests, str):
        tests = [tests]
    found: list[dict[str, Any]] = []
    for item in tests:
        if isinstance(item, str):
            loaded = _load_structured(item, reader, "tests")
            rows = loaded if isinstance(loaded, list) else [loaded]
            found += [_csv_test(row) if not isinstance(row.get("vars"), dict) else row for row in rows]
        elif isinstance(item, dict):
            found.append(item)
        else:
            raise InputError(f"tests: each test is a mapping or a file:// reference (got {item!r})")
    return found


def _csv_test(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV/JSONL row: columns are vars; `__expected*` are assertion shorthands, `__description` a label."""
    test: dict[str, Any] = {"vars": {}, "assert": []}
    for key, value in row.items():
        if key.startswith("__expected") and value:
            test["assert"].append(str(value))
        elif key == "__description":
            test["description"] = value
        elif not key.startswith("__"):
            test["vars"][key] = value
    return test


def _case(index, test, default, refs, reader, unmapped, allow_code, known) -> Case:
    if not isinstance(test, dict) or not isinstance(default, dict):
        raise InputError(f"test {index + 1}: a test (and defaultTest) is a mapping with vars and assert")
    for key in sorted(set(test) & {"options", "provider", "providerOutput", "metadata"}):
        unmapped.append(Unmapped(f"test {index + 1}, {key}", "not kept"))
    variables = {**(default.get("vars") or {}), **(test.get("vars") or {})}
    for key, value in list(variables.items()):
        if isinstance(value, str) and value.startswith("file://"):
            variables[key] = reader.text(value, f"test {index + 1}, var {key}")
        elif value is None:
            variables[key] = ""
        elif isinstance(value, list):
            unmapped.append(
                Unmapped(
                    f"test {index + 1}, var {key}",
                    "a list (one test per value in promptfoo) is kept as one JSON text; list the tests instead",
                )
            )
            variables[key] = json.dumps(value, ensure_ascii=False)
        elif not isinstance(value, str | int | float | bool):
            variables[key] = json.dumps(value, ensure_ascii=False)
    checks = []
    for position, raw in enumerate([*(default.get("assert") or []), *(test.get("assert") or [])]):
        where = f"test {index + 1} ({test.get('description') or 'no description'}), assertion {position + 1}"
        mapped = map_assertion(raw, refs, reader, where, unmapped, allow_code, known)
        if mapped is not None:
            checks.append(mapped)
    if test.get("threshold") is not None:
        unmapped.append(Unmapped(f"test {index + 1}", "a test-level threshold is not kept: every assertion must pass"))
    return Case(f"t{index + 1}", variables, None, None, tuple(checks))


def _usable(templates: list[Template], cases: list[Case], unmapped: list[Unmapped]) -> list[Template]:
    """Templates our sandboxed Jinja renders for every test (a nunjucks-only filter is reported)."""
    usable = []
    for template in templates:
        try:
            template.validate()
            for case in cases:
                render(template, case.vars)
        except TemplateError as err:
            unmapped.append(Unmapped(f"prompt {template.description.removeprefix('promptfoo prompt ')}", str(err)))
            continue
        usable.append(template)
    return usable


def _unused_vars(templates: list[Template], cases: list[Case], unmapped: list[Unmapped]) -> None:
    used = set().union(*(t.used_variables() for t in templates)) if templates else set()
    given = set().union(*(c.vars for c in cases))
    for name in sorted(given - used):
        unmapped.append(Unmapped(f"var {name}", "no prompt uses it"))


def _providers(providers, connections, local_models, unmapped, allow_unsaved) -> list[str]:
    providers = providers if isinstance(providers, list) else [providers]
    mapped: list[str] = []
    by_url = {url.rstrip("/"): name for name, url in connections.items()}
    for provider in providers:
        ident, config = (provider, {}) if isinstance(provider, str) else (provider.get("id"), provider.get("config"))
        config = config or {}
        url = next((str(config[k]) for k in URL_KEYS if config.get(k)), None)
        if url is not None:
            saved = by_url.get(url.rstrip("/"))
            if saved:
                mapped.append(f"connection:{saved}")
            elif not allow_unsaved:
                raise InputError(
                    f"provider {ident} sends prompts to {url}, which is not a saved connection: refused (save it "
                    "with `workbench connections add`, or pass --allow-unsaved-providers to leave it out)"
                )
            else:
                unmapped.append(Unmapped(f"provider {ident}", f"{url} is not a saved connection: left out"))
            continue
        name = str(ident or "")
        if name in local_models or name.removeprefix("connection:") in connections:
            mapped.append(name)
        elif name.startswith(HOSTED):
            unmapped.append(
                Unmapped(f"provider {name}", "a hosted model: run with --models (a local model or saved connection)")
            )
        else:
            unmapped.append(Unmapped(f"provider {name}", "unknown here: run with --models"))
    return mapped
