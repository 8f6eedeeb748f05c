"""``sim_voice``: a simulated voice carrier (a PBX with trunks, callees and agents).

Behind the same Channel protocol as the SMS adapters: ``submit`` places calls (one
:class:`Submission` with its :class:`CallRequest` per call attempt), each ended call
comes back as a :class:`DeliveryReport` carrying a :class:`CallRecord` (outcome and
CDR), and ``lookup`` answers from the record of every call placed, so it is
authoritative (a call it never received is placed again; one it has is never placed
twice).

The callee model is the one of the pacing simulator (domain/voice/simulation.py,
``Callees``): a person answers with probability ``sim_voice_answer`` (ring 3-18 s),
else busy (15 %), voicemail (10 %), failed (3 %), not available (5 %), and the rest
ring until the campaign's ``call_timeout`` (no-answered). About 1 % of numbers are
fixed as ``invalid-number`` (the same number always is). Every attempt's fate is
drawn from a generator seeded by (seed, reference), so a run is reproducible
whatever the timing.

Talk: an autocall plays its template for 15-60 s; an agent call lasts the agent
pool's talk time (log-normal, mean 90 s), then the agent wraps up (5-20 s). A call is
cut at ``max_seconds`` (the minutes its hold paid for).

Agents (``dialer`` preview or predictive): each campaign has a pool of ``agents``.
Preview reserves a free agent when the call is placed (no agent free: the call is
refused TEMPORARY), so nothing is abandoned. Predictive bridges a live answer to a
free agent; with none free, the caller waits up to ``ABANDON_AFTER`` (2 s) for one
and is then abandoned (outcome ``answered``, ``abandoned``: the engine plays the
mandated message and hangs up). ``agent_state`` tells the dialer what a real ACD
would: free agents, those finishing wrap-up within the grace, callers waiting, the
ages of calls still ringing.

Concurrency: a campaign never has more than its ``concurrent_call`` calls in
progress here; a submit beyond it is answered THROTTLED (the trunk is full).

Time comes from a :class:`Timer` (``now`` and ``later``): the event loop and the wall
clock by default, a virtual clock in tests (tests/voice_driver.py) so hours of
calling run in a second. ``sim_voice_speed`` divides every simulated duration (60: a
minute of ringing and talk takes a second) for demos.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from clarion.channels import base
from clarion.channels.base import (
    AgentState,
    CallRecord,
    CallRequest,
    DeliveryReport,
    Outcome,
    ReportSink,
    Submission,
    SubmitResult,
)
from clarion.channels.simulated import seeded
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.domain.lifecycle import MessageStatus
from clarion.domain.voice.outcomes import CallOutcome
from clarion.domain.voice.simulation import AgentPool, Callees, Uniform

ABANDON_AFTER = 2.0  # s a live answer waits for an agent before it is abandoned
INVALID_SHARE = 0.01
PLAYBACK = Uniform(15.0, 60.0)  # an autocall's template, played to whoever answers
SEED = 7


class Timer(Protocol):
    def now(self) -> datetime: ...

    def later(self, delay: float, callback: Callable[[], None]) -> None: ...


class LoopTimer:
    """The wall clock and the running event loop's timers."""

    def now(self) -> datetime:
        return utcnow()

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(max(delay, 0.0), callback)


@dataclass(slots=True)
class _Agent:
    name: str
    busy: bool = False
    free_at: float = 0.0  # when wrap-up ends (timer seconds), while busy


@dataclass(slots=True)
class _Call:
    reference: str
    message_id: int
    attempt: int
    request: CallRequest
    started: datetime
    answered: datetime | None = None
    agent: _Agent | None = None
    ringing: bool = True


@dataclass(slots=True)
class _Campaign:
    agents: list[_Agent] = field(default_factory=list)
    waiting: collections.deque[_Call] = field(default_factory=collections.deque)
    in_progress: int = 0
    ringing: dict[str, _Call] = field(default_factory=dict)


class SimVoice:
    name = "sim_voice"
    authoritative_lookup = True

    def __init__(
        self,
        settings: Settings,
        sink: ReportSink,
        *,
        timer: Timer | None = None,
        answer: float | None = None,
        speed: float | None = None,
        seed: int = SEED,
    ) -> None:
        self.sink = sink
        self.timer: Timer = timer or LoopTimer()
        self.callees_answer = settings.sim_voice_answer if answer is None else answer
        self.speed = max(settings.sim_voice_speed if speed is None else speed, 1e-6)
        self.seed = seed
        self.pool = AgentPool(count=1)
        # Every call placed, by reference (what ``lookup`` answers from), and how many
        # times each reference was submitted (tests count duplicates from it).
        self.placed: dict[str, str] = {}
        self.submissions: collections.Counter[str] = collections.Counter()
        self.records: list[CallRecord] = []
        self._campaigns: dict[int, _Campaign] = collections.defaultdict(_Campaign)
        self._ids = itertools.count(1)
        self._t0 = self.timer.now()

    # --- time ------------------------------------------------------------------------

    def _seconds(self) -> float:
        return (self.timer.now() - self._t0).total_seconds()

    def _after(self, seconds: float, callback: Callable[[], None]) -> None:
        self.timer.later(seconds / self.speed, callback)

    def _at(self, seconds_from_now: float) -> datetime:
        return self.timer.now() + timedelta(seconds=seconds_from_now / self.speed)

    # --- the Channel protocol --------------------------------------------------------

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        for sub in batch:
            self.submissions[sub.reference] += 1
            if sub.call is None:
                results.append(SubmitResult(sub.reference, Outcome.PERMANENT, error="not-a-call"))
                continue
            if sub.reference in self.placed:  # a resubmission: already placed once
                results.append(
                    SubmitResult(sub.reference, Outcome.ACCEPTED, self.placed[sub.reference])
                )
                continue
            results.append(self._place(sub, sub.call))
        return results

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        return {
            ref: SubmitResult(ref, Outcome.ACCEPTED, self.placed[ref])
            for ref in references
            if ref in self.placed
        }

    async def close(self) -> None:
        return None

    # --- agents ----------------------------------------------------------------------

    def _pool(self, request: CallRequest) -> _Campaign:
        campaign = self._campaigns[request.campaign_id]
        while len(campaign.agents) < request.agents:
            campaign.agents.append(_Agent(f"agent-{len(campaign.agents) + 1}"))
        return campaign

    def agent_state(self, campaign_id: int, agents: int) -> AgentState:
        """The pool of an agent campaign as its dialer sees it now."""
        campaign = self._pool(CallRequest(campaign_id, 1, 1, agents=agents))
        now = self._seconds()
        free = sum(1 for a in campaign.agents if not a.busy)
        soon = sum(
            1
            for a in campaign.agents
            if a.busy and a.free_at and a.free_at - now <= ABANDON_AFTER / self.speed
        )
        ringing = tuple(
            (self.timer.now() - c.started).total_seconds() * self.speed
            for c in campaign.ringing.values()
        )
        return AgentState(free=free, soon_free=soon, waiting=len(campaign.waiting), ringing=ringing)

    # --- calls -----------------------------------------------------------------------

    def _callees(self, request: CallRequest) -> Callees:
        """The callee model at this answer rate: the other outcomes keep the default
        model's proportions over what is not answered."""
        base = Callees()
        scale = (1 - self.callees_answer) / (1 - base.answer)
        return Callees(
            answer=self.callees_answer,
            busy=base.busy * scale,
            voicemail=base.voicemail * scale,
            failed=base.failed * scale,
            not_available=base.not_available * scale,
            call_timeout=float(request.call_timeout),
        )

    def _place(self, sub: Submission, request: CallRequest) -> SubmitResult:
        campaign = self._pool(request)
        if request.concurrent_call and campaign.in_progress >= request.concurrent_call:
            return SubmitResult(sub.reference, Outcome.THROTTLED, error="trunk-full")
        agent: _Agent | None = None
        if request.dialer == "preview":
            agent = next((a for a in campaign.agents if not a.busy), None)
            if agent is None:
                return SubmitResult(sub.reference, Outcome.TEMPORARY, error="no-agent")
            agent.busy, agent.free_at = True, 0.0
        message_id, _, attempt = sub.reference.rpartition("-")
        call = _Call(
            reference=sub.reference,
            message_id=int(message_id),
            attempt=int(attempt),
            request=request,
            started=self.timer.now(),
            agent=agent,
        )
        call_id = f"sv-{next(self._ids)}"
        self.placed[sub.reference] = call_id
        campaign.in_progress += 1
        campaign.ringing[sub.reference] = call
        rng = seeded(self.seed, sub.reference)
        if seeded(self.seed, f"invalid:{sub.phone}").random() < INVALID_SHARE:
            outcome, ring = CallOutcome.INVALID_NUMBER, 1.0
        else:
            outcome, ring = self._callees(request).draw(rng)
        if outcome is CallOutcome.ANSWERED:
            talk = PLAYBACK.sample(rng) if request.dialer == "auto" else self.pool.talk.sample(rng)
            wrap = self.pool.wrap.sample(rng)
            self._after(ring, lambda: self._answer(call, talk, wrap))
        else:
            self._after(ring, lambda: self._end(call, outcome.value, cause=outcome.value))
        return SubmitResult(sub.reference, Outcome.ACCEPTED, call_id)

    def _answer(self, call: _Call, talk: float, wrap: float) -> None:
        campaign = self._campaigns[call.request.campaign_id]
        campaign.ringing.pop(call.reference, None)
        call.ringing = False
        call.answered = self.timer.now()
        talk = min(talk, float(call.request.max_seconds))
        if call.request.dialer == "auto" or call.agent is not None:
            self._talk(call, talk, wrap)
            return
        agent = next((a for a in campaign.agents if not a.busy), None)
        if agent is not None:
            agent.busy, agent.free_at = True, 0.0
            call.agent = agent
            self._talk(call, talk, wrap)
            return
        campaign.waiting.append(call)
        self._after(ABANDON_AFTER, lambda: self._give_up(call))

    def _give_up(self, call: _Call) -> None:
        campaign = self._campaigns[call.request.campaign_id]
        if call in campaign.waiting:
            campaign.waiting.remove(call)
            self._end(call, CallOutcome.ANSWERED.value, cause="abandoned", abandoned=True)

    def _talk(self, call: _Call, talk: float, wrap: float) -> None:
        def hang_up() -> None:
            agent = call.agent
            self._end(call, CallOutcome.ANSWERED.value, cause="normal-clearing")
            if agent is not None:
                agent.free_at = self._seconds() + wrap / self.speed
                self._after(wrap, lambda: self._agent_free(call.request, agent))

        self._after(talk, hang_up)

    def _agent_free(self, request: CallRequest, agent: _Agent) -> None:
        campaign = self._campaigns[request.campaign_id]
        agent.busy, agent.free_at = False, 0.0
        if campaign.waiting:  # the longest-waiting caller gets the agent
            call = campaign.waiting.popleft()
            agent.busy = True
            call.agent = agent
            rng = seeded(self.seed, f"talk:{call.reference}")
            talk = min(self.pool.talk.sample(rng), float(call.request.max_seconds))
            self._talk(call, talk, self.pool.wrap.sample(rng))

    def _end(self, call: _Call, outcome: str, *, cause: str, abandoned: bool = False) -> None:
        campaign = self._campaigns[call.request.campaign_id]
        campaign.ringing.pop(call.reference, None)
        campaign.in_progress -= 1
        if call.agent is not None and outcome != CallOutcome.ANSWERED.value:
            call.agent.busy = False  # a preview agent whose call was not answered
        record = CallRecord(
            message_id=call.message_id,
            attempt=call.attempt,
            outcome=outcome,
            started_at=call.started,
            answered_at=call.answered,
            ended_at=self.timer.now(),
            hangup_cause=cause,
            agent=None if call.agent is None else call.agent.name,
            abandoned=abandoned,
        )
        self.records.append(record)
        status = (
            MessageStatus.DELIVERED
            if outcome == CallOutcome.ANSWERED.value and not abandoned
            else MessageStatus.UNDELIVERED
        )
        self.sink(
            [
                DeliveryReport(
                    status=status,
                    channel_ref=self.placed.get(call.reference),
                    message_id=call.message_id,
                    error=None if status is MessageStatus.DELIVERED else outcome,
                    call=record,
                )
            ]
        )


@base.register("sim_voice")
def _factory(settings: Settings, sink: ReportSink) -> SimVoice:
    return SimVoice(settings, sink)
