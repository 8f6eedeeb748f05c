"""Call outcomes, with autocall v3's names, and the record of one call attempt.

Outcomes (the strings of autocall's ``recall_status``; iSales and wolkvox results
are mapped onto these by their facades):

==================  =====================================================  ================
outcome             meaning                                                 by default
==================  =====================================================  ================
``answered``        a person (or the IVR flow) took the call                final: success
``busy``            the line was busy                                       retried
``failed``          the call could not be set up (network/carrier error)    retried
``no-answered``     it rang until ``call_timeout`` with no answer           retried
``not-available``   switched off / out of coverage / temporarily absent     retried
``voicemail``       an answering machine or voicemail took it               retried
``congestion``      no circuit / trunk congestion on the way                retried
``invalid-number``  the number does not exist                               final: permanent
``phone-block``     the callee or the operator blocks our caller id         final: permanent
==================  =====================================================  ================

"By default" is :data:`RETRYABLE_BY_DEFAULT`, used when a policy does not say.
A policy may list the permanent outcomes too (the autocall seed's sample lists all
eight non-answered outcomes); ``answered`` can never be recalled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "PERMANENT",
    "RETRYABLE_BY_DEFAULT",
    "Attempt",
    "CallOutcome",
]


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWERED = "no-answered"
    NOT_AVAILABLE = "not-available"
    VOICEMAIL = "voicemail"
    INVALID_NUMBER = "invalid-number"
    PHONE_BLOCK = "phone-block"
    CONGESTION = "congestion"

    @property
    def is_answered(self) -> bool:
        return self is CallOutcome.ANSWERED


RETRYABLE_BY_DEFAULT: frozenset[CallOutcome] = frozenset(
    {
        CallOutcome.BUSY,
        CallOutcome.FAILED,
        CallOutcome.NO_ANSWERED,
        CallOutcome.NOT_AVAILABLE,
        CallOutcome.VOICEMAIL,
        CallOutcome.CONGESTION,
    }
)
"""Outcomes worth another try: the callee or the path may be different later."""

PERMANENT: frozenset[CallOutcome] = frozenset({CallOutcome.INVALID_NUMBER, CallOutcome.PHONE_BLOCK})
"""Outcomes a retry will not change; final unless a policy explicitly lists them."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call attempt to a recipient, as the engine records it (times aware, UTC).

    ``ended_at`` is when the outcome became known (hang-up, ring timeout, rejection);
    recalls are counted from it. ``None`` means "use ``started_at``".
    """

    started_at: datetime
    outcome: CallOutcome
    ended_at: datetime | None = None

    @property
    def finished_at(self) -> datetime:
        return self.ended_at if self.ended_at is not None else self.started_at
