"""``sim_sms``: a simulated SMS carrier, the default channel.

It behaves like a carrier with an SMPP-ish life: submit (after ``sim_submit_latency``
seconds) answers ACCEPTED with its own message id, except a ``sim_rejected_rate``
share refused outright; a delivery report follows after a delay drawn between
``sim_dlr_min_delay`` and ``sim_dlr_max_delay``: UNDELIVERED for a
``sim_undelivered_rate`` share, EXPIRED if the delay exceeds the message's
validity, DELIVERED otherwise.

Every draw comes from a generator seeded with ``sim_seed`` and the submission's
reference, so the fate of a given message attempt is reproducible across runs
whatever the batching or timing. With both delays 0 the report is handed in during
``submit`` itself (a synchronous carrier).

Its memory (for ``lookup``) does not survive a restart, like a carrier that has purged
old ids, unless ``sim_ledger`` names a file: then it is a carrier with a durable record
shared by every process using the same file (an SQLite database). Every submission it
accepts is written there before ``submit`` returns, so tests can count duplicates and
misses exactly across workers that are killed at any moment (``submissions``), and
``lookup`` is *authoritative*: a reference it does not find was never received, so
the dispatcher may send that message again instead of marking it UNKNOWN. A reference
it finds is ACCEPTED and its report is handed in again (the carrier still owes it).
"""

from __future__ import annotations

import asyncio
import random
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
from clarion.store.sim_ledger import SubmissionLedger


class SimulatedSms:
    name = "sim_sms"

    def __init__(
        self,
        sink: ReportSink,
        *,
        seed: int = 1,
        submit_latency: float = 0.0,
        dlr_min_delay: float = 0.5,
        dlr_max_delay: float = 3.0,
        undelivered_rate: float = 0.03,
        rejected_rate: float = 0.0,
        ledger: str = "",
    ) -> None:
        if not 0 <= dlr_min_delay <= dlr_max_delay:
            raise ValueError("need 0 <= dlr_min_delay <= dlr_max_delay")
        self.sink = sink
        self.seed = seed
        self.submit_latency = submit_latency
        self.dlr_min_delay = dlr_min_delay
        self.dlr_max_delay = dlr_max_delay
        self.undelivered_rate = undelivered_rate
        self.rejected_rate = rejected_rate
        self.known: dict[str, SubmitResult] = {}
        self.reports = DelayedReports(sink)
        self.ledger = SubmissionLedger(ledger) if ledger else None
        self.authoritative_lookup = self.ledger is not None

    def _rng(self, reference: str) -> random.Random:
        return seeded(self.seed, reference)

    def fate(self, sub: Submission) -> tuple[Outcome, MessageStatus, float]:
        """(submit outcome, final report, report delay) for one submission."""
        rng = self._rng(sub.reference)
        if rng.random() < self.rejected_rate:
            return Outcome.PERMANENT, MessageStatus.REJECTED, 0.0
        delay = rng.uniform(self.dlr_min_delay, self.dlr_max_delay)
        if rng.random() < self.undelivered_rate:
            status = MessageStatus.UNDELIVERED
        elif sub.validity_minutes is not None and delay > sub.validity_minutes * 60:
            status = MessageStatus.EXPIRED
        else:
            status = MessageStatus.DELIVERED
        return Outcome.ACCEPTED, status, delay

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        if self.submit_latency:
            await asyncio.sleep(self.submit_latency)
        results: list[SubmitResult] = []
        accepted: list[tuple[Submission, DeliveryReport, float]] = []
        for sub in batch:
            outcome, status, delay = self.fate(sub)
            if outcome is not Outcome.ACCEPTED:
                results.append(SubmitResult(sub.reference, outcome, None, "sim-rejected"))
                continue
            ref = f"sim-{sub.reference}"
            result = SubmitResult(sub.reference, outcome, ref)
            self.known[sub.reference] = result
            results.append(result)
            error = "sim-undelivered" if status is MessageStatus.UNDELIVERED else None
            accepted.append((sub, DeliveryReport(status, ref, sub.message_id, error), delay))
        if self.ledger is not None and accepted:
            self.ledger.record(
                [(sub.reference, sub.message_id, sub.phone) for sub, _r, _d in accepted]
            )
        self._report([(report, delay) for _sub, report, delay in accepted])
        return results

    def _report(self, reports: Sequence[tuple[DeliveryReport, float]]) -> None:
        now = [r for r, delay in reports if delay <= 0 and self.dlr_max_delay <= 0]
        if now:
            self.sink(now)  # a synchronous carrier: the report comes with the answer
        for report, delay in reports:
            if not (delay <= 0 and self.dlr_max_delay <= 0):
                self.reports.later(delay, report)

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        if self.ledger is None:
            return {r: self.known[r] for r in references if r in self.known}
        found: dict[str, SubmitResult] = {}
        owed: list[tuple[DeliveryReport, float]] = []
        for reference, message_id in self.ledger.find(references):
            sub = Submission(message_id, reference, "", "", "", 1)
            _outcome, status, delay = self.fate(sub)
            ref = f"sim-{reference}"
            found[reference] = SubmitResult(reference, Outcome.ACCEPTED, ref)
            error = "sim-undelivered" if status is MessageStatus.UNDELIVERED else None
            owed.append((DeliveryReport(status, ref, message_id, error), delay))
        self._report(owed)
        return found

    async def close(self) -> None:
        self.reports.cancel()
        if self.ledger is not None:
            self.ledger.close()


@register("sim_sms")
def _build(settings: Settings, sink: ReportSink) -> SimulatedSms:
    return SimulatedSms(
        sink,
        seed=settings.sim_seed,
        submit_latency=settings.sim_submit_latency,
        dlr_min_delay=settings.sim_dlr_min_delay,
        dlr_max_delay=settings.sim_dlr_max_delay,
        undelivered_rate=settings.sim_undelivered_rate,
        rejected_rate=settings.sim_rejected_rate,
        ledger=settings.sim_ledger,
    )
