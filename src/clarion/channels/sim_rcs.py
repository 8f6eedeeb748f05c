"""``sim_rcs``: a simulated RCS carrier (RBM-style), the default RCS channel.

Capability is a property of the number, as on a real RCS network: a deterministic
share ``sim_rcs_capable_share`` of numbers (chosen by a hash of ``sim_seed`` and the
number, so the same number is always capable or always not) can receive RCS.

* a submission to a number that is not RCS-capable is refused at once (PERMANENT,
  error ``rcs-not-capable``), as an RBM platform answers a capability check; Clarion
  records it REJECTED (not charged) and, when the campaign has an SMS fallback, sends
  the alternative text instead;
* a capable number answers ACCEPTED (the RCS ``SENT`` state) and a report follows
  after a delay drawn between ``sim_dlr_min_delay`` and ``sim_dlr_max_delay``:
  UNDELIVERED for a ``sim_rcs_undelivered_rate`` share, EXPIRED when the delay exceeds
  the message's validity, otherwise DELIVERED, or READ for a ``sim_rcs_read_share``
  share of the delivered ones (a read message was delivered first; the carrier's last
  word is what is recorded).

Every draw is seeded by ``sim_seed`` and the submission's reference, so a run is
reproducible whatever the batching. Like ``sim_sms`` its memory does not survive a
restart. The intermediate ``SENT`` report of a real carrier is not emitted: Clarion's
ACCEPTED already means it.
"""

from __future__ import annotations

from collections.abc import Sequence

from clarion.channels.base import (
    DeliveryReport,
    Outcome,
    ReportSink,
    Submission,
    SubmitResult,
    register,
)
from clarion.channels.simulated import DelayedReports, seeded
from clarion.config import Settings
from clarion.domain.lifecycle import MessageStatus

NOT_CAPABLE = "rcs-not-capable"


class SimulatedRcs:
    name = "sim_rcs"

    def __init__(
        self,
        sink: ReportSink,
        *,
        seed: int = 1,
        capable_share: float = 0.7,
        read_share: float = 0.5,
        undelivered_rate: float = 0.03,
        dlr_min_delay: float = 0.5,
        dlr_max_delay: float = 3.0,
    ) -> None:
        if not 0 <= dlr_min_delay <= dlr_max_delay:
            raise ValueError("need 0 <= dlr_min_delay <= dlr_max_delay")
        for label, share in (
            ("capable_share", capable_share),
            ("read_share", read_share),
            ("undelivered_rate", undelivered_rate),
        ):
            if not 0 <= share <= 1:
                raise ValueError(f"{label} must be between 0 and 1")
        self.sink = sink
        self.seed = seed
        self.capable_share = capable_share
        self.read_share = read_share
        self.undelivered_rate = undelivered_rate
        self.dlr_min_delay = dlr_min_delay
        self.dlr_max_delay = dlr_max_delay
        self.known: dict[str, SubmitResult] = {}
        self.reports = DelayedReports(sink)

    def _draw(self, key: str) -> float:
        return seeded(self.seed, key).random()

    def capable(self, phone: str) -> bool:
        """Whether ``phone`` can receive RCS: fixed per number and seed."""
        return self._draw(f"capable:{phone}") < self.capable_share

    def fate(self, sub: Submission) -> tuple[Outcome, MessageStatus, float]:
        """(submit outcome, final report, report delay) for one submission."""
        if not self.capable(sub.phone):
            return Outcome.PERMANENT, MessageStatus.REJECTED, 0.0
        rng = seeded(self.seed, sub.reference)
        delay = rng.uniform(self.dlr_min_delay, self.dlr_max_delay)
        if rng.random() < self.undelivered_rate:
            status = MessageStatus.UNDELIVERED
        elif sub.validity_minutes is not None and delay > sub.validity_minutes * 60:
            status = MessageStatus.EXPIRED
        elif rng.random() < self.read_share:
            status = MessageStatus.READ
        else:
            status = MessageStatus.DELIVERED
        return Outcome.ACCEPTED, status, delay

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        results: list[SubmitResult] = []
        for sub in batch:
            outcome, status, delay = self.fate(sub)
            if outcome is not Outcome.ACCEPTED:
                results.append(SubmitResult(sub.reference, outcome, None, NOT_CAPABLE))
                continue
            ref = f"rcs-{sub.reference}"
            result = SubmitResult(sub.reference, outcome, ref)
            self.known[sub.reference] = result
            results.append(result)
            error = "rcs-undelivered" if status is MessageStatus.UNDELIVERED else None
            report = DeliveryReport(status, ref, sub.message_id, error)
            self.reports.later(delay, report)
        return results

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        return {r: self.known[r] for r in references if r in self.known}

    async def close(self) -> None:
        self.reports.cancel()


@register("sim_rcs")
def _build(settings: Settings, sink: ReportSink) -> SimulatedRcs:
    return SimulatedRcs(
        sink,
        seed=settings.sim_seed,
        capable_share=settings.sim_rcs_capable_share,
        read_share=settings.sim_rcs_read_share,
        undelivered_rate=settings.sim_rcs_undelivered_rate,
        dlr_min_delay=settings.sim_dlr_min_delay,
        dlr_max_delay=settings.sim_dlr_max_delay,
    )
