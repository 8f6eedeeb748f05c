"""``{placeholder}`` message templates, with Mobizon's semantics.

Rules
-----
* A placeholder is ``{name}`` where ``name`` is one or more ASCII Latin
  letters, digits, ``_`` or ``-`` (Mobizon: "To name a placeholder use only
  Latin letters and numbers or characters '_' and '-'"). Anything else between
  braces (``{}``, ``{first name}``, ``{имя}``, ``{a.b}``) is literal text, and
  so is a lone ``{`` or ``}``. There is no escape syntax: in ``{{name}}`` the
  inner ``{name}`` is a placeholder and the outer braces are literal.
* Names are case-sensitive: ``{Name}`` is only filled by the variable
  ``"Name"``, never by ``"name"``.
* Values are inserted literally, in a single pass: a value that itself
  contains ``{x}`` is not expanded again, so recipient data can never inject
  other recipients' fields or loop.
* When a placeholder used in the text has no value for a recipient, the
  :class:`PlaceholdersFlag` decides, as Mobizon's ``params[placeholdersFlag]``
  does: ``KEEP`` (1) leaves ``{name}`` in the text, ``REMOVE`` (2) replaces it
  with the empty string, ``REJECT`` (3) refuses the recipient with
  :class:`MissingPlaceholderError` (Mobizon result code 20). A variable present
  with an empty value is *not* missing.

Choices
-------
* Mobizon's default flag is ``KEEP``; :func:`render` defaults to ``REJECT``
  because silently sending ``Hello {name}`` to a customer is the worse
  failure. A Mobizon dialect passes the flag its client sent (or ``KEEP``).
* Mobizon's code table says code 20 applies "if placeholdersFlag is set to 1",
  which contradicts the flag's own description (1 keeps the placeholder). We
  follow the flag description: only ``REJECT`` (3) refuses a recipient.
* Variables not used by the text are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import IntEnum

__all__ = [
    "MissingPlaceholderError",
    "PlaceholdersFlag",
    "missing",
    "placeholders",
    "render",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


class PlaceholdersFlag(IntEnum):
    """What to do when a recipient has no value for a placeholder in the text."""

    KEEP = 1
    REMOVE = 2
    REJECT = 3


class MissingPlaceholderError(ValueError):
    """A recipient lacks values for placeholders used in the text (under ``REJECT``)."""

    names: tuple[str, ...]

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        listed = ", ".join("{" + name + "}" for name in self.names)
        super().__init__(f"no value for placeholder(s) used in the text: {listed}")


def placeholders(text: str) -> tuple[str, ...]:
    """Return the distinct placeholder names in ``text``, in order of first appearance."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


def missing(text: str, variables: Mapping[str, str]) -> tuple[str, ...]:
    """Return the placeholder names in ``text`` that ``variables`` has no value for."""
    return tuple(name for name in placeholders(text) if name not in variables)


def render(
    text: str,
    variables: Mapping[str, str],
    *,
    flag: PlaceholdersFlag = PlaceholdersFlag.REJECT,
) -> str:
    """Fill the placeholders of ``text`` from ``variables``.

    Raises :class:`MissingPlaceholderError` under ``REJECT`` when any
    placeholder has no value; otherwise missing placeholders are kept or
    removed according to ``flag``.
    """
    if flag == PlaceholdersFlag.REJECT:
        absent = missing(text, variables)
        if absent:
            raise MissingPlaceholderError(absent)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return variables[name]
        if flag == PlaceholdersFlag.REMOVE:
            return ""
        return match.group(0)

    return _PLACEHOLDER.sub(substitute, text)
