"""Recall policy: which outcomes are called again, how often, when, and in which order.

Fields (autocall v3 ``PUT /v3/campaign/{uuid}``, names and meanings from the seed):

``recall_times``
    How many recalls after the first attempt (``3`` = up to 4 calls). Whole number >= 0.
``recall_status``
    The outcomes that are recalled (see :mod:`.outcomes`). Any outcome except
    ``answered``; an empty list means nothing is recalled. Default when absent:
    :data:`~.outcomes.RETRYABLE_BY_DEFAULT`.
``schedule_recall`` / ``schedule_recall_duration``
    The wait before a recall: ``schedule_recall_duration`` units of
    ``schedule_recall`` (``"minute"`` or ``"hour"``), counted from the end of the
    previous attempt. The seed's table says the duration is "in minutes"; with
    ``schedule_recall: "hour"`` that cannot hold, so the unit field wins. 0 = recall
    as soon as the engine can. Whole number >= 0.
``limit_recall_duration``
    Seconds after the START of the first attempt within which recalls may start
    (0 = no limit). A recall that would start later is not made: the recipient is done.
``priority_recall``
    ``"normal"``: due recalls queue with first attempts by due time (so in practice
    after the first attempts that were due before them); ``"recall"``: due recalls go
    ahead of every first attempt. See :func:`dial_order_key`.

The seed gives types and meanings but no numeric limits, so none are invented
beyond "whole number, not negative". ``bool`` is refused where a number is expected.

:func:`next_attempt_at` is the whole rule: given the policy, the recipient's
attempts so far and ``now``, it returns when the next attempt is due, or ``None``
when the recipient is done (answered, an outcome not listed, recalls used up,
past the recall limit, or no calling window left before it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, TypeVar

from clarion.domain.voice.errors import RecallPolicyError, whole_number
from clarion.domain.voice.outcomes import RETRYABLE_BY_DEFAULT, Attempt, CallOutcome
from clarion.domain.voice.windows import WeeklyHours, next_open

__all__ = [
    "RecallPolicy",
    "RecallPolicyError",
    "RecallPriority",
    "RecallUnit",
    "dial_order_key",
    "next_attempt_at",
]


class RecallUnit(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"


class RecallPriority(StrEnum):
    NORMAL = "normal"
    RECALL = "recall"


_E = TypeVar("_E", bound=StrEnum)

_UNIT_LENGTH = {RecallUnit.MINUTE: timedelta(minutes=1), RecallUnit.HOUR: timedelta(hours=1)}

# Upper bounds: the seed gives none, but times must stay within a datetime (a year of
# waiting is already no recall) and recalls within reason.
BOUNDS = {
    "recall_times": 100,
    "schedule_recall_duration": 525_600,  # a year of minutes
    "limit_recall_duration": 366 * 86_400,  # a year, in seconds
}

AUTOCALL_FIELDS = (
    "recall_times",
    "recall_status",
    "schedule_recall",
    "schedule_recall_duration",
    "limit_recall_duration",
    "priority_recall",
)


def _outcomes(value: object) -> frozenset[CallOutcome]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise RecallPolicyError("recall_status", f"must be a list of call outcomes, got {value!r}")
    found: set[CallOutcome] = set()
    for item in value:
        try:
            outcome = CallOutcome(item)
        except ValueError:
            known = ", ".join(o.value for o in CallOutcome if not o.is_answered)
            raise RecallPolicyError(
                "recall_status", f"unknown call outcome {item!r}; known: {known}"
            ) from None
        if outcome.is_answered:
            raise RecallPolicyError(
                "recall_status", "'answered' cannot be recalled: the person was reached"
            )
        found.add(outcome)
    return frozenset(found)


def _enum(kind: type[_E], value: object, name: str) -> _E:
    for member in kind:
        if value == member.value:
            return member
    allowed = " or ".join(repr(m.value) for m in kind)
    raise RecallPolicyError(name, f"must be {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RecallPolicy:
    """A validated recall policy. Construct directly or with :meth:`from_autocall`."""

    recall_times: int = 0
    recall_status: frozenset[CallOutcome] = field(default=RETRYABLE_BY_DEFAULT)
    schedule_recall: RecallUnit = RecallUnit.MINUTE
    schedule_recall_duration: int = 1
    limit_recall_duration: int = 0
    priority_recall: RecallPriority = RecallPriority.NORMAL

    def __post_init__(self) -> None:
        for name, high in BOUNDS.items():
            value = whole_number(getattr(self, name), name, RecallPolicyError)
            if value > high:
                raise RecallPolicyError(name, f"must be at most {high:,}, got {value}")
        object.__setattr__(self, "recall_status", _outcomes(self.recall_status))
        object.__setattr__(
            self, "schedule_recall", _enum(RecallUnit, self.schedule_recall, "schedule_recall")
        )
        object.__setattr__(
            self, "priority_recall", _enum(RecallPriority, self.priority_recall, "priority_recall")
        )

    @classmethod
    def from_autocall(cls, data: Mapping[str, Any]) -> RecallPolicy:
        """Read the recall fields of an autocall campaign object; absent fields take defaults.

        Other keys of ``data`` (the rest of the campaign object) are ignored.
        """
        values = {name: data[name] for name in AUTOCALL_FIELDS if name in data}
        if values.get("recall_status") is None:
            values.pop("recall_status", None)
        return cls(**values)

    def to_autocall(self) -> dict[str, Any]:
        """The recall fields as autocall renders them (outcomes in the seed's order)."""
        return {
            "recall_times": self.recall_times,
            "limit_recall_duration": self.limit_recall_duration,
            "schedule_recall": self.schedule_recall.value,
            "schedule_recall_duration": self.schedule_recall_duration,
            "priority_recall": self.priority_recall.value,
            "recall_status": [o.value for o in CallOutcome if o in self.recall_status],
        }

    @property
    def delay(self) -> timedelta:
        """The wait between the end of an attempt and its recall."""
        return self.schedule_recall_duration * _UNIT_LENGTH[self.schedule_recall]

    @property
    def limit(self) -> timedelta | None:
        """How long after the first attempt recalls may start (``None`` = no limit)."""
        return timedelta(seconds=self.limit_recall_duration) if self.limit_recall_duration else None

    @property
    def max_attempts(self) -> int:
        return 1 + self.recall_times


def next_attempt_at(
    policy: RecallPolicy,
    attempts: Sequence[Attempt],
    *,
    now: datetime,
    hours: WeeklyHours | None = None,
    tz: tzinfo | None = None,
) -> datetime | None:
    """When the next call to this recipient may start, or ``None`` if it is done.

    ``attempts`` are the recipient's finished attempts, oldest first. With no attempt
    the first call is due ``now``. With ``hours`` and ``tz`` (the campaign's calling
    windows) the time is moved to the next open window; if that lands past the recall
    limit, or no window ever opens, the recipient is done. The result is never
    before ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if (hours is None) != (tz is None):
        raise ValueError("give both hours and tz, or neither")
    if attempts:
        last = attempts[-1]
        if any(a.outcome.is_answered for a in attempts):
            return None
        if last.outcome not in policy.recall_status:
            return None
        if len(attempts) > policy.recall_times:
            return None
        due = max(last.finished_at + policy.delay, now)
    else:
        due = now
    if hours is not None and tz is not None:
        opened = next_open(hours, tz, due)
        if opened is None:
            return None
        due = opened
    limit = policy.limit
    if attempts and limit is not None and due > attempts[0].started_at + limit:
        return None
    return due


def dial_order_key(
    policy: RecallPolicy, *, attempts_made: int, due_at: datetime
) -> tuple[int, datetime]:
    """Sort key for due recipients: smaller dials first.

    With ``priority_recall == "recall"`` every recall (``attempts_made >= 1``) sorts
    before every first attempt; otherwise only the due time counts. In SQL:
    ``ORDER BY (attempts = 0) ASC, due_at`` or ``ORDER BY due_at``.
    """
    first = 1 if policy.priority_recall is RecallPriority.RECALL and attempts_made == 0 else 0
    return (first, due_at)
