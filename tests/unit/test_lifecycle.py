"""Campaign and message state machines (domain/lifecycle.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.domain.lifecycle import (
    CAMPAIGN_TRANSITIONS,
    DIALECT_CAMPAIGN_STATUS,
    FINAL_MESSAGE_STATUSES,
    MESSAGE_TRANSITIONS,
    PENDING_MESSAGE_STATUSES,
    REPORT_FROM,
    REPORT_STATUSES,
    RETRYABLE_MESSAGE_STATUSES,
    CampaignStatus,
    MessageStatus,
    Transition,
    TransitionError,
    check_campaign_action,
    dialect_status,
    report_transition,
)

ACTIONS = sorted(CAMPAIGN_TRANSITIONS)
DIALECTS = sorted(DIALECT_CAMPAIGN_STATUS)


def _reachable(start: str = CampaignStatus.DRAFT) -> set[str]:
    """Statuses reachable from ``start`` following the transition table."""
    seen = {start}
    frontier = [start]
    while frontier:
        current = frontier.pop()
        for t in CAMPAIGN_TRANSITIONS.values():
            if current in t.allowed_from and t.to not in seen:
                seen.add(t.to)
                frontier.append(t.to)
    return seen


REACHABLE = _reachable()


# --- dialect names -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_status_has_a_name_in_every_dialect(dialect: str) -> None:
    mapping = DIALECT_CAMPAIGN_STATUS[dialect]
    assert set(mapping) == set(CampaignStatus)
    for status in CampaignStatus:
        name = mapping[status]
        assert isinstance(name, str)
        assert name
        assert dialect_status(dialect, status) == name


def test_dialects_cover_the_known_apis() -> None:
    assert {"mobizon", "bsg", "autocall", "isales", "wolkvox"} <= set(DIALECTS)


def test_mobizon_queued_auto_moderated_is_auto_ready_for_send() -> None:
    assert dialect_status("mobizon", CampaignStatus.QUEUED, moderated=False) == (
        "AUTO_READY_FOR_SEND"
    )
    assert dialect_status("mobizon", CampaignStatus.QUEUED, moderated=True) == "READY_FOR_SEND"
    assert dialect_status("mobizon", CampaignStatus.QUEUED) == "READY_FOR_SEND"


@pytest.mark.parametrize("status", [s for s in CampaignStatus if s is not CampaignStatus.QUEUED])
def test_moderated_flag_only_matters_for_mobizon_queued(status: CampaignStatus) -> None:
    for dialect in DIALECTS:
        assert dialect_status(dialect, status, moderated=False) == dialect_status(
            dialect, status, moderated=True
        )


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d != "mobizon"])
def test_moderated_flag_ignored_outside_mobizon(dialect: str) -> None:
    assert (
        dialect_status(dialect, CampaignStatus.QUEUED, moderated=False)
        == (DIALECT_CAMPAIGN_STATUS[dialect][CampaignStatus.QUEUED])
    )


def test_mobizon_documented_names() -> None:
    assert dialect_status("mobizon", CampaignStatus.DRAFT) == "NEW"
    assert dialect_status("mobizon", CampaignStatus.SCHEDULED) == "DEFERRED"
    # Mobizon has no pause and no STOPPED.
    assert dialect_status("mobizon", CampaignStatus.PAUSED) == "RUNNING"
    assert dialect_status("mobizon", CampaignStatus.STOPPED) == "DONE"


# --- campaign transitions ----------------------------------------------------------


def test_transition_table_is_keyed_by_action_and_uses_known_statuses() -> None:
    statuses = set(CampaignStatus)
    for action, t in CAMPAIGN_TRANSITIONS.items():
        assert isinstance(t, Transition)
        assert t.action == action
        assert t.allowed_from
        assert t.allowed_from <= statuses
        assert t.to in statuses


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(CampaignStatus))
def test_check_campaign_action_matches_allowed_from(action: str, status: CampaignStatus) -> None:
    transition = CAMPAIGN_TRANSITIONS[action]
    if status in transition.allowed_from:
        assert check_campaign_action(action, status) is transition
    else:
        with pytest.raises(TransitionError) as info:
            check_campaign_action(action, status)
        assert info.value.action == action
        assert info.value.current == status
        assert info.value.allowed == transition.allowed_from
        assert action in str(info.value)
        assert str(status) in str(info.value)


def test_check_campaign_action_unknown_action_is_key_error() -> None:
    with pytest.raises(KeyError):
        check_campaign_action("explode", CampaignStatus.DRAFT)


@pytest.mark.parametrize(
    ("action", "current", "to"),
    [
        ("start", "DRAFT", "RUNNING"),
        ("schedule", "DRAFT", "SCHEDULED"),
        ("moderate", "DRAFT", "MODERATION"),
        ("approve", "MODERATION", "QUEUED"),
        ("decline", "MODERATION", "DECLINED"),
        ("activate", "QUEUED", "RUNNING"),
        ("activate", "SCHEDULED", "RUNNING"),
        ("pause", "RUNNING", "PAUSED"),
        ("resume", "PAUSED", "RUNNING"),
        ("stop", "SCHEDULED", "STOPPED"),
        ("stop", "PAUSED", "STOPPED"),
        ("complete", "RUNNING", "SENT"),
        ("finish", "SENT", "DONE"),
        ("retry", "DONE", "RUNNING"),
        ("retry", "STOPPED", "RUNNING"),
    ],
)
def test_documented_transitions(action: str, current: str, to: str) -> None:
    assert check_campaign_action(action, current).to == to


@pytest.mark.parametrize(
    ("action", "current"),
    [
        ("pause", "DRAFT"),
        ("resume", "RUNNING"),
        ("retry", "RUNNING"),
        ("start", "RUNNING"),
        ("stop", "DRAFT"),
        ("stop", "DONE"),
        ("stop", "STOPPED"),
        ("approve", "DRAFT"),
    ],
)
def test_illegal_transitions(action: str, current: str) -> None:
    with pytest.raises(TransitionError):
        check_campaign_action(action, current)


def test_every_status_is_reachable_from_draft() -> None:
    assert set(CampaignStatus) == REACHABLE


def test_declined_is_terminal() -> None:
    assert not [t for t in CAMPAIGN_TRANSITIONS.values() if "DECLINED" in t.allowed_from]


def test_done_only_allows_retry() -> None:
    outgoing = {a for a, t in CAMPAIGN_TRANSITIONS.items() if CampaignStatus.DONE in t.allowed_from}
    assert outgoing == {"retry"}


@given(st.lists(st.sampled_from(ACTIONS), max_size=60))
def test_random_action_sequences_stay_in_the_table(actions: list[str]) -> None:
    status: str = CampaignStatus.DRAFT
    for action in actions:
        if status == CampaignStatus.DONE:
            legal = {a for a in ACTIONS if _legal(a, status)}
            assert legal == {"retry"}
        try:
            transition = check_campaign_action(action, status)
        except TransitionError:
            assert status not in CAMPAIGN_TRANSITIONS[action].allowed_from
            continue
        assert status in transition.allowed_from
        status = transition.to
        assert status in REACHABLE
        assert status in set(CampaignStatus)


def _legal(action: str, status: str) -> bool:
    try:
        check_campaign_action(action, status)
    except TransitionError:
        return False
    return True


# --- message statuses ---------------------------------------------------------------


def test_final_and_pending_partition_message_statuses() -> None:
    assert frozenset(MessageStatus) == FINAL_MESSAGE_STATUSES | PENDING_MESSAGE_STATUSES
    assert not FINAL_MESSAGE_STATUSES & PENDING_MESSAGE_STATUSES
    assert {
        MessageStatus.NEW,
        MessageStatus.SENDING,
        MessageStatus.ACCEPTED,
    } == PENDING_MESSAGE_STATUSES


def test_report_and_retryable_statuses_are_final() -> None:
    assert REPORT_STATUSES <= FINAL_MESSAGE_STATUSES
    assert RETRYABLE_MESSAGE_STATUSES <= FINAL_MESSAGE_STATUSES
    assert MessageStatus.DELETED not in RETRYABLE_MESSAGE_STATUSES


@pytest.mark.parametrize("to", sorted(REPORT_STATUSES))
def test_report_transition_accepts_report_outcomes(to: MessageStatus) -> None:
    t = report_transition(to)
    assert t.to == to
    assert t.allowed_from == REPORT_FROM
    assert t.action == f"report:{to}"


@pytest.mark.parametrize("to", sorted(set(MessageStatus) - REPORT_STATUSES))
def test_report_transition_rejects_non_report_statuses(to: MessageStatus) -> None:
    with pytest.raises(ValueError, match="not a delivery report outcome"):
        report_transition(to)


def test_message_transition_table_is_consistent() -> None:
    for action, t in MESSAGE_TRANSITIONS.items():
        assert t.action == action
        assert t.allowed_from <= set(MessageStatus)
        assert t.to in set(MessageStatus)
        # No message transition may leave a final status except a retry.
        if action != "retry":
            assert not t.allowed_from & FINAL_MESSAGE_STATUSES
    assert MESSAGE_TRANSITIONS["retry"].allowed_from == RETRYABLE_MESSAGE_STATUSES
    assert MESSAGE_TRANSITIONS["retry"].to == MessageStatus.NEW
