"""Unit tests of the PHP bracket-notation parser (``$_GET`` / ``$_POST`` rules)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from tests.acceptance.mobizon.php import http_build_query

from clarion.dialects.mobizon import form


def php(query: str) -> dict[str, Any]:
    """What PHP's parse_str makes of ``query``, as plain dicts."""
    return plain(form.parse(urllib.parse.parse_qsl(query, keep_blank_values=True)))


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def test_plain_names_and_last_value_wins() -> None:
    assert php("a=1&b=2&a=3") == {"a": "3", "b": "2"}


def test_nested_keys() -> None:
    assert php("data%5Btype%5D=3&data%5Bfrom%5D=Alpha") == {"data": {"type": "3", "from": "Alpha"}}
    assert php("a[b][c][d]=1") == {"a": {"b": {"c": {"d": "1"}}}}


def test_append_uses_next_integer_index() -> None:
    assert php("r[]=1&r[]=2&r[]=3") == {"r": {"0": "1", "1": "2", "2": "3"}}
    assert php("r[5]=a&r[]=b") == {"r": {"5": "a", "6": "b"}}
    assert php("r[x]=a&r[]=b") == {"r": {"x": "a", "0": "b"}}
    # "05" and "-0" are string keys; negative integers do not lower the next index
    assert php("r[05]=a&r[]=b") == {"r": {"05": "a", "0": "b"}}
    assert php("r[-3]=a&r[]=b") == {"r": {"-3": "a", "0": "b"}}


def test_append_creates_nested_arrays() -> None:
    assert php("r[][x]=1&r[][x]=2") == {"r": {"0": {"x": "1"}, "1": {"x": "2"}}}


def test_template_recipients_from_mobizon_docs() -> None:
    query = (
        "recipients[0][recipient]=380971112233"
        "&recipients[0][name]=%D0%92%D0%B0%D1%81%D0%B8%D0%BB%D0%B8%D0%B9"
        "&recipients[0][balance]=123.45"
        "&recipients[1][recipient]=380971112255&recipients[1][name]=Markus"
    )
    assert php(query) == {
        "recipients": {
            "0": {"recipient": "380971112233", "name": "Василий", "balance": "123.45"},
            "1": {"recipient": "380971112255", "name": "Markus"},
        }
    }


def test_base_name_spaces_and_dots_become_underscores() -> None:
    assert php("a.b=1&c d=2&%20%20e=3") == {"a_b": "1", "c_d": "2", "e": "3"}
    # ...but not inside brackets
    assert php("sort[counters.totalMsgNum]=ASC") == {"sort": {"counters.totalMsgNum": "ASC"}}


def test_unclosed_bracket() -> None:
    assert php("a[b=1") == {"a_b": "1"}
    assert php("a[b.c[d=1") == {"a_b_c_d": "1"}
    assert php("a[b][c=1") == {"a": {"b": "1"}}


def test_text_after_a_closing_bracket_is_ignored() -> None:
    assert php("a[b]c=1") == {"a": {"b": "1"}}


def test_empty_names_are_discarded() -> None:
    assert php("=1&[a]=2&b=3") == {"b": "3"}


def test_scalar_and_array_replace_each_other() -> None:
    assert php("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert php("a[b]=2&a=1") == {"a": "1"}
    assert php("a[x]=1&a[x][y]=2") == {"a": {"x": {"y": "2"}}}


def test_replacing_keeps_the_original_position() -> None:
    assert list(php("r[a]=1&r[b]=2&r[a]=3")["r"].items()) == [("a", "3"), ("b", "2")]


def test_nesting_beyond_the_limit_is_discarded() -> None:
    deep = "a" + "[x]" * (form.MAX_DEPTH + 1) + "=1"
    assert php(deep + "&b=2") == {"b": "2"}
    assert "a" in php("a" + "[x]" * form.MAX_DEPTH + "=1")


def test_blank_values_and_names_without_equals() -> None:
    assert php("a=&b&c[]=") == {"a": "", "b": "", "c": {"0": ""}}


def test_round_trip_of_http_build_query() -> None:
    params = {
        "data": {"type": 3, "text": "Hello {name}! 50% off & more", "from": "Alpha"},
        "recipients": [{"recipient": "+77010000001", "name": "Ann"}, {"recipient": "7"}],
        "params": {"placeholdersFlag": 2},
    }
    assert php(http_build_query(params)) == {
        "data": {"type": "3", "text": "Hello {name}! 50% off & more", "from": "Alpha"},
        "recipients": {
            "0": {"recipient": "+77010000001", "name": "Ann"},
            "1": {"recipient": "7"},
        },
        "params": {"placeholdersFlag": "2"},
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [("0", 0), ("12", 12), ("-3", -3), ("05", None), ("+1", None), ("1.0", None), ("", None)],
)
def test_integer_keys(key: str, expected: int | None) -> None:
    assert form.integer_key(key) == expected


def test_integer_keys_beyond_64_bits_are_strings() -> None:
    assert form.integer_key(str(2**63)) is None
    assert form.integer_key(str(2**63 - 1)) == 2**63 - 1


def test_from_json_expands_lists_and_bracket_keys() -> None:
    decoded = {"ids": [1, 2], "data": {"text": "t"}, "data[name]": "x", "n": 5}
    assert plain(form.from_json(decoded)) == {
        "ids": {"0": 1, "1": 2},
        "data": {"text": "t", "name": "x"},
        "n": 5,
    }


def test_from_json_later_keys_win() -> None:
    assert plain(form.from_json({"data[name]": "x", "data": {"text": "t"}})) == {
        "data": {"text": "t"}
    }


def test_merge_is_shallow_and_later_layers_win() -> None:
    query = form.parse([("a", "1"), ("data[x]", "q"), ("apiKey", "k")])
    body = form.parse([("a", "2"), ("data[y]", "b")])
    assert plain(form.merge(query, body)) == {"a": "2", "data": {"y": "b"}, "apiKey": "k"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,2, 3", ["1", "2", "3"]),
        ("1\n2\r\n3\r4", ["1", "2", "3", "4"]),
        ("1,,2,", ["1", "2"]),
        ("", []),
        (None, []),
        (7, [7]),
        (["a", "b"], ["a", "b"]),
    ],
)
def test_items(value: Any, expected: list[Any]) -> None:
    assert form.items(value) == expected


def test_items_of_an_array_keep_order() -> None:
    assert form.items(form.parse([("r[]", "1"), ("r[]", "2")])["r"]) == ["1", "2"]
