"""PHP's request-variable rules, so Clarion reads a form exactly as Mobizon's PHP does.

Mobizon's clients (the official PHP SDK uses ``http_build_query``) send nested
parameters in PHP bracket notation: ``data[name]=x``, ``recipients[]=1``,
``recipients[0][recipient]=1&recipients[0][name]=Ann``. :func:`parse` rebuilds the
nested structure the way PHP builds ``$_GET`` / ``$_POST``
(``php_register_variable_ex``):

* Leading spaces of a name are dropped; in the base name (before the first ``[``)
  ``' '`` and ``'.'`` become ``'_'``. An empty base name discards the pair.
* ``name[a][b]`` nests; ``name[]`` appends with the next integer index (one more
  than the largest integer key so far, at least 0). Integer-looking keys (``"0"``,
  ``"-3"``, not ``"05"``) are integer keys, kept here as their decimal string.
* After a ``]``, anything that is not another ``[`` ends the name (``a[b]c`` is
  ``a[b]``). An unclosed first ``[`` is not an index: it becomes ``'_'`` and so do
  any later ``' '``, ``'.'`` and ``'['`` (``a[b.c`` is the plain name ``a_b_c``); an
  unclosed later ``[`` is dropped with the rest (``a[b][c`` is ``a[b]``).
* A later pair wins: a scalar replaced by an array, an array by a scalar, a repeated
  plain name by its last value. Nesting deeper than :data:`MAX_DEPTH` discards the
  pair (PHP's ``max_input_nesting_level``).

Arrays are :class:`PhpArray` (a ``dict`` in insertion order, string keys); values
are whatever the caller passed (strings, uploaded files, JSON values).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_DEPTH = 64
_INT64 = 2**63


class PhpArray(dict[str, Any]):
    """An ordered PHP array: string keys, with PHP's next free integer index."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:
        super().__init__()
        self.next_index = 0

    def put(self, key: str | None, value: Any) -> str:
        """Set ``key`` (``None``: append) and return the key used."""
        if key is None:
            key = str(self.next_index)
        number = integer_key(key)
        if number is not None and number >= self.next_index:
            self.next_index = number + 1
        self[key] = value
        return key


def integer_key(key: str) -> int | None:
    """The integer PHP reads ``key`` as (``"12"``, ``"-3"``), or None (``"012"``, ``"+1"``,
    ``"1.0"``, out of the 64-bit range)."""
    digits = key[1:] if key.startswith("-") else key
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) > 1 and digits[0] == "0":
        return None
    if key == "-0":
        return None
    number = int(key)
    return number if -_INT64 <= number < _INT64 else None


def key_path(name: str) -> list[str | None] | None:
    """The path of keys ``name`` assigns to (``None`` = append), or None to discard."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    head = name if bracket < 0 else name[:bracket]
    base = head.replace(" ", "_").replace(".", "_")
    if not base:
        return None
    if bracket < 0:
        return [base]
    path: list[str | None] = [base]
    start = bracket
    while True:
        if len(path) > MAX_DEPTH:
            return None
        close = name.find("]", start + 1)
        if close < 0:
            if len(path) == 1:
                rest = name[start + 1 :]
                for char in " .[":
                    rest = rest.replace(char, "_")
                return [base + "_" + rest]
            return path
        segment = name[start + 1 : close]
        path.append(segment if segment else None)
        after = close + 1
        if after < len(name) and name[after] == "[":
            start = after
            continue
        return path


def assign(root: PhpArray, path: list[str | None], value: Any) -> None:
    """Store ``value`` at ``path`` under ``root``, creating arrays on the way."""
    node = root
    for segment in path[:-1]:
        child = node.get(segment) if segment is not None else None
        if not isinstance(child, PhpArray):
            child = PhpArray()
            node.put(segment, child)
        node = child
    node.put(path[-1], value)


def parse(pairs: Iterable[tuple[str, Any]]) -> PhpArray:
    """Build PHP's nested parameters from ``(name, value)`` pairs, in order."""
    root = PhpArray()
    for name, value in pairs:
        path = key_path(name)
        if path is not None:
            assign(root, path, value)
    return root


def from_json(value: Any) -> Any:
    """A decoded JSON value as PHP arrays: objects and lists become :class:`PhpArray`
    (lists keyed 0..n-1), and object keys written in bracket notation
    (``{"data[name]": "x"}``) are expanded as a form would be."""
    if isinstance(value, Mapping):
        return parse((str(k), from_json(v)) for k, v in value.items())
    if isinstance(value, list):
        array = PhpArray()
        for item in value:
            array.put(None, from_json(item))
        return array
    return value


def merge(*layers: Mapping[str, Any]) -> PhpArray:
    """Top-level merge, later layers winning (PHP's ``array_merge($_GET, $_POST)``)."""
    merged = PhpArray()
    for layer in layers:
        for key, value in layer.items():
            merged.put(key, value)
    return merged


def items(value: Any) -> list[Any]:
    """A list parameter as Mobizon accepts one: an array (its values, in order), or a
    string of items separated by commas or line breaks (blank items dropped).
    ``None`` and ``""`` give an empty list; any other scalar is a one-item list."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        parts = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", ",").split(",")
        return [part.strip() for part in parts if part.strip()]
    return [value]


def bracket_name(path: str) -> str:
    """The PHP name of a dotted path: ``data.0.name`` is ``data[0][name]``."""
    head, *rest = path.split(".")
    return head + "".join(f"[{part}]" for part in rest)
