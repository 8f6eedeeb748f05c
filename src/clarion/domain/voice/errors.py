"""The one exception of the voice domain: a field of a policy object is not acceptable.

``InvalidField`` is a ``ValueError`` that carries the name of the offending field
(as the autocall dialect spells it, e.g. ``recall_times``, ``monday_start_time``,
``network.viettel``), so a facade can render it in its own error envelope.
Subclasses tell which object was being read: :class:`RecallPolicyError`,
:class:`WindowError`, :class:`NetworkLimitError`, :class:`PacingConfigError`.
"""

from __future__ import annotations

__all__ = [
    "InvalidField",
    "NetworkLimitError",
    "PacingConfigError",
    "RecallPolicyError",
    "WindowError",
]


class InvalidField(ValueError):
    """A field of a voice policy object is missing, of the wrong type or out of range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class RecallPolicyError(InvalidField):
    """A recall policy field (``recall_times``, ``recall_status``, ...) is invalid."""


class WindowError(InvalidField):
    """A calling-window field (``monday_start_time``, ...) is invalid."""


class NetworkLimitError(InvalidField):
    """A ``network`` limit (``network.viettel``, ...) is invalid."""


class PacingConfigError(InvalidField):
    """A pacing or simulation setting is invalid."""


def whole_number(value: object, field: str, error: type[InvalidField], *, minimum: int = 0) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(field, f"must be a whole number, got {value!r}")
    if value < minimum:
        raise error(field, f"must be at least {minimum}, got {value}")
    return value
