"""Recall policy: autocall field validation and the next-attempt rule."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.voice.errors import InvalidField
from clarion.domain.voice.outcomes import PERMANENT, RETRYABLE_BY_DEFAULT, Attempt, CallOutcome
from clarion.domain.voice.recall import (
    RecallPolicy,
    RecallPolicyError,
    RecallPriority,
    RecallUnit,
    dial_order_key,
    next_attempt_at,
)
from clarion.domain.voice.windows import WeeklyHours

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)

SEED_RECALL = {  # the autocall v3 seed's recall fields, verbatim
    "recall_times": 3,
    "limit_recall_duration": 0,
    "schedule_recall": "minute",
    "schedule_recall_duration": 1,
    "priority_recall": "normal",
    "recall_status": [
        "busy",
        "failed",
        "no-answered",
        "not-available",
        "voicemail",
        "invalid-number",
        "phone-block",
        "congestion",
    ],
}


def attempt(minutes: float, outcome: CallOutcome, seconds: float = 30) -> Attempt:
    start = NOW + timedelta(minutes=minutes)
    return Attempt(start, outcome, start + timedelta(seconds=seconds))


def test_outcomes_are_the_autocall_names() -> None:
    assert [o.value for o in CallOutcome] == [
        "answered",
        "busy",
        "failed",
        "no-answered",
        "not-available",
        "voicemail",
        "invalid-number",
        "phone-block",
        "congestion",
    ]
    assert CallOutcome.ANSWERED not in RETRYABLE_BY_DEFAULT | PERMANENT
    assert RETRYABLE_BY_DEFAULT | PERMANENT | {CallOutcome.ANSWERED} == set(CallOutcome)
    assert not RETRYABLE_BY_DEFAULT & PERMANENT


def test_seed_policy_reads_and_renders_back() -> None:
    policy = RecallPolicy.from_autocall({**SEED_RECALL, "campaign_name": "AutocallAudio"})
    assert policy.recall_times == 3
    assert policy.max_attempts == 4
    assert policy.delay == timedelta(minutes=1)
    assert policy.limit is None
    assert policy.recall_status == RETRYABLE_BY_DEFAULT | PERMANENT
    assert policy.to_autocall() == SEED_RECALL


def test_absent_fields_take_defaults() -> None:
    policy = RecallPolicy.from_autocall({})
    assert policy == RecallPolicy()
    assert policy.recall_times == 0
    assert policy.recall_status == RETRYABLE_BY_DEFAULT
    assert RecallPolicy.from_autocall({"recall_status": None}).recall_status == RETRYABLE_BY_DEFAULT
    assert RecallPolicy.from_autocall({"recall_status": []}).recall_status == frozenset()


def test_hour_unit_and_limit() -> None:
    policy = RecallPolicy.from_autocall(
        {"schedule_recall": "hour", "schedule_recall_duration": 2, "limit_recall_duration": 90}
    )
    assert policy.schedule_recall is RecallUnit.HOUR
    assert policy.delay == timedelta(hours=2)
    assert policy.limit == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"recall_times": -1}, "recall_times", "at least 0"),
        ({"recall_times": "3"}, "recall_times", "whole number"),
        ({"recall_times": True}, "recall_times", "whole number"),
        ({"recall_times": 2.5}, "recall_times", "whole number"),
        ({"limit_recall_duration": -5}, "limit_recall_duration", "at least 0"),
        ({"schedule_recall_duration": None}, "schedule_recall_duration", "whole number"),
        ({"schedule_recall": "day"}, "schedule_recall", "'minute' or 'hour'"),
        ({"schedule_recall": "MINUTE"}, "schedule_recall", "'minute' or 'hour'"),
        ({"priority_recall": "high"}, "priority_recall", "'normal' or 'recall'"),
        ({"recall_status": "busy"}, "recall_status", "list of call outcomes"),
        ({"recall_status": ["busy", "ringing"]}, "recall_status", "unknown call outcome 'ringing'"),
        ({"recall_status": ["answered"]}, "recall_status", "cannot be recalled"),
    ],
)
def test_invalid_fields_are_named(data: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(RecallPolicyError, match=words) as info:
        RecallPolicy.from_autocall(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, InvalidField)
    assert isinstance(info.value, ValueError)


def test_first_attempt_is_due_now() -> None:
    assert next_attempt_at(RecallPolicy(), [], now=NOW) == NOW


def test_recall_after_the_delay_from_the_end_of_the_attempt() -> None:
    policy = RecallPolicy(recall_times=2, schedule_recall_duration=10)
    history = [attempt(0, CallOutcome.BUSY, seconds=5)]
    due = next_attempt_at(policy, history, now=NOW + timedelta(minutes=1))
    assert due == NOW + timedelta(minutes=10, seconds=5)


def test_overdue_recall_is_due_now() -> None:
    policy = RecallPolicy(recall_times=1)
    late = NOW + timedelta(hours=5)
    assert next_attempt_at(policy, [attempt(0, CallOutcome.BUSY)], now=late) == late


def test_answered_unlisted_and_exhausted_are_done() -> None:
    policy = RecallPolicy(recall_times=2, recall_status=frozenset({CallOutcome.BUSY}))
    assert next_attempt_at(policy, [attempt(0, CallOutcome.ANSWERED)], now=NOW) is None
    assert next_attempt_at(policy, [attempt(0, CallOutcome.VOICEMAIL)], now=NOW) is None
    two = [attempt(0, CallOutcome.BUSY), attempt(5, CallOutcome.BUSY)]
    assert next_attempt_at(policy, two, now=NOW) is not None
    three = [*two, attempt(10, CallOutcome.BUSY)]
    assert next_attempt_at(policy, three, now=NOW) is None


def test_permanent_outcomes_are_recalled_only_when_listed() -> None:
    default = RecallPolicy(recall_times=3)
    history = [attempt(0, CallOutcome.INVALID_NUMBER)]
    assert next_attempt_at(default, history, now=NOW) is None
    seed = RecallPolicy.from_autocall(SEED_RECALL)
    assert next_attempt_at(seed, history, now=NOW) is not None


def test_limit_recall_duration_counts_from_the_first_attempt() -> None:
    policy = RecallPolicy(recall_times=5, schedule_recall_duration=1, limit_recall_duration=150)
    first = attempt(0, CallOutcome.BUSY, seconds=10)
    assert next_attempt_at(policy, [first], now=NOW) == NOW + timedelta(seconds=70)
    second = attempt(1.5, CallOutcome.BUSY, seconds=10)  # ends at 100 s: recall at 160 s > 150
    assert next_attempt_at(policy, [first, second], now=NOW) is None


def test_windows_move_the_recall_and_can_end_it() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    hours = WeeklyHours.daily(time(8), time(21))
    policy = RecallPolicy(recall_times=1, schedule_recall=RecallUnit.HOUR)
    evening = datetime(2025, 3, 10, 19, 30, tzinfo=UTC)  # 20:30 in Berlin
    history = [Attempt(evening, CallOutcome.NO_ANSWERED, evening + timedelta(seconds=60))]
    due = next_attempt_at(policy, history, now=evening, hours=hours, tz=berlin)
    assert due == datetime(2025, 3, 11, 7, 0, tzinfo=UTC)  # 08:00 next morning
    limited = RecallPolicy(
        recall_times=1, schedule_recall=RecallUnit.HOUR, limit_recall_duration=7200
    )
    assert next_attempt_at(limited, history, now=evening, hours=hours, tz=berlin) is None
    with pytest.raises(ValueError, match="both"):
        next_attempt_at(policy, history, now=evening, hours=hours)


def test_dial_order() -> None:
    normal = RecallPolicy()
    recalls_first = RecallPolicy(priority_recall=RecallPriority.RECALL)
    early, late = NOW, NOW + timedelta(minutes=5)
    for policy, recall_goes_first in ((normal, False), (recalls_first, True)):
        fresh = dial_order_key(policy, attempts_made=0, due_at=early)
        recall = dial_order_key(policy, attempts_made=1, due_at=late)
        assert (recall < fresh) is recall_goes_first
    assert dial_order_key(normal, attempts_made=2, due_at=early) < dial_order_key(
        normal, attempts_made=0, due_at=late
    )


outcomes = st.sampled_from([o for o in CallOutcome if not o.is_answered])
policies = st.builds(
    RecallPolicy,
    recall_times=st.integers(0, 6),
    recall_status=st.frozensets(outcomes),
    schedule_recall=st.sampled_from(list(RecallUnit)),
    schedule_recall_duration=st.integers(0, 180),
    limit_recall_duration=st.sampled_from([0, 60, 600, 3600, 86_400]),
    priority_recall=st.sampled_from(list(RecallPriority)),
)


@given(
    policies,
    st.lists(st.tuples(st.sampled_from(list(CallOutcome)), st.integers(1, 120)), max_size=12),
)
def test_simulated_histories_obey_the_policy(
    policy: RecallPolicy, script: list[tuple[CallOutcome, int]]
) -> None:
    """Drive a recipient through the rule with scripted outcomes; check every bound."""
    now = NOW
    history: list[Attempt] = []
    for outcome, seconds in script:
        due = next_attempt_at(policy, history, now=now)
        if due is None:
            break
        assert due >= now
        if history:
            assert history[-1].outcome in policy.recall_status
            assert due >= history[-1].finished_at + policy.delay
            if policy.limit is not None:
                assert due <= history[0].started_at + policy.limit
        history.append(Attempt(due, outcome, due + timedelta(seconds=seconds)))
        now = due + timedelta(seconds=seconds)
    recalls = len(history) - 1
    assert recalls <= policy.recall_times
    for earlier in history[:-1]:
        assert earlier.outcome in policy.recall_status
        assert not earlier.outcome.is_answered
