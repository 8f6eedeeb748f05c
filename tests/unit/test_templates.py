"""``{placeholder}`` templates with Mobizon semantics."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.templates import (
    MissingPlaceholderError,
    PlaceholdersFlag,
    missing,
    placeholders,
    render,
)

NAME_ALPHABET = string.ascii_letters + string.digits + "_-"
names = st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=12)
# Text with no '{' cannot contain a placeholder.
brace_free = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40)


def test_flag_values_match_mobizon() -> None:
    assert [int(flag) for flag in PlaceholdersFlag] == [1, 2, 3]
    assert PlaceholdersFlag(1) is PlaceholdersFlag.KEEP
    assert PlaceholdersFlag(2) is PlaceholdersFlag.REMOVE
    assert PlaceholdersFlag(3) is PlaceholdersFlag.REJECT


def test_placeholders_in_order_of_first_appearance_without_duplicates() -> None:
    text = "Hi {name}, your balance is {balance} {currency}. Bye {name}!"
    assert placeholders(text) == ("name", "balance", "currency")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{a}", ("a",)),
        ("{client_Balance-2}", ("client_Balance-2",)),
        ("{123}", ("123",)),
        ("{-}", ("-",)),
        ("{}", ()),
        ("{first name}", ()),
        ("{имя}", ()),
        ("{a.b}", ()),
        ("{ a}", ()),
        ("{a", ()),
        ("a}", ()),
        ("{{name}}", ("name",)),
        ("{a}{b}", ("a", "b")),
        ("{x{y}z}", ("y",)),
        ("no placeholders", ()),
        ("", ()),
    ],
)
def test_placeholder_syntax(text: str, expected: tuple[str, ...]) -> None:
    assert placeholders(text) == expected


def test_render_fills_all_placeholders() -> None:
    text = "Dear {name}, you owe {balance} {currency}."
    variables = {"name": "Markus", "balance": "555.45", "currency": "eur", "unused": "x"}
    assert render(text, variables) == "Dear Markus, you owe 555.45 eur."


def test_render_is_exact_case() -> None:
    with pytest.raises(MissingPlaceholderError) as info:
        render("Hi {Name}", {"name": "Ann"})
    assert info.value.names == ("Name",)
    assert render("Hi {Name} {name}", {"Name": "A", "name": "b"}) == "Hi A b"


def test_values_are_not_re_expanded() -> None:
    variables = {"a": "{b}", "b": "B"}
    assert render("{a}/{b}", variables) == "{b}/B"
    assert render("{a}", {"a": "{a}"}) == "{a}"


def test_values_are_inserted_literally() -> None:
    assert render("x{a}y", {"a": r"\1 \g<0> $1"}) == r"x\1 \g<0> $1y"


def test_empty_value_is_not_missing() -> None:
    assert missing("Hi {name}", {"name": ""}) == ()
    assert render("Hi {name}!", {"name": ""}) == "Hi !"


def test_non_placeholder_braces_are_left_alone() -> None:
    assert render("{} {first name} {{n}}", {"n": "N"}) == "{} {first name} {N}"


def test_keep_leaves_missing_placeholders_in_the_text() -> None:
    text = "Hi {name}, code {code}"
    result = render(text, {"code": "42"}, flag=PlaceholdersFlag.KEEP)
    assert result == "Hi {name}, code 42"


def test_remove_substitutes_the_empty_string() -> None:
    text = "Hi {name}, code {code}"
    result = render(text, {"code": "42"}, flag=PlaceholdersFlag.REMOVE)
    assert result == "Hi , code 42"


def test_reject_is_the_default_and_names_missing_in_order() -> None:
    text = "{b} {a} {c} {b} {a}"
    with pytest.raises(MissingPlaceholderError) as info:
        render(text, {"c": "C"})
    error = info.value
    assert error.names == ("b", "a")
    assert isinstance(error, ValueError)
    assert str(error) == "no value for placeholder(s) used in the text: {b}, {a}"


def test_flags_accept_plain_ints() -> None:
    assert render("{x}", {}, flag=PlaceholdersFlag(1)) == "{x}"
    assert render("{x}", {}, flag=2) == ""  # type: ignore[arg-type]
    with pytest.raises(MissingPlaceholderError):
        render("{x}", {}, flag=3)  # type: ignore[arg-type]


def test_missing_lists_absent_names_in_order() -> None:
    assert missing("{a} {b} {a} {c}", {"b": "1"}) == ("a", "c")
    assert missing("no placeholders", {}) == ()


def test_error_names_is_a_tuple() -> None:
    error = MissingPlaceholderError(["x", "y"])
    assert error.names == ("x", "y")


@given(brace_free)
def test_text_without_braces_renders_unchanged(text: str) -> None:
    for flag in PlaceholdersFlag:
        assert render(text, {}, flag=flag) == text
    assert placeholders(text) == ()


@given(st.lists(st.tuples(brace_free, names), max_size=6), brace_free)
def test_render_with_all_values_matches_manual_substitution(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    text = "".join(f"{lit}{{{name}}}" for lit, name in pieces) + tail
    variables = {name: name.upper() + "!" for _, name in pieces}
    expected = "".join(lit + name.upper() + "!" for lit, name in pieces) + tail
    assert render(text, variables) == expected
    assert missing(text, variables) == ()


@given(st.lists(st.tuples(brace_free, names), max_size=6), brace_free)
def test_keep_without_values_is_identity_and_remove_strips(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    text = "".join(f"{lit}{{{name}}}" for lit, name in pieces) + tail
    assert render(text, {}, flag=PlaceholdersFlag.KEEP) == text
    assert (
        render(text, {}, flag=PlaceholdersFlag.REMOVE) == "".join(lit for lit, _ in pieces) + tail
    )
    assert missing(text, {}) == placeholders(text)
    assert placeholders(text) == tuple(dict.fromkeys(name for _, name in pieces))


@given(st.text(max_size=60), st.dictionaries(names, st.text(max_size=10), max_size=4))
def test_reject_raises_exactly_when_something_is_missing(
    text: str, variables: dict[str, str]
) -> None:
    absent = missing(text, variables)
    if absent:
        with pytest.raises(MissingPlaceholderError) as info:
            render(text, variables)
        assert info.value.names == absent
    else:
        assert render(text, variables) == render(text, variables, flag=PlaceholdersFlag.KEEP)
