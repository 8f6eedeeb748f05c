"""A discrete-event simulation of a voice campaign: dialer, agent pool, callees.

Pure and deterministic: one seeded ``random.Random``, a virtual clock (a heap of
timed events, no sleeping, no asyncio), no I/O. The same :class:`SimulationConfig`
always gives the same :class:`SimulationResult`. It exists to measure pacing
(bench/predictive.py) and to test it for behaviour.

Model
-----
* Agents (:class:`AgentPool`): ``count`` agents logged in for the whole run. A
  connected call takes a talk time, then a wrap-up time, both drawn from
  distributions; then the agent is free.
* Callees (:class:`Callees`): each attempt is answered by a person with probability
  ``answer``; otherwise busy, voicemail (an answering machine, detected and hung up:
  perfect AMD is assumed), failed, not-available, or no answer until
  ``call_timeout``. Each outcome has its own ring-time distribution.
* Recall: every attempt that is not answered goes through
  :func:`~.recall.next_attempt_at` with the configured :class:`~.recall.RecallPolicy`;
  due recalls queue by :func:`~.recall.dial_order_key`.
* Preview mode: a free agent reserves the next record, reads it (``preview`` time),
  and the call is placed for that agent, who waits through the ringing; a live
  answer is talked to at once, anything else frees the agent for the next record.
* Predictive mode: after every event the :class:`~.pacing.PredictivePacer` says how
  many calls to place; a live answer is connected to a free agent, or waits up to
  ``abandon_after`` seconds for one, and is then ABANDONED. The pacer is fed only
  what a real dialer sees: outcomes as they resolve, idle and wrap-up agents, the
  observed mean wrap-up (never the drawn durations themselves).

Every number ends in exactly one final state: ``connected`` (a person talked to an
agent), ``abandoned`` (a person answered and no agent came: final, since regulators
forbid calling them again soon without an agent reserved), or the outcome of its last
attempt when no recall is left (``busy``, ``no-answered``, ...).

Occupancy is (talk + wrap-up) / (agents x run time), run time being from the first
call to the end of the last wrap-up.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum

from clarion.domain.voice.errors import PacingConfigError
from clarion.domain.voice.outcomes import Attempt, CallOutcome
from clarion.domain.voice.pacing import PacingConfig, PredictivePacer, agents_soon_free
from clarion.domain.voice.recall import RecallPolicy, dial_order_key, next_attempt_at

__all__ = [
    "ABANDONED",
    "CONNECTED",
    "AgentPool",
    "Callees",
    "Fixed",
    "LogNormal",
    "Mode",
    "SimulationConfig",
    "SimulationResult",
    "Uniform",
    "simulate",
]

CONNECTED = "connected"
ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class Fixed:
    value: float

    def sample(self, rng: random.Random) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal with the given mean and standard deviation (seconds), floored."""

    mean: float
    sd: float
    minimum: float = 0.0

    def sample(self, rng: random.Random) -> float:
        sigma2 = math.log(1 + (self.sd / self.mean) ** 2)
        mu = math.log(self.mean) - sigma2 / 2
        return max(self.minimum, rng.lognormvariate(mu, math.sqrt(sigma2)))


Distribution = Fixed | Uniform | LogNormal


class Mode(StrEnum):
    PREVIEW = "preview"
    PREDICTIVE = "predictive"


@dataclass(frozen=True, slots=True)
class AgentPool:
    count: int = 50
    talk: Distribution = LogNormal(90.0, 60.0, minimum=10.0)
    wrap: Distribution = Uniform(5.0, 20.0)
    preview: Distribution = Fixed(5.0)  # reading the record before a preview call

    def __post_init__(self) -> None:
        if self.count < 1:
            raise PacingConfigError("agents.count", f"must be at least 1, got {self.count}")


@dataclass(frozen=True, slots=True)
class Callees:
    """Per-attempt outcome shares; what is left over rings out (``no-answered``)."""

    answer: float = 0.30
    busy: float = 0.15
    voicemail: float = 0.10
    failed: float = 0.03
    not_available: float = 0.05
    call_timeout: float = 30.0
    answer_ring: Distribution = Uniform(3.0, 18.0)
    busy_ring: Distribution = Uniform(1.0, 4.0)
    voicemail_ring: Distribution = Uniform(15.0, 25.0)  # ring + machine detection
    failed_ring: Distribution = Uniform(0.5, 3.0)
    not_available_ring: Distribution = Uniform(2.0, 6.0)

    def __post_init__(self) -> None:
        shares = {
            "answer": self.answer,
            "busy": self.busy,
            "voicemail": self.voicemail,
            "failed": self.failed,
            "not_available": self.not_available,
        }
        for name, share in shares.items():
            if not 0 <= share <= 1:
                raise PacingConfigError(f"callees.{name}", f"must be from 0 to 1, got {share}")
        if sum(shares.values()) > 1 + 1e-9:
            raise PacingConfigError("callees", "outcome shares add up to more than 1")
        if self.call_timeout <= 0:
            raise PacingConfigError("callees.call_timeout", "must be positive")

    def draw(self, rng: random.Random) -> tuple[CallOutcome, float]:
        """One attempt's outcome and how long after dialling it is known."""
        u = rng.random()
        table = (
            (self.answer, CallOutcome.ANSWERED, self.answer_ring),
            (self.busy, CallOutcome.BUSY, self.busy_ring),
            (self.voicemail, CallOutcome.VOICEMAIL, self.voicemail_ring),
            (self.failed, CallOutcome.FAILED, self.failed_ring),
            (self.not_available, CallOutcome.NOT_AVAILABLE, self.not_available_ring),
        )
        for share, outcome, ring in table:
            if u < share:
                return outcome, min(ring.sample(rng), self.call_timeout)
            u -= share
        return CallOutcome.NO_ANSWERED, self.call_timeout


DEFAULT_RECALL = RecallPolicy(
    recall_times=2,
    recall_status=frozenset(
        {
            CallOutcome.BUSY,
            CallOutcome.NO_ANSWERED,
            CallOutcome.VOICEMAIL,
            CallOutcome.NOT_AVAILABLE,
            CallOutcome.FAILED,
        }
    ),
    schedule_recall_duration=10,
)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    mode: Mode
    numbers: int
    seed: int = 0
    agents: AgentPool = field(default_factory=AgentPool)
    callees: Callees = field(default_factory=Callees)
    recall: RecallPolicy = DEFAULT_RECALL
    pacing: PacingConfig = field(default_factory=PacingConfig)
    abandon_after: float = 2.0  # seconds a live answer may wait for an agent
    max_ringing: int | None = None  # trunk / concurrent_call cap on ringing calls
    start: datetime = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # the virtual clock's origin
    min_window_answers: int = 100  # rolling windows with fewer live answers are not rated

    def __post_init__(self) -> None:
        if self.numbers < 0:
            raise PacingConfigError("numbers", f"cannot be negative, got {self.numbers}")
        if self.abandon_after < 0:
            raise PacingConfigError("abandon_after", "cannot be negative")


@dataclass(frozen=True, slots=True)
class SimulationResult:
    mode: Mode
    agents: int
    numbers: int
    seconds: float  # virtual run time
    attempts: int
    live_answers: int
    connected: int
    abandoned: int
    talk_seconds: float
    wrap_seconds: float
    final_states: tuple[str, ...]  # per number, in input order
    attempts_per_number: tuple[int, ...]
    worst_window_abandon_rate: float  # over rolling windows with enough live answers
    max_ringing_seen: int

    @property
    def occupancy(self) -> float:
        if self.seconds <= 0:
            return 0.0
        return (self.talk_seconds + self.wrap_seconds) / (self.agents * self.seconds)

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live_answers if self.live_answers else 0.0

    @property
    def calls_per_hour(self) -> float:
        return self.attempts * 3600 / self.seconds if self.seconds > 0 else 0.0

    @property
    def connected_per_hour(self) -> float:
        return self.connected * 3600 / self.seconds if self.seconds > 0 else 0.0

    def final_counts(self) -> Mapping[str, int]:
        return Counter(self.final_states)


class _Event(IntEnum):
    RESOLVED = 0  # a call's outcome is known
    TALK_END = 1
    WRAP_END = 2
    GIVE_UP = 3  # a waiting live answer is abandoned if still waiting
    RECALL_DUE = 4
    PREVIEWED = 5  # a preview agent has read the record: dial


@dataclass(slots=True)
class _Call:
    number: int
    outcome: CallOutcome
    placed_at: float
    agent: int  # preview: the agent waiting on it; predictive: -1


class _Run:
    def __init__(self, config: SimulationConfig) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.now = 0.0
        self.seq = 0
        self.events: list[tuple[float, int, _Event, int]] = []
        n = config.numbers
        self.history: list[list[Attempt]] = [[] for _ in range(n)]
        self.final: list[str | None] = [None] * n
        first = dial_order_key(config.recall, attempts_made=0, due_at=config.start)
        self.ready: list[tuple[tuple[int, datetime], int, int]] = [(first, i, i) for i in range(n)]
        heapq.heapify(self.ready)
        agents = config.agents.count
        self.idle: list[int] = list(range(agents - 1, -1, -1))
        self.wrap_started = [0.0] * agents
        self.in_wrap: set[int] = set()
        self.previewing: dict[int, int] = {}  # agent -> number reserved
        self.calls: dict[int, _Call] = {}
        self.waiting: OrderedDict[int, None] = OrderedDict()  # live answers awaiting an agent
        self.ringing_ids: set[int] = set()  # calls placed and not yet resolved
        pacing = config.pacing
        if pacing.call_timeout is None:  # the engine knows the campaign's call_timeout
            pacing = replace(pacing, call_timeout=config.callees.call_timeout)
        self.pacer = PredictivePacer(pacing)
        self.attempts = 0
        self.live = 0
        self.connected = 0
        self.abandoned = 0
        self.talk = 0.0
        self.wrap = 0.0
        self.end = 0.0
        self.lives: list[tuple[float, bool]] = []
        self.wrap_sum = 0.0
        self.wrap_count = 0
        self.max_ringing_seen = 0

    # --- plumbing ---------------------------------------------------------------

    def at(self, when: float, kind: _Event, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, ref))

    def moment(self, seconds: float) -> datetime:
        return self.c.start + timedelta(seconds=seconds)

    def run(self) -> SimulationResult:
        self.dispatch()
        while self.events:
            self.now, _, kind, ref = heapq.heappop(self.events)
            self.end = max(self.end, self.now)
            self.handle(kind, ref)
            self.dispatch()
        unfinished = [i for i, state in enumerate(self.final) if state is None]
        if unfinished:  # pragma: no cover - would be a simulator bug
            raise AssertionError(f"{len(unfinished)} numbers never reached a final state")
        return SimulationResult(
            mode=self.c.mode,
            agents=self.c.agents.count,
            numbers=self.c.numbers,
            seconds=self.end,
            attempts=self.attempts,
            live_answers=self.live,
            connected=self.connected,
            abandoned=self.abandoned,
            talk_seconds=self.talk,
            wrap_seconds=self.wrap,
            final_states=tuple(s for s in self.final if s is not None),
            attempts_per_number=tuple(len(h) for h in self.history),
            worst_window_abandon_rate=self.worst_window(),
            max_ringing_seen=self.max_ringing_seen,
        )

    # --- events -----------------------------------------------------------------

    def handle(self, kind: _Event, ref: int) -> None:
        if kind is _Event.RESOLVED:
            self.resolved(ref)
        elif kind is _Event.TALK_END:
            self.wrap_started[ref] = self.now
            self.in_wrap.add(ref)
            duration = self.c.agents.wrap.sample(self.rng)
            self.wrap += duration
            self.wrap_sum += duration
            self.wrap_count += 1
            self.at(self.now + duration, _Event.WRAP_END, ref)
        elif kind is _Event.WRAP_END:
            self.in_wrap.discard(ref)
            self.free(ref)
        elif kind is _Event.GIVE_UP:
            if ref in self.waiting:
                del self.waiting[ref]
                call = self.calls.pop(ref)
                self.abandoned += 1
                self.final[call.number] = ABANDONED
                self.lives.append((self.now, True))
                self.pacer.record_live(self.now, abandoned=True)
        elif kind is _Event.RECALL_DUE:
            key = dial_order_key(
                self.c.recall,
                attempts_made=len(self.history[ref]),
                due_at=self.moment(self.now),
            )
            heapq.heappush(self.ready, (key, self.seq, ref))
        elif kind is _Event.PREVIEWED:
            number = self.previewing.pop(ref)
            self.place(number, agent=ref)

    def resolved(self, call_id: int) -> None:
        call = self.calls[call_id]
        self.ringing_ids.discard(call_id)
        live = call.outcome is CallOutcome.ANSWERED
        self.pacer.record_attempt(self.now, live=live, ring_seconds=self.now - call.placed_at)
        self.history[call.number].append(
            Attempt(self.moment(call.placed_at), call.outcome, self.moment(self.now))
        )
        if live:
            self.live += 1
            agent = call.agent
            if agent < 0 and self.idle:
                agent = self.idle.pop()
            if agent >= 0:
                del self.calls[call_id]
                self.connect(agent, call.number)
            else:
                self.waiting[call_id] = None
                self.at(self.now + self.c.abandon_after, _Event.GIVE_UP, call_id)
            return
        del self.calls[call_id]
        due = next_attempt_at(self.c.recall, self.history[call.number], now=self.moment(self.now))
        if due is None:
            self.final[call.number] = call.outcome.value
        else:
            self.at((due - self.c.start).total_seconds(), _Event.RECALL_DUE, call.number)
        if call.agent >= 0:
            self.free(call.agent)

    def connect(self, agent: int, number: int) -> None:
        self.connected += 1
        self.final[number] = CONNECTED
        self.lives.append((self.now, False))
        self.pacer.record_live(self.now, abandoned=False)
        duration = self.c.agents.talk.sample(self.rng)
        self.talk += duration
        self.at(self.now + duration, _Event.TALK_END, agent)

    def free(self, agent: int) -> None:
        if self.waiting:
            call_id, _ = self.waiting.popitem(last=False)
            call = self.calls.pop(call_id)
            self.connect(agent, call.number)
            return
        self.idle.append(agent)

    def place(self, number: int, *, agent: int) -> None:
        outcome, ring = self.c.callees.draw(self.rng)
        self.seq += 1
        call_id = self.seq
        self.calls[call_id] = _Call(number, outcome, self.now, agent)
        self.attempts += 1
        self.ringing_ids.add(call_id)
        self.max_ringing_seen = max(self.max_ringing_seen, len(self.ringing_ids))
        self.at(self.now + ring, _Event.RESOLVED, call_id)

    # --- the dialer ---------------------------------------------------------------

    def dispatch(self) -> None:
        if not self.ready:
            return
        if self.c.mode is Mode.PREVIEW:
            while self.idle and self.ready:
                agent = self.idle.pop()
                _, _, number = heapq.heappop(self.ready)
                self.previewing[agent] = number
                self.at(self.now + self.c.agents.preview.sample(self.rng), _Event.PREVIEWED, agent)
            return
        soon = 0
        if self.in_wrap and self.wrap_count:
            soon = agents_soon_free(
                (self.now - self.wrap_started[a] for a in self.in_wrap),
                mean_wrap=self.wrap_sum / self.wrap_count,
                horizon=self.c.abandon_after,
            )
        calls = self.pacer.calls_to_place(
            self.now,
            free_agents=len(self.idle),
            ringing=[self.now - call.placed_at for call in self.ringing_calls()],
            agents_soon_free=soon,
            waiting=len(self.waiting),
            max_ringing=self.c.max_ringing,
        )
        for _ in range(min(calls, len(self.ready))):
            _, _, number = heapq.heappop(self.ready)
            self.place(number, agent=-1)

    def ringing_calls(self) -> list[_Call]:
        return [self.calls[i] for i in self.ringing_ids]

    def worst_window(self) -> float:
        """The highest abandon rate over full rolling windows (``window_seconds`` long,
        ending at a live answer, holding at least ``min_window_answers`` of them); the
        whole run is the one window when it is shorter than that."""
        window = self.c.pacing.window_seconds
        full_from = min(window, self.end)
        worst = 0.0
        lo = 0
        abandoned = 0
        for hi, (when, was_abandoned) in enumerate(self.lives):
            abandoned += was_abandoned
            while self.lives[lo][0] <= when - window:
                abandoned -= self.lives[lo][1]
                lo += 1
            count = hi - lo + 1
            if when >= full_from and count >= self.c.min_window_answers:
                worst = max(worst, abandoned / count)
        return worst


def simulate(config: SimulationConfig) -> SimulationResult:
    """Run one simulated campaign to the end (every number final) and measure it."""
    return _Run(config).run()
