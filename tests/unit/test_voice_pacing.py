"""Preview and predictive pacing, and the seeded dialer simulation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.voice.errors import PacingConfigError
from clarion.domain.voice.outcomes import CallOutcome
from clarion.domain.voice.pacing import (
    PacingConfig,
    PredictivePacer,
    PreviewPacer,
    agents_soon_free,
    expected_excess,
)
from clarion.domain.voice.recall import RecallPolicy
from clarion.domain.voice.simulation import (
    ABANDONED,
    CONNECTED,
    AgentPool,
    Callees,
    Mode,
    SimulationConfig,
    SimulationResult,
    simulate,
)


def exact_excess(chances: list[float], agents: int) -> float:
    """E[(X - agents)+] for X a sum of independent Bernoulli(chances), by convolution."""
    dist = [1.0]
    for q in chances:
        nxt = [0.0] * (len(dist) + 1)
        for k, pk in enumerate(dist):
            nxt[k] += pk * (1 - q)
            nxt[k + 1] += pk * q
        dist = nxt
    return sum(max(0, k - agents) * pk for k, pk in enumerate(dist))


def test_expected_excess_edges() -> None:
    assert expected_excess(0.0, 0.0, 3) == 0.0
    assert expected_excess(5.0, 0.0, 3) == 2.0
    assert expected_excess(2.0, 0.0, 3) == 0.0
    assert expected_excess(10.0, 4.0, 0) == pytest.approx(10.0, abs=1e-3)


@pytest.mark.parametrize(
    ("chances", "agents"),
    [([0.3] * 40, 12), ([0.3] * 40, 8), ([0.3] * 60, 20), ([0.6] * 10 + [0.1] * 30, 7)],
)
def test_expected_excess_is_close_to_exact(chances: list[float], agents: int) -> None:
    mean = sum(chances)
    variance = sum(q * (1 - q) for q in chances)
    assert expected_excess(mean, variance, agents) == pytest.approx(
        exact_excess(chances, agents), abs=0.12
    )


@given(st.floats(0, 50), st.floats(0, 30), st.integers(0, 40))
def test_expected_excess_is_monotone(mean: float, variance: float, agents: int) -> None:
    here = expected_excess(mean, variance, agents)
    assert here >= max(0.0, mean - agents) - 1e-9
    assert expected_excess(mean + 1, variance, agents) >= here - 1e-9
    assert expected_excess(mean, variance, agents + 1) <= here + 1e-9


def test_agents_soon_free() -> None:
    assert agents_soon_free([0.0, 9.0, 11.0], mean_wrap=12.0, horizon=2.0) == 1
    assert agents_soon_free([], mean_wrap=12.0, horizon=2.0) == 0


def test_preview_is_one_call_per_reserved_agent() -> None:
    assert PreviewPacer().calls_to_place(0.0, free_agents=7) == 7
    assert PreviewPacer().calls_to_place(0.0, free_agents=0) == 0


def test_config_is_validated() -> None:
    with pytest.raises(PacingConfigError) as info:
        PacingConfig(target_abandon_rate=0.0)
    assert info.value.field == "target_abandon_rate"
    with pytest.raises(PacingConfigError) as info:
        PacingConfig(max_lines_per_agent=0.5)
    assert info.value.field == "max_lines_per_agent"
    with pytest.raises(PacingConfigError) as info:
        PacingConfig(prior_weight=0)  # the answer rate would be 0/0 before any data
    assert info.value.field == "prior_weight"


T0 = 1000.0  # by then every trained attempt is in the sample


def trained(p: float = 0.3, attempts: int = 500) -> PredictivePacer:
    """A pacer that has seen ``attempts`` outcomes at answer rate ``p``, one a second:
    live answers after 3-18 s, the rest spread from 1 s to the 30 s timeout."""
    pacer = PredictivePacer(PacingConfig(call_timeout=30.0))
    lives = round(attempts * p)
    for i in range(attempts):
        live = i * lives // attempts != (i + 1) * lives // attempts
        ring = 3 + (i % 16) if live else 1 + (i % 30)
        pacer.record_attempt(float(i), live=live, ring_seconds=float(ring))
    pacer.decide(T0, free_agents=0)  # completes the last placing cohorts
    return pacer


def test_answer_rate_learns_from_a_pessimistic_prior() -> None:
    assert PredictivePacer().answer_rate() == 0.5
    assert trained(0.3).answer_rate() == pytest.approx(0.3, abs=0.01)


def test_only_complete_placing_cohorts_are_counted() -> None:
    """Busy signals come back before ring-outs: counting outcomes as they arrive would
    make a new campaign's answer rate look wrong. Until the calls placed with them have
    all resolved (call_timeout), early outcomes stay out of the sample."""
    pacer = PredictivePacer(PacingConfig(call_timeout=30.0))
    for _ in range(40):  # 40 quick busy signals 2 s after placing at t = 0
        pacer.record_attempt(2.0, live=False, ring_seconds=2.0)
    assert pacer.answer_rate() == 0.5  # the prior: nothing complete yet
    for _ in range(10):  # the same cohort's answers and ring-outs
        pacer.record_attempt(10.0, live=True, ring_seconds=10.0)
    for _ in range(50):
        pacer.record_attempt(30.0, live=False, ring_seconds=30.0)
    pacer.decide(30.0, free_agents=0)
    assert pacer.answer_rate() == pytest.approx((10 + 0.5 * 20) / (100 + 20))


def test_old_ringing_calls_count_less() -> None:
    pacer = trained(0.3)
    assert pacer.live_chance(0.0) == pytest.approx(0.3, abs=0.02)
    assert pacer.live_chance(10.0) < pacer.live_chance(2.0)
    assert pacer.live_chance(25.0) == 0.0  # nobody answers after 18 s in this sample


def test_overdials_when_the_window_is_clean() -> None:
    pacer = trained(0.3)
    decision = pacer.decide(T0, free_agents=10, ringing=[])
    assert decision.calls > 10  # more calls than free agents: predictive
    assert decision.expected_abandons <= PacingConfig().max_risk * PacingConfig().aim * (
        decision.expected_answers
    )
    assert pacer.calls_to_place(T0, free_agents=10) == decision.calls


def test_only_zero_risk_calls_once_the_window_is_at_the_target() -> None:
    pacer = trained(0.3)
    for i in range(100):
        pacer.record_live(T0 + i, abandoned=i < 3)  # 3 % abandoned in the window
    now = T0 + 100
    assert pacer.abandon_rate(now) == pytest.approx(0.03)
    assert pacer.config.stop_rate == pytest.approx(0.027)
    assert pacer.calls_to_place(now, free_agents=10, ringing=[1.0, 2.0]) == 8
    assert pacer.calls_to_place(now, free_agents=10, ringing=[1.0] * 12) == 0
    # The window rolls: an hour later those abandons no longer count.
    assert pacer.window(now + 3600) == (0, 0)
    assert pacer.calls_to_place(now + 3600, free_agents=10, ringing=[1.0, 2.0]) > 8


def test_nobody_able_means_no_calls() -> None:
    pacer = trained(0.3)
    assert pacer.calls_to_place(T0, free_agents=0, ringing=[]) == 0
    assert pacer.calls_to_place(T0, free_agents=2, waiting=2, ringing=[]) == 0
    assert pacer.decide(T0, free_agents=3, ringing=[], max_ringing=2).calls == 2


@given(
    st.integers(0, 30),
    st.integers(0, 10),
    st.integers(0, 5),
    st.lists(st.floats(0, 40), max_size=60),
    st.integers(0, 12),
    st.integers(0, 300),
    st.one_of(st.none(), st.integers(0, 80)),
)
def test_decisions_respect_the_floor_and_the_caps(
    free: int,
    soon: int,
    waiting: int,
    ringing: list[float],
    abandoned: int,
    connected: int,
    max_ringing: int | None,
) -> None:
    pacer = trained(0.3)
    for i in range(abandoned):
        pacer.record_live(T0 + i, abandoned=True)
    for i in range(connected):
        pacer.record_live(T0 + i, abandoned=False)
    decision = pacer.decide(
        T0 + 500,
        free_agents=free,
        agents_soon_free=soon,
        waiting=waiting,
        ringing=ringing,
        max_ringing=max_ringing,
    )
    able = max(0, free + soon - waiting)
    cap = math.floor(pacer.config.max_lines_per_agent * able)
    if max_ringing is not None:
        cap = min(cap, max_ringing)
    total = len(ringing) + decision.calls
    assert decision.calls >= 0
    assert decision.calls == 0 or total <= cap
    assert total >= min(max(0, free - waiting), cap)  # the zero-risk floor always
    lives = abandoned + connected
    if lives and abandoned >= pacer.config.stop_rate * lives:
        assert decision.calls == 0 or total <= max(0, free - waiting)


# --- the simulation -------------------------------------------------------------------

SMALL = SimulationConfig(
    mode=Mode.PREDICTIVE,
    numbers=1500,
    seed=11,
    agents=AgentPool(count=12),
    recall=RecallPolicy(
        recall_times=2,
        recall_status=frozenset({CallOutcome.BUSY, CallOutcome.NO_ANSWERED}),
        schedule_recall_duration=5,
    ),
)


MODEST = SimulationConfig(mode=Mode.PREDICTIVE, numbers=3000, seed=1, agents=AgentPool(count=30))


@pytest.fixture(scope="module")
def predictive() -> SimulationResult:
    return simulate(MODEST)


@pytest.fixture(scope="module")
def preview() -> SimulationResult:
    return simulate(replace(MODEST, mode=Mode.PREVIEW))


def test_simulation_is_deterministic_for_a_seed() -> None:
    config = replace(SMALL, numbers=300)
    assert simulate(config) == simulate(config)
    assert simulate(config) != simulate(replace(config, seed=12))


@pytest.mark.parametrize("mode", list(Mode))
def test_every_number_ends_in_exactly_one_final_state(mode: Mode) -> None:
    result = simulate(replace(SMALL, mode=mode, numbers=600))
    assert len(result.final_states) == result.numbers == 600
    counts = result.final_counts()
    allowed = {CONNECTED, ABANDONED} | {o.value for o in CallOutcome if not o.is_answered}
    assert set(counts) <= allowed
    assert sum(counts.values()) == 600
    assert counts[CONNECTED] == result.connected
    assert counts[ABANDONED] == result.abandoned
    assert result.connected + result.abandoned == result.live_answers
    assert sum(result.attempts_per_number) == result.attempts
    recalled = {o.value for o in SMALL.recall.recall_status}
    for state, placed in zip(result.final_states, result.attempts_per_number, strict=True):
        assert 1 <= placed <= 1 + SMALL.recall.recall_times
        if state in recalled:  # left on a recalled outcome: only when recalls ran out
            assert placed == 1 + SMALL.recall.recall_times


def test_preview_never_abandons(preview: SimulationResult) -> None:
    assert preview.abandoned == 0
    assert preview.max_ringing_seen <= MODEST.agents.count


def test_predictive_holds_the_abandon_bound_and_beats_preview(
    predictive: SimulationResult, preview: SimulationResult
) -> None:
    assert predictive.abandoned > 0  # it did take risks...
    assert predictive.abandon_rate <= 0.03  # ...within the bound over the run
    assert predictive.worst_window_abandon_rate <= 0.03  # and over every full hour
    assert predictive.max_ringing_seen > MODEST.agents.count  # it dialled ahead of agents
    assert predictive.occupancy > preview.occupancy + 0.1
    assert predictive.connected_per_hour > preview.connected_per_hour


def test_small_pool_stays_under_the_bound_over_the_run() -> None:
    result = simulate(SMALL)
    assert result.abandon_rate <= 0.03
    assert result.final_counts()[ABANDONED] == result.abandoned


def test_callee_shares_are_validated() -> None:
    with pytest.raises(PacingConfigError) as info:
        Callees(answer=0.6, busy=0.5)
    assert info.value.field == "callees"
    with pytest.raises(PacingConfigError) as info:
        AgentPool(count=0)
    assert info.value.field == "agents.count"
