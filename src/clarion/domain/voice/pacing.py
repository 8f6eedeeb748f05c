"""Dialer pacing: how many calls to place now, for preview and predictive modes.

Preview (:class:`PreviewPacer`): an agent reserves a record, reads it, and the call is
placed for that agent: one call per reserved agent, never more. Nobody is ever
answered without an agent on the line, so nothing is abandoned; agents wait through
every ring, busy signal and no-answer.

Predictive (:class:`PredictivePacer`): the dialer places more calls than there are
free agents, betting that most will not be answered by a person. A call answered by
a person when no agent takes it within ``abandon_after`` seconds (2 s by default) is
ABANDONED (the engine plays the mandated message and hangs up). Regulators cap
abandoned calls at 3 % of live answers (Ofcom: per campaign per 24 h; the FCC: per
campaign per 30 days). Each decision (after every event, or on a short tick):

1. ``p``, the chance that a NEW call is answered by a person, is the share of live
   answers among the last ``answer_sample`` attempts of COMPLETE placing cohorts (calls
   placed more than ``call_timeout`` ago, all resolved: outcomes counted as they
   arrive over-represent the fast ones, busy signals, while a campaign ramps up),
   starting from a pessimistic prior (a high ``p`` means fewer calls).
2. A call already ringing for ``a`` seconds is less likely to be answered than a new
   one (people answer within seconds; what rings on is mostly a no-answer). Its
   chance is Bayes over the learnt ring-time curves of live and other outcomes:
   ``p S_live(a) / (p S_live(a) + (1 - p) S_other(a))``.
3. ``F`` agents can take an answer: the free ones, plus those in wrap-up expected to
   finish within the abandon grace (``agents_soon_free`` with ``horizon =
   abandon_after``), minus answered calls already waiting for one.
4. ``X``, the live answers to come from everything ringing, is a sum of independent
   Bernoulli trials; its mean and variance are exact and ``E[(X - F)+]``, the
   expected abandons, uses a normal law with that mean and variance.
5. Calls are added one at a time while ``E[(X - F)+] <= r * E[X]``: the risk ``r``
   allowed now is the aim ``rho = safety * target`` (2.4 %) corrected by the
   rolling window's realised rate ``w`` (smoothed by ``window_prior`` pseudo-answers at
   the aim): ``r = rho + gain * (rho - w)``, clamped to ``[0, max_risk * rho]``, and 0 once
   the window has reached the target. No more than ``max_lines_per_agent * F`` calls ring.
6. Whatever the risk, up to ``free_agents`` calls may always be ringing: with no more
   calls than free agents every live answer finds one (free agents take nothing
   else), so these cannot be abandoned and the dialer never stalls.

Why the 3 % bound holds: a call beyond the free agents is placed only while its
batch's expected abandon share is under ``r``, ``r`` shrinks as the window's realised
rate rises, and at the target only the zero-risk calls of rule 6 are placed, so the
window can overshoot only by the abandons of calls that were already ringing. The
model is pessimistic where it errs (agents who finish talking during the ring are not
counted), the feedback removes what bias is left, and the 20 % margin between
``rho`` and the target absorbs the in-flight overshoot. The simulator (:mod:`.simulation`)
measures the result, worst rolling window included (bench/predictive.py).

Times are plain seconds on any monotonic scale (``datetime.timestamp()`` will do);
this module never reads a clock.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clarion.domain.voice.errors import PacingConfigError

__all__ = [
    "PacingConfig",
    "PacingDecision",
    "PredictivePacer",
    "PreviewPacer",
    "agents_soon_free",
    "expected_excess",
]


_STEP = 0.25  # seconds: resolution of the live-chance-by-age table
_REFRESH = 25  # new attempts before that table is rebuilt


@dataclass(frozen=True, slots=True)
class PacingConfig:
    """Predictive pacing settings (the defaults hold the regulators' 3 %)."""

    target_abandon_rate: float = 0.03
    safety: float = 0.8  # aim at safety * target, leaving room for calls already ringing
    window_seconds: float = 3600.0  # the rolling window over which the rate is held
    answer_sample: int = 500  # resolved attempts the answer model is learnt from
    prior_answer_rate: float = 0.5  # before any data; pessimistic: fewer calls
    prior_weight: int = 20  # pseudo-attempts the prior counts for
    min_live_sample: int = 20  # live answers needed before ring ages are used
    max_lines_per_agent: float = 8.0  # ringing calls per agent able to take an answer
    gain: float = 3.0  # how hard the window's error moves the risk allowed now
    window_prior: int = 50  # pseudo live answers at the aim, smoothing a young window
    max_risk: float = 2.0  # the risk allowed now is at most this many times the aim
    call_timeout: float | None = None  # s after which a call has surely resolved (None: learn)

    def __post_init__(self) -> None:
        checks = {
            "target_abandon_rate": 0 < self.target_abandon_rate < 1,
            "safety": 0 < self.safety <= 1,
            "window_seconds": self.window_seconds > 0,
            "answer_sample": self.answer_sample >= 1,
            "prior_answer_rate": 0 < self.prior_answer_rate <= 1,
            "prior_weight": self.prior_weight >= 1,
            "min_live_sample": self.min_live_sample >= 1,
            "max_lines_per_agent": self.max_lines_per_agent >= 1,
            "call_timeout": self.call_timeout is None or self.call_timeout > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise PacingConfigError(name, f"is out of range: {getattr(self, name)!r}")

    @property
    def aim(self) -> float:
        return self.target_abandon_rate * self.safety

    @property
    def stop_rate(self) -> float:
        """Window rate from which only zero-risk calls are placed: halfway from aim to target."""
        return (self.aim + self.target_abandon_rate) / 2


def expected_excess(mean: float, variance: float, agents: float) -> float:
    """``E[max(0, X - agents)]`` for a count ``X`` with this mean and variance.

    ``X`` (live answers among the calls ringing) is a sum of independent Bernoulli
    trials; it is approximated by a normal law with the same mean and variance, which
    is exact enough for a controller whose error is corrected by feedback.
    """
    if mean <= 0:
        return 0.0
    if variance <= 0:
        return max(0.0, mean - agents)
    sd = math.sqrt(variance)
    z = (mean - agents) / sd
    density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    below = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return max(0.0, (mean - agents) * below + sd * density)


def agents_soon_free(wrap_elapsed: Iterable[float], *, mean_wrap: float, horizon: float) -> int:
    """How many agents in wrap-up are expected to be free within ``horizon`` seconds.

    ``wrap_elapsed`` holds, per agent in wrap-up, the seconds it has spent in it; an
    agent counts when ``mean_wrap - elapsed <= horizon``. Talking agents are not
    counted: talk time is too spread out to bet a caller's wait on it.
    """
    return sum(1 for elapsed in wrap_elapsed if mean_wrap - elapsed <= horizon)


@dataclass(frozen=True, slots=True)
class PacingDecision:
    calls: int  # calls to place now
    answer_rate: float  # p, the estimate used for a new call
    able_agents: int  # F: agents able to take an answer soon
    expected_answers: float  # live answers expected from everything ringing, new calls included
    expected_abandons: float  # of those, expected to find no agent
    window_rate: float  # realised abandon rate over the rolling window


class PreviewPacer:
    """One call per agent who has reserved a record: never more, so never abandoned."""

    def calls_to_place(self, now: float, *, free_agents: int) -> int:
        """``free_agents`` = agents who reserved a record and have no call yet."""
        del now  # preview calls are bound to their agent, whatever the time
        return max(0, free_agents)


class PredictivePacer:
    """The predictive controller. Feed it outcomes; ask it how many calls to place.

    Its state: resolved attempts waiting for their placing cohort to complete, the
    sample of complete ones (ring time, live or not), and the rolling window of live
    answers (connected or abandoned). It never reads a clock and does no I/O.
    """

    def __init__(self, config: PacingConfig | None = None) -> None:
        self.config = config or PacingConfig()
        # Resolved attempts wait here, by placing time, until every call placed with
        # them must have resolved: only then do they join the sample (see _promote).
        self._pending: list[tuple[float, float, bool]] = []  # heap of (placed, ring, live)
        self._longest_ring = 0.0
        self._attempts: deque[tuple[float, bool]] = deque(maxlen=self.config.answer_sample)
        self._live_count = 0
        self._live_times: list[float] = []  # ring times of the sample's live answers, sorted
        self._other_times: list[float] = []  # and of its other outcomes, sorted
        self._recorded = 0
        self._table: list[float] | None = None  # live chance by ring age, every _STEP s
        self._table_at = 0
        self._lives: deque[tuple[float, bool]] = deque()  # (when, abandoned)
        self._abandoned_in_window = 0

    # --- feedback ---------------------------------------------------------------

    def record_attempt(self, now: float, *, live: bool, ring_seconds: float) -> None:
        """An attempt resolved at ``now``, ``ring_seconds`` after it was placed; ``live``
        when a person answered (busy, no answer, voicemail and failures are not live)."""
        self._longest_ring = max(self._longest_ring, ring_seconds)
        heapq.heappush(self._pending, (now - ring_seconds, ring_seconds, live))
        self._promote(now)

    def _promote(self, now: float) -> None:
        """Move into the sample the attempts of every placing cohort that is complete.

        Counting attempts as they RESOLVE is biased whenever the dialling rate changes:
        at the start of a campaign busy signals (1-4 s) come back long before the
        ring-outs (30 s) of the same calls, and the answer rate would look far higher
        or lower than it is. Calls placed more than ``call_timeout`` (or, without it,
        the longest ring seen) ago have all resolved, so their share is unbiased.
        """
        horizon = self.config.call_timeout or self._longest_ring
        while self._pending and self._pending[0][0] <= now - horizon:
            _, ring_seconds, live = heapq.heappop(self._pending)
            self._sample(ring_seconds, live)

    def _sample(self, ring_seconds: float, live: bool) -> None:
        if len(self._attempts) == self._attempts.maxlen:
            old_seconds, old_live = self._attempts[0]
            times = self._live_times if old_live else self._other_times
            del times[bisect.bisect_left(times, old_seconds)]
            self._live_count -= old_live
        self._attempts.append((ring_seconds, live))
        self._live_count += live
        bisect.insort(self._live_times if live else self._other_times, ring_seconds)
        self._recorded += 1

    def record_live(self, now: float, *, abandoned: bool) -> None:
        """A live answer was connected to an agent, or abandoned."""
        self._lives.append((now, abandoned))
        self._abandoned_in_window += abandoned
        self._expire(now)

    # --- estimates --------------------------------------------------------------

    def answer_rate(self) -> float:
        """``p``: the chance that a new call is answered by a person."""
        c = self.config
        return (self._live_count + c.prior_answer_rate * c.prior_weight) / (
            len(self._attempts) + c.prior_weight
        )

    def live_chance(self, age: float) -> float:
        """The chance that a call still ringing after ``age`` seconds is answered by a person.

        Bayes over the learnt ring-time curves: ``p S_live(age) / (p S_live(age) + (1 - p)
        S_other(age))`` where ``S`` is the share of resolved attempts that took longer
        than ``age``. Until the sample is full (``answer_sample`` attempts, at least
        ``min_live_sample`` of them live): ``p``. A young sample is censored, it holds
        only the attempts that resolved quickly (busy, fast answers) and not yet the
        slow ones (ring-outs), so it would call an old ringing call dead when it is not.
        """
        return self._chance(age, self.answer_rate())

    def _chance(self, age: float, p: float) -> float:
        if not self._ages_known():
            return p
        live, other = self._live_times, self._other_times
        s_live = 1 - bisect.bisect_right(live, age) / len(live)
        s_other = 1 - bisect.bisect_right(other, age) / len(other) if other else 0.0
        weight = p * s_live + (1 - p) * s_other
        return p * s_live / weight if weight > 0 else 0.0

    def _ages_known(self) -> bool:
        return (
            len(self._attempts) == self.config.answer_sample
            and self._live_count >= self.config.min_live_sample
        )

    def _chances(self, ages: Sequence[float], p: float) -> list[float]:
        """:meth:`_chance` for many ages, read from a table at ``_STEP`` resolution that
        is rebuilt after every ``_REFRESH`` new attempts."""
        if not self._ages_known():
            return [p] * len(ages)
        if self._table is None or self._table_at + _REFRESH <= self._recorded:
            top = max(self._live_times[-1], self._other_times[-1] if self._other_times else 0.0)
            self._table = [self._chance(i * _STEP, p) for i in range(int(top / _STEP) + 2)]
            self._table_at = self._recorded
        table = self._table
        last = len(table) - 1
        return [table[min(int(age / _STEP), last)] for age in ages]

    def window(self, now: float) -> tuple[int, int]:
        """``(abandoned, live answers)`` over the rolling window ending at ``now``."""
        self._expire(now)
        return self._abandoned_in_window, len(self._lives)

    def abandon_rate(self, now: float) -> float:
        abandoned, live = self.window(now)
        return abandoned / live if live else 0.0

    def _expire(self, now: float) -> None:
        horizon = now - self.config.window_seconds
        while self._lives and self._lives[0][0] <= horizon:
            _, abandoned = self._lives.popleft()
            self._abandoned_in_window -= abandoned

    # --- the decision -----------------------------------------------------------

    def decide(
        self,
        now: float,
        *,
        free_agents: int,
        ringing: Sequence[float] = (),
        agents_soon_free: int = 0,
        waiting: int = 0,
        max_ringing: int | None = None,
    ) -> PacingDecision:
        """How many calls to place now.

        ``free_agents``: idle agents; ``ringing``: for each call placed and not yet
        resolved, the seconds since it was placed; ``agents_soon_free``: agents expected
        to be free within a typical time-to-answer (see :func:`agents_soon_free`);
        ``waiting``: answered calls waiting for an agent; ``max_ringing``: a trunk or
        ``concurrent_call`` cap on calls ringing at once.
        """
        if min(free_agents, agents_soon_free, waiting) < 0:
            raise ValueError("agent and call counts cannot be negative")
        c = self.config
        self._promote(now)
        p = self.answer_rate()
        able = max(0, free_agents + agents_soon_free - waiting)
        abandoned, live = self.window(now)
        chances = self._chances(ringing, p)
        mean = sum(chances)
        variance = sum(q * (1 - q) for q in chances)
        in_flight = len(chances)
        cap = math.floor(c.max_lines_per_agent * able)
        if max_ringing is not None:
            cap = min(cap, max_ringing)
        # Rule 5: as many calls ringing as there are free agents can never be abandoned.
        calls = max(0, min(free_agents - waiting, cap) - in_flight)
        mean += calls * p
        variance += calls * p * (1 - p)
        # The rate the calls ringing may risk: the aim, corrected by how far the window's
        # realised rate is from it; nothing once the window is at the target.
        smoothed = (abandoned + c.aim * c.window_prior) / (live + c.window_prior)
        allowed = c.aim + c.gain * (c.aim - smoothed)
        if abandoned >= c.stop_rate * max(live, 1):
            allowed = 0.0
        allowed = min(max(allowed, 0.0), c.max_risk * c.aim)
        while allowed > 0 and in_flight + calls < cap:
            more_mean, more_variance = mean + p, variance + p * (1 - p)
            if expected_excess(more_mean, more_variance, able) > allowed * more_mean:
                break
            calls += 1
            mean, variance = more_mean, more_variance
        return PacingDecision(
            calls=calls,
            answer_rate=p,
            able_agents=able,
            expected_answers=mean,
            expected_abandons=expected_excess(mean, variance, able),
            window_rate=abandoned / live if live else 0.0,
        )

    def calls_to_place(
        self,
        now: float,
        *,
        free_agents: int,
        ringing: Sequence[float] = (),
        agents_soon_free: int = 0,
        waiting: int = 0,
        max_ringing: int | None = None,
    ) -> int:
        """The ``calls`` of :meth:`decide` (without its estimates when nobody can answer)."""
        able = free_agents + agents_soon_free - waiting
        if able <= 0 or len(ringing) >= self.config.max_lines_per_agent * able:
            return 0
        return self.decide(
            now,
            free_agents=free_agents,
            ringing=ringing,
            agents_soon_free=agents_soon_free,
            waiting=waiting,
            max_ringing=max_ringing,
        ).calls
