"""Templates other people wrote cannot hang the app or fill its memory: a render time limit and an output size
limit (their values in the message), recursion stopped, and Jinja's sandbox escapes refused."""

from __future__ import annotations

import time

import pytest

from workbench.errors import TemplateError
from workbench.library.bounded import MAX_OUTPUT_CHARS, RENDER_SECONDS
from workbench.library.chat_formats import compile_template
from workbench.library.templates import Template, render


def _render(body: str) -> str:
    return render(Template("hostile", "prompt", body), {}).text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ 'x' * 1000000000 }}", "would build 1,000,000,000 characters, over the limit of 1,000,000"),
        ("{{ [0] * 100000000 }}", "over the limit of 1,000,000"),
        ("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}", "over the limit of 1,000,000"),
        ("{{ 10 ** 100000000 }}", "to the power 100000000, over the limit of 10,000"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            f"took longer than {RENDER_SECONDS:g} s to render",
        ),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "too deeply"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "refused by the sandbox"),
        ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "refused by the sandbox"),
        ("{{ self.__init__.__globals__ }}", "refused by the sandbox"),
        ("{{ lipsum.__globals__['os'] }}", "refused by the sandbox"),
        ("{{ range.__self__ }}", "has no attribute '__self__'"),
        ("{{ x.append(1) }}", "undefined"),
        ("{% set l = [] %}{{ l.append(1) }}", "refused by the sandbox"),
        ("{{ '{0.__class__}'.format(1) }}", "refused by the sandbox"),
    ],
)
def test_hostile_templates_end_in_one_clear_error(body, message):
    started = time.monotonic()
    with pytest.raises(TemplateError, match=None) as caught:
        _render(body)
    assert message in str(caught.value), str(caught.value)
    assert time.monotonic() - started < RENDER_SECONDS + 3
    assert "\n" not in str(caught.value)


def test_a_large_but_legal_template_renders():
    text = _render("{% for i in range(1000) %}{{ 'abc' * 100 }}{% endfor %}")
    assert len(text) == 300_000 < MAX_OUTPUT_CHARS


def test_chat_templates_are_bounded_too():
    runaway = compile_template("{% for m in messages %}{{ m.content * 10000000 }}{% endfor %}")
    with pytest.raises(TemplateError, match="over the limit of 1,000,000"):
        runaway([{"role": "user", "content": "hello"}], True)
