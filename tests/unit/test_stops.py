"""The one stop-string parser (CLI --stop, Playground and Compare fields)."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidParameterError
from workbench.stops import format_stop_list, parse_stop, parse_stop_list


@pytest.mark.parametrize(
    ("typed", "stop"),
    [
        ("\\n", "\n"),
        ("\\n\\n", "\n\n"),
        ("\\t", "\t"),
        ("Q:", "Q:"),
        ("\\\\n", "\\n"),
        ("a\\sb", "a b"),
        ("\\x", "\\x"),
    ],
)
def test_parse_stop_resolves_escapes(typed, stop):
    assert parse_stop(typed) == stop


def test_an_empty_stop_is_refused():
    with pytest.raises(InvalidParameterError, match="a stop string is empty"):
        parse_stop("")


def test_lists_split_on_unescaped_commas_and_skip_blanks():
    assert parse_stop_list("\\n, ###,  , Q:") == ("\n", "###", "Q:")
    assert parse_stop_list("a\\,b,\\s") == ("a,b", " ")
    assert parse_stop_list("") == ()


@pytest.mark.parametrize("stops", [("\n",), ("\n\n", "Q:"), ("a,b", " ", "\\", "\t")])
def test_format_is_the_inverse_of_parse(stops):
    assert parse_stop_list(format_stop_list(stops)) == stops
