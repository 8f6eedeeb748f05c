"""The Channel protocol, its value types, and the registry of adapters by name.

A channel takes a batch of submissions and answers, per submission, with one of
four outcomes (foreign error codes are mapped to these inside each adapter):

* ACCEPTED  - the carrier took the message; ``channel_ref`` is its id there.
* TEMPORARY - not taken, try again later (the message goes back to NEW, refunded).
* THROTTLED - not taken because we are too fast (back to NEW, campaign backs off).
* PERMANENT - refused for good (message REJECTED, refunded).

Delivery reports arrive later and asynchronously: the adapter hands them to the
``ReportSink`` it was built with. ``lookup`` lets the dispatcher reconcile a message
whose submit outcome was lost in a crash: the carrier is asked about our reference
instead of resending blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from clarion.config import Settings
from clarion.domain.lifecycle import MessageStatus


class Outcome(StrEnum):
    ACCEPTED = "ACCEPTED"
    TEMPORARY = "TEMPORARY"
    THROTTLED = "THROTTLED"
    PERMANENT = "PERMANENT"


@dataclass(frozen=True, slots=True)
class Submission:
    message_id: int
    reference: str  # "<message id>-<attempt>": unique per attempt, our idempotency key
    phone: str
    sender: str
    text: str
    segments: int
    validity_minutes: int | None = None
    mclass: int | None = None
    # Rich content for channels that carry more than text (RCS: BSG's ``options``
    # object, validated by domain/rcs.py); None for plain SMS.
    content: Mapping[str, Any] | None = None
    # The account the message belongs to (routing per account).
    account_id: int | None = None
    # A voice call: how to place it (None for messages).
    call: CallRequest | None = None


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What a voice channel needs beyond the number: ``text`` of the submission is
    the template (TTS text or audio reference), ``sender`` the caller id."""

    campaign_id: int
    call_timeout: int  # ring time, s
    max_seconds: int  # the call is cut after this long (its hold covers no more)
    kind: str = "autocall_audio"  # type_autocall
    dialer: str = "auto"  # auto | preview | predictive: bridged to the agent pool?
    agents: int = 0  # size of the campaign's agent pool (agent campaigns)
    concurrent_call: int = 0  # the campaign's limit, for a trunk that enforces it too


@dataclass(frozen=True, slots=True)
class SubmitResult:
    reference: str
    outcome: Outcome
    channel_ref: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The end of one call attempt: its outcome (a ``CallOutcome`` value) and CDR."""

    message_id: int
    attempt: int
    outcome: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    hangup_cause: str = ""
    agent: str | None = None
    abandoned: bool = False  # answered by a person, no agent took it within the grace

    @property
    def billsec(self) -> int:
        """Whole seconds from answer to end (0 if not answered), as PBXs bill."""
        if self.answered_at is None:
            return 0
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))

    @property
    def duration(self) -> int:
        return max(0, round((self.ended_at - self.started_at).total_seconds()))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    status: MessageStatus
    channel_ref: str | None = None
    message_id: int | None = None
    error: str | None = None
    # A voice channel reports each ended call attempt with its CDR (``status`` is
    # then only indicative: the call engine decides the message's status).
    call: CallRecord | None = None


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent campaign's pool as the dialer sees it (pacing input)."""

    free: int = 0
    soon_free: int = 0  # in wrap-up, expected free within the abandon grace
    waiting: int = 0  # answered calls waiting for an agent
    ringing: tuple[float, ...] = ()  # ages (s) of the calls still ringing


ReportSink = Callable[[Sequence[DeliveryReport]], None]


class Channel(Protocol):
    name: str

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        """Hand a batch to the carrier; one result per submission, same order."""
        ...

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        """What the carrier knows of these references (absent = never received, for
        certain only when the adapter sets ``authoritative_lookup = True``; otherwise
        absent may just mean forgotten, and the message becomes UNKNOWN)."""
        ...

    async def close(self) -> None: ...


ChannelFactory = Callable[[Settings, ReportSink], Channel]

_REGISTRY: dict[str, ChannelFactory] = {}


class UnknownChannel(KeyError):
    pass


def register(name: str) -> Callable[[ChannelFactory], ChannelFactory]:
    def decorator(factory: ChannelFactory) -> ChannelFactory:
        _REGISTRY[name] = factory
        return factory

    return decorator


def names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def build(name: str, settings: Settings, sink: ReportSink) -> Channel:
    _load_builtin()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownChannel(f"no channel named {name!r}; known: {', '.join(names())}") from None
    return factory(settings, sink)


def _load_builtin() -> None:
    # Adapters register themselves on import.
    import clarion.channels.smpp  # noqa: F401
    from clarion.channels import fake, router, sim_rcs, sim_sms, sim_voice  # noqa: F401
