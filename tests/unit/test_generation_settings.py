"""A template's recommended generation settings: parsing, versioning, files, and how a grid resolves them."""

from __future__ import annotations

import pytest

from workbench import experiments
from workbench.engine.base import SamplingParams
from workbench.errors import InputError, TemplateError
from workbench.library import files as library_files
from workbench.library.templates import GenerationSettings, Template
from workbench.store import Store

COT = GenerationSettings(max_tokens=200, stop=("\nQ:",), temperature=0.3)


def test_settings_parse_from_a_mapping_and_refuse_bad_values():
    assert GenerationSettings.from_dict({"max_tokens": 200, "stop": ["\nQ:"], "temperature": 0.3}) == COT
    assert GenerationSettings.from_dict({"stop": "\n"}).stop == ("\n",)  # one string is a list of one
    assert GenerationSettings.from_dict({"stop": []}).stop == ()  # explicitly: no stop strings
    assert GenerationSettings.from_dict(None) == GenerationSettings()
    bad = [
        ({"max_tokens": 0}, "max_tokens must be a whole number >= 1"),
        ({"max_tokens": "many"}, "max_tokens must be a whole number >= 1"),
        ({"max_tokens": True}, "max_tokens must be a whole number >= 1"),
        ({"stop": [""]}, "every stop string must be non-empty"),
        ({"stop": {"a": 1}}, "`stop` must be a string or a list"),
        ({"temperature": -1}, "temperature must be a number >= 0"),
        ({"temperature": "hot"}, "temperature must be a number >= 0"),
        ({"top_k": 3}, r"unknown key\(s\) top_k"),
    ]
    for data, message in bad:
        with pytest.raises(TemplateError, match=message):
            GenerationSettings.from_dict(data)
    with pytest.raises(TemplateError, match="must be a mapping"):
        GenerationSettings.from_dict(["max_tokens"])


def test_settings_from_editor_fields_use_the_one_stop_syntax():
    assert GenerationSettings.from_fields(200, "\\nQ:, \\n\\n", False, "0.3").stop == ("\nQ:", "\n\n")
    assert GenerationSettings.from_fields(0, "", False, "") == GenerationSettings()
    assert GenerationSettings.from_fields(0, "\\n", True, "").stop == ()
    with pytest.raises(TemplateError, match="temperature must be a number"):
        GenerationSettings.from_fields(0, "", False, "warm")
    assert COT.describe() == "max 200 · stop \\nQ: · T0.3"


def test_changed_settings_make_a_new_version_and_survive_the_store(tmp_path):
    store = Store(tmp_path / "wb.sqlite")
    base = Template("t", "prompt", "Q: {{ q }}\nA:", variables=("q",))
    store.save_template(base)
    saved, status = store.save_template(base.with_changes(settings=COT))
    assert status == "version" and saved.version == 2 and saved.settings == COT
    assert store.get_template("t", 1).settings == GenerationSettings()  # the old version keeps none
    assert store.save_template(saved)[1] == "unchanged"
    store.close()


def test_settings_round_trip_through_yaml_files(tmp_path):
    template = Template("cot", "chain_of_thought", "Q: {{ q }}\nA:", variables=("q",), settings=COT)
    path = tmp_path / "cot.yaml"
    path.write_text(library_files.template_yaml(template), encoding="utf-8")
    assert library_files.read_template(path).settings == COT
    path.write_text("name: x\nkind: prompt\nsettings:\n  max_tokens: -3\nbody: hi\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cot.yaml: settings: max_tokens must be a whole number >= 1 \(got -3\)"):
        library_files.read_template(path)


def test_a_grid_uses_each_templates_settings_unless_it_overrides_them():
    params = SamplingParams(temperature=0.0, seed=1)
    own = experiments.grid_spec(["a"], "d", params).configs[0]
    resolved = own.for_template(COT)
    assert (resolved.max_tokens, resolved.stop, resolved.params.temperature) == (200, ("\nQ:",), 0.3)
    fallback = own.for_template(GenerationSettings())
    assert (fallback.max_tokens, fallback.stop, fallback.params.temperature) == (
        experiments.FALLBACK_MAX_TOKENS,
        experiments.FALLBACK_STOP,
        0.0,
    )
    forced = experiments.grid_spec(["a"], "d", params, temperatures="0.7, 1", max_tokens=16, stop=())
    assert [c.for_template(COT).params.temperature for c in forced.configs] == [0.7, 1.0]
    assert {(c.for_template(COT).max_tokens, c.for_template(COT).stop) for c in forced.configs} == {(16, ())}
    with pytest.raises(InputError, match="max tokens must be >= 1"):
        experiments.grid_spec(["a"], "d", params, max_tokens=0)
    with pytest.raises(InputError, match="temperatures: write numbers"):
        experiments.grid_spec(["a"], "d", params, temperatures="hot")


def test_every_starter_template_recommends_settings_and_chain_of_thought_gets_room():
    folder = library_files.config.REPO_ROOT / "prompts" / "templates"
    templates = [library_files.read_template(path) for path in sorted(folder.glob("*.yaml"))]
    assert templates and all(t.settings.max_tokens for t in templates)
    for template in templates:
        if template.kind == "chain_of_thought":
            assert template.settings.max_tokens >= 128 and template.settings.stop, template.name
            assert "\n" not in template.settings.stop, template.name  # reasoning spans lines
