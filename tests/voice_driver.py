"""Run voice campaigns in tests on a virtual clock: hours of calling in a second.

``VirtualClock`` is at once the dispatcher's ``clock`` / ``monotonic`` and the
simulated carrier's timer: ``advance`` moves time and fires the carrier's due events
(answers, hang-ups, agents freed) in order. ``voice_rig`` wires a dispatcher and a
``SimVoice`` to one clock; ``drive`` alternates dispatcher passes and clock steps
until the campaign reaches one of the wanted statuses.

    rig = voice_rig(settings, db, start=datetime(2026, 3, 2, 9, tzinfo=UTC))
    ...create a voice campaign, add numbers, start it...
    status = await drive(rig, campaign_id, until={"DONE"})
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clarion.channels.sim_voice import SimVoice
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.store import campaigns as campaign_store
from clarion.store.db import Database


@dataclass
class VirtualClock:
    current: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    _events: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.current.timestamp()

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        when = self.current + timedelta(seconds=max(delay, 0.0))
        heapq.heappush(self._events, (when, next(self._order), callback))

    def advance(self, seconds: float) -> int:
        """Move time forward, firing every event due on the way (in time order, each
        at its own moment); returns how many fired."""
        end = self.current + timedelta(seconds=seconds)
        fired = 0
        while self._events and self._events[0][0] <= end:
            when, _, callback = heapq.heappop(self._events)
            self.current = max(self.current, when)
            callback()
            fired += 1
        self.current = end
        return fired

    def advance_to_next(self, limit: float) -> int:
        """Jump to the next event (at most ``limit`` seconds ahead) and fire what is
        due then."""
        if not self._events:
            return self.advance(limit)
        gap = (self._events[0][0] - self.current).total_seconds()
        return self.advance(min(max(gap, 0.0), limit))

    @property
    def pending(self) -> int:
        return len(self._events)


@dataclass
class VoiceRig:
    clock: VirtualClock
    dispatcher: Dispatcher
    carrier: SimVoice
    ticks: int = 0


def voice_rig(
    settings: Settings,
    db: Database,
    *,
    start: datetime | None = None,
    answer: float | None = None,
    channel_name: str = "sim_voice",
) -> VoiceRig:
    clock = VirtualClock(start) if start is not None else VirtualClock()
    # Virtual time moves in big steps: leases (and the claim timeout that must exceed
    # them) are sized so that renewing them is not what every pass does.
    settings = settings.model_copy(
        update={"housekeeping_interval": 10.0, "lease_seconds": 3600.0, "claim_timeout": 7200.0}
    )
    dispatcher = Dispatcher(db=db, settings=settings, clock=clock.now, monotonic=clock.monotonic)
    carrier = SimVoice(settings, dispatcher.report_sink, timer=clock, answer=answer)
    dispatcher.channels[channel_name] = carrier
    return VoiceRig(clock, dispatcher, carrier)


async def status_of(db: Database, campaign_id: int) -> str:
    async with db.read() as conn:
        value = await campaign_store.status(conn, campaign_id)
    assert value is not None
    return value


async def drive(
    rig: VoiceRig,
    campaign_id: int,
    *,
    until: Collection[str] = ("DONE",),
    step: float = 5.0,
    idle_step: float = 300.0,
    max_seconds: float = 7 * 24 * 3600,
    on_step: Callable[[VoiceRig], None] | None = None,
) -> str:
    """Dispatcher passes and ``step``-second clock moves until the campaign's status
    is in ``until``; raises if that takes more than ``max_seconds`` of virtual time.
    While calls are in progress time moves by ``step`` seconds (every carrier event on
    the way fires); with none, by ``idle_step`` (recalls and windows wait that long at
    most, which only delays them)."""
    waited = 0.0
    while True:
        busy, _ = await rig.dispatcher.tick()
        rig.ticks += 1
        status = await status_of(rig.dispatcher.db, campaign_id)
        if status in until:
            return status
        if status in ("DONE", "STOPPED", "DECLINED"):
            raise AssertionError(f"campaign {campaign_id} ended {status}, not {sorted(until)}")
        if waited > max_seconds:
            raise AssertionError(f"campaign {campaign_id} still {status} after {waited:.0f} s")
        if busy:
            continue
        before = rig.clock.now()
        if rig.clock.pending:
            rig.clock.advance(step)
        else:
            rig.clock.advance(idle_step)
        waited += (rig.clock.now() - before).total_seconds()
        if on_step is not None:
            on_step(rig)
