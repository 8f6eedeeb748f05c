"""Hypothesis over the Mobizon PHP bracket-parameter parser (dialects/mobizon/form.py)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clarion.dialects.mobizon import form, wire

# Keys PHP keeps as they are: no brackets, no leading space; a base name without
# ' ', '.' or '[' (those are mangled by design and tested apart).
plain_key = st.text(
    st.characters(blacklist_characters="[] .&=#%+", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=8,
).filter(lambda k: form.integer_key(k) is None)
value = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
tree: st.SearchStrategy[Any] = st.recursive(
    value,
    lambda children: st.dictionaries(plain_key, children, min_size=1, max_size=4),
    max_leaves=12,
)


def encode(params: dict[str, Any]) -> str:
    """PHP's http_build_query: nested arrays as ``a[b][c]=v``."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}[{k}]", v)
        else:
            pairs.append((prefix, node))

    for key, node in params.items():
        walk(key, node)
    return urllib.parse.urlencode(pairs)


def as_dict(node: Any) -> Any:
    return {k: as_dict(v) for k, v in node.items()} if isinstance(node, dict) else node


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(plain_key, tree, max_size=5))
def test_http_build_query_round_trips(params: dict[str, Any]) -> None:
    assert as_dict(wire.query_params(encode(params))) == params


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=5)), max_size=20))
def test_any_names_build_string_keyed_arrays(pairs: list[tuple[str, str]]) -> None:
    parsed = form.parse(pairs)

    def check(node: Any, depth: int) -> None:
        assert depth <= form.MAX_DEPTH + 1
        for key, child in node.items():
            assert isinstance(key, str)
            if isinstance(child, form.PhpArray):
                check(child, depth + 1)
            else:
                assert isinstance(child, str)

    check(parsed, 0)
    for name, _ in pairs:
        path = form.key_path(name)
        if path is not None:  # a kept name has a non-empty, unmangled base
            assert path[0] and not any(c in path[0] for c in " .[")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "a[]", "a[x]", "a[0]", "a[5]", "a[-1]"]), max_size=12))
def test_appends_use_the_next_integer_index(names: list[str]) -> None:
    """``a[]`` takes one more than the largest integer key so far (at least 0)."""
    parsed = form.parse((name, str(i)) for i, name in enumerate(names))
    expected: Any = None
    next_index = 0
    for i, name in enumerate(names):
        if name == "a":
            expected, next_index = str(i), 0
            continue
        if not isinstance(expected, dict):
            expected, next_index = {}, 0
        key = name[2:-1]
        if key == "":
            key = str(next_index)
        if form.integer_key(key) is not None and int(key) >= next_index:
            next_index = int(key) + 1
        expected[key] = str(i)
    assert as_dict(parsed.get("a")) == expected


json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_value)
def test_json_values_become_php_arrays(decoded: Any) -> None:
    result = form.from_json(decoded)
    if isinstance(decoded, list):
        assert isinstance(result, form.PhpArray)
        assert list(result) == [str(i) for i in range(len(decoded))]
    elif isinstance(decoded, dict):
        assert isinstance(result, form.PhpArray)
    else:
        assert result == decoded


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), json_value))
def test_items_is_always_a_list(param: Any) -> None:
    result = form.items(param)
    assert isinstance(result, list)
    if isinstance(param, str):
        assert all(item and item == item.strip() and "," not in item for item in result)
