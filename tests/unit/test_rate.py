"""Send pacing (dispatch/rate.py). ``now`` is passed in, so nothing here sleeps."""

from __future__ import annotations

import pytest

from clarion.dispatch.rate import PACKET, Pacer, effective_rate


def test_packet_is_ten() -> None:
    assert PACKET == 10


@pytest.mark.parametrize(
    ("rate_limit", "rate_period", "ceiling", "expected"),
    [
        (None, None, 0, None),
        (None, None, 100, 100.0),
        (600, 60, 0, 10.0),
        (600, 60, 100, 10.0),
        (5, None, 0, 5.0),  # no period = per second
        (10_000, 1, 100, 100.0),  # capped by the ceiling
        (6000, 60, 50, 50.0),
        (1, 3600, 100, 1 / 3600),
        (0, 60, 0, None),  # rate_limit 0 means no limit
    ],
)
def test_effective_rate(
    rate_limit: int | None, rate_period: int | None, ceiling: int, expected: float | None
) -> None:
    rate = effective_rate(rate_limit, rate_period, ceiling=ceiling)
    if expected is None:
        assert rate is None
    else:
        assert rate == pytest.approx(expected)


def test_unpaced_pacer_returns_the_batch_size() -> None:
    pacer = Pacer(rate=None)
    assert pacer.allowance(0.0, 500) == 500
    pacer.sent(0.0, 500)
    assert pacer.next_at == 0.0
    assert pacer.allowance(0.0, 37) == 37


def test_pacer_sends_a_packet_of_ten_then_waits() -> None:
    pacer = Pacer(rate=10.0)
    now = 1000.0
    assert pacer.allowance(now, 500) == 10
    pacer.sent(now, 10)
    assert pacer.next_at == pytest.approx(now + 10 / 10.0)
    assert pacer.allowance(now, 500) == 0
    assert pacer.allowance(now + 0.5, 500) == 0
    assert pacer.allowance(pacer.next_at, 500) == 10


def test_pacer_interval_follows_rate() -> None:
    pacer = Pacer(rate=2.0)
    pacer.sent(50.0, 10)
    assert pacer.next_at == pytest.approx(50.0 + 10 / 2.0)


def test_packet_never_exceeds_batch_size() -> None:
    assert Pacer(rate=10.0).allowance(0.0, 3) == 3
    assert Pacer(rate=1000.0).allowance(0.0, 50) == 50


def test_partial_send_delays_proportionally() -> None:
    pacer = Pacer(rate=10.0)
    pacer.sent(0.0, 4)
    assert pacer.next_at == pytest.approx(0.4)


def test_sent_zero_does_not_move_next_at() -> None:
    pacer = Pacer(rate=10.0)
    pacer.sent(5.0, 0)
    assert pacer.next_at == 0.0
    assert pacer.allowance(5.0, 100) == 10


def test_late_send_counts_from_now_not_from_the_old_slot() -> None:
    pacer = Pacer(rate=10.0)
    pacer.sent(0.0, 10)  # next_at = 1.0
    pacer.sent(100.0, 10)  # long idle: the next slot is 1 s after *now*
    assert pacer.next_at == pytest.approx(101.0)


def test_back_off_pushes_next_at() -> None:
    pacer = Pacer(rate=10.0)
    pacer.back_off(10.0, 5.0)
    assert pacer.next_at == pytest.approx(15.0)
    assert pacer.allowance(12.0, 100) == 0
    assert pacer.allowance(15.0, 100) == 10


def test_back_off_never_shortens_an_existing_wait() -> None:
    pacer = Pacer(rate=1.0)
    pacer.sent(0.0, 10)  # next_at = 10
    pacer.back_off(0.0, 2.0)
    assert pacer.next_at == pytest.approx(10.0)


def test_back_off_holds_an_unpaced_pacer_too() -> None:
    # A carrier that asked to slow down is not hammered by a campaign without a rate.
    pacer = Pacer(rate=None)
    assert pacer.allowance(0.0, 20) == 20
    pacer.back_off(0.0, 5.0)
    assert pacer.allowance(1.0, 20) == 0
    assert pacer.allowance(5.0, 20) == 20
    pacer.sent(5.0, 20)  # sending unpaced sets no slot of its own
    assert pacer.allowance(5.0, 20) == 20


@pytest.mark.parametrize(
    ("rate", "packet"),
    [(1.0, 10), (10.0, 10), (100.0, 10), (150.0, 15), (1000.0, 100), (5000.0, 500)],
)
def test_large_rates_get_bigger_packets(rate: float, packet: int) -> None:
    assert Pacer(rate=rate).allowance(0.0, 10_000) == packet


def test_large_rate_pause_is_a_tenth_of_a_second() -> None:
    pacer = Pacer(rate=1000.0)
    n = pacer.allowance(0.0, 10_000)
    pacer.sent(0.0, n)
    assert pacer.next_at == pytest.approx(0.1)


def test_rate_over_a_simulated_minute() -> None:
    """600 per 60 s sends 600 messages in one simulated minute, never more."""
    pacer = Pacer(rate=effective_rate(600, 60, ceiling=100))
    now = 0.0
    sent = 0
    while now < 60.0:
        n = pacer.allowance(now, 500)
        if n:
            pacer.sent(now, n)
            sent += n
        now = max(now, pacer.next_at)
    assert sent == 600
