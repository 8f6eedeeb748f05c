"""Text that Clarion accepts from outside: never a NUL character.

PostgreSQL ``text`` columns cannot hold U+0000 at all and SQLite would store it
silently, so one rule holds on both stores and at every entrance (/v1, each dialect,
the dashboard): a string containing NUL is invalid input, answered with the entrance's
own validation error, and never reaches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (U+0000) characters"


def nul_path(value: object, path: str = "") -> str | None:
    """The dotted path of the first string (or mapping key) in ``value`` that holds a
    NUL character: ``""`` for ``value`` itself, ``"a.0.b"`` for a nested one; None when
    there is none. Walks mappings, lists and tuples; other values are not text."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def checked(value: T) -> T:
    """``value`` itself, or ValueError(NUL_MESSAGE) when some text in it holds NUL (the
    body of each entrance's validator)."""
    if nul_path(value) is not None:
        raise ValueError(NUL_MESSAGE)
    return value
