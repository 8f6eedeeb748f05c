"""Per-campaign send pacing with Mobizon's semantics.

A campaign with ``rate_limit`` messages per ``rate_period`` seconds sends in packets
of 10 at equal intervals: the effective rate is ``rate_limit / rate_period`` msg/s,
and a packet of ``n`` messages is followed by a pause of ``n / rate`` seconds. The
rate is capped by ``max_campaign_rate`` (Settings, 100 msg/s by default; 0 turns the
ceiling off). A campaign without a rate limit runs at the ceiling, or unpaced when
the ceiling is off. Above 100 msg/s (a raised ceiling) packets grow to a tenth of a
second's worth, so pacing costs at most ten wake-ups a second.

A carrier that throttles or defers part of a batch (THROTTLED / TEMPORARY outcomes)
holds the campaign for a back-off (``throttle_backoff`` in Settings), paced or not:
an unpaced campaign (ceiling 0) must not hammer a carrier that asked it to slow down.
Pure: ``now`` is passed in (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET = 10


def effective_rate(
    rate_limit: int | None, rate_period: int | None, *, ceiling: int
) -> float | None:
    """Messages per second, or None for unpaced."""
    rate: float | None = None
    if rate_limit:
        rate = rate_limit / (rate_period or 1)
    if ceiling > 0:
        rate = float(ceiling) if rate is None else min(rate, float(ceiling))
    return rate


@dataclass(slots=True)
class Pacer:
    rate: float | None
    next_at: float = 0.0

    def allowance(self, now: float, batch_size: int) -> int:
        """How many messages may go now (0 = wait until ``next_at``)."""
        if now < self.next_at:
            return 0
        if self.rate is None:
            return batch_size
        return min(max(PACKET, int(self.rate / 10)), batch_size)

    def sent(self, now: float, count: int) -> None:
        if self.rate is None or count == 0:
            return
        self.next_at = max(self.next_at, now) + count / self.rate

    def back_off(self, now: float, seconds: float) -> None:
        """Nothing goes before ``now + seconds`` (an earlier slot is never brought
        forward); an unpaced pacer waits too."""
        self.next_at = max(self.next_at, now + seconds)
