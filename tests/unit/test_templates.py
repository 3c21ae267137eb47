"""Rendering the five kinds, and every way a template can be wrong."""

from __future__ import annotations

import pytest

from workbench.errors import TemplateError
from workbench.library.chat_formats import compile_template
from workbench.library.templates import AnswerRule, Template, render, split_chat

EXAMPLES = ({"text": "great film", "label": "positive"}, {"text": "it is blue", "label": "neutral"})


def test_prompt_and_instruction_render_their_variables():
    cloze = Template("c", "prompt", "Review: {{ text }}\nOverall, it was", variables=("text",))
    assert render(cloze, {"text": "Loved it."}).text == "Review: Loved it.\nOverall, it was"
    instruction = Template("i", "instruction", "Options: A, B.\n{{ text }}\nAnswer:")
    assert render(instruction, {"text": "x"}).text == "Options: A, B.\nx\nAnswer:"


def test_few_shot_examples_are_data_and_k_is_a_setting():
    body = "{% for ex in examples %}S: {{ ex.text }} -> {{ ex.label }}\n{% endfor %}S: {{ text }} ->"
    template = Template("f", "few_shot", body, examples=EXAMPLES, k=1).validate()
    assert render(template, {"text": "q"}).text == "S: great film -> positive\nS: q ->"
    assert render(template, {"text": "q"}, k=0).text == "S: q ->"
    assert render(template, {"text": "q"}, k=2).text.count("->") == 3
    with pytest.raises(TemplateError, match="k = 3 but it has 2 examples"):
        render(template, {"text": "q"}, k=3)


def test_chain_of_thought_trigger_and_worked_examples():
    trigger = Template("t", "chain_of_thought", "Q: {{ question }}\nA: Let's think step by step.")
    assert render(trigger, {"question": "1+1?"}).text.endswith("Let's think step by step.")
    shots = ({"question": "2+2?", "reasoning": "2 plus 2 is 4.", "answer": "4"},)
    worked = Template(
        "w",
        "chain_of_thought",
        "{% for ex in examples %}Q: {{ ex.question }}\nA: {{ ex.reasoning }} "
        "The answer is {{ ex.answer }}.\n{% endfor %}Q: {{ question }}\nA:",
        examples=shots,
    )
    assert "2 plus 2 is 4. The answer is 4." in render(worked, {"question": "3+3?"}).text


def test_chat_turns_go_through_the_model_chat_template_or_a_transcript():
    chat = Template("chat", "chat", "### system\nBe brief.\n### user\n{{ question }}\n")
    plain = render(chat, {"question": "Hi?"})
    assert plain.messages == ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"})
    assert plain.text == "System: Be brief.\nUser: Hi?\nAssistant:"
    gemma_like = compile_template(
        "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
        bos="<bos>",
    )
    formatted = render(chat, {"question": "Hi?"}, chat_format=lambda turns: gemma_like(turns, True)).text
    assert formatted.startswith("<bos><start_of_turn>system\nBe brief.<end_of_turn>")
    assert formatted.endswith("<start_of_turn>model\n")
    with pytest.raises(TemplateError, match="### user"):
        split_chat("no turns here")


def test_strict_undefined_names_template_line_and_variable():
    template = Template("greeting", "prompt", "Hello\n{{ name }} and {{ other }}")
    with pytest.raises(TemplateError, match=r"template greeting, line 2: undefined variable 'other'"):
        render(template, {"name": "x"})
    declared = Template("decl", "prompt", "{{ text }}", variables=("text", "lang"))
    with pytest.raises(TemplateError, match="missing variable lang"):
        render(declared, {"text": "x"})


def test_syntax_errors_report_the_line():
    broken = Template("broken", "prompt", "line one\n{% for x in %}\n{% endfor %}")
    with pytest.raises(TemplateError, match=r"template broken, line 2: syntax error"):
        broken.validate()


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ text.__class__.__base__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% set x = [].append(1) %}{{ x }}",
    ],
)
def test_sandbox_refuses_attribute_tricks(body):
    with pytest.raises(TemplateError, match=r"refused by the sandbox|undefined variable"):
        render(Template("evil", "prompt", body), {"text": "x"})


def test_validation_of_kind_k_reserved_names_and_answer_rule():
    with pytest.raises(TemplateError, match="unknown kind 'essay'"):
        Template("x", "essay", "b").validate()
    with pytest.raises(TemplateError, match="k = 5 but it has 2"):
        Template("x", "few_shot", "b", examples=EXAMPLES, k=5).validate()
    with pytest.raises(TemplateError, match="examples is provided by the renderer"):
        Template("x", "prompt", "b", variables=("examples",)).validate()
    with pytest.raises(TemplateError, match="unknown scorer"):
        AnswerRule.from_dict({"scorer": "vibes"})
    with pytest.raises(TemplateError, match="not a valid regular expression"):
        AnswerRule.from_dict({"scorer": "regex", "pattern": "(unclosed"})


def test_used_variables_and_content_key():
    template = Template("x", "prompt", "{{ b }} {{ a }} {% for ex in examples %}{{ ex }}{% endfor %}", variables=("b",))
    assert template.used_variables() == ("b", "a")
    assert template.content_key() == template.with_changes(description="other", tags=("t",)).content_key()
    assert template.content_key() != template.with_changes(body="{{ a }}").content_key()
