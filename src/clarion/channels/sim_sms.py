"""``sim_sms``: a simulated SMS carrier, the default channel.

It behaves like a carrier with an SMPP-ish life: submit (after ``sim_submit_latency``
seconds) answers ACCEPTED with its own message id, except a ``sim_rejected_rate``
share refused outright; a delivery report follows after a delay drawn between
``sim_dlr_min_delay`` and ``sim_dlr_max_delay``: UNDELIVERED for a
``sim_undelivered_rate`` share, EXPIRED if the delay exceeds the message's
validity, DELIVERED otherwise.

Every draw comes from a generator seeded with ``sim_seed`` and the submission's
reference, so the fate of a given message attempt is reproducible across runs
whatever the batching or timing. Its memory (for ``lookup``) does not survive a
restart, like a carrier that has purged old ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
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
from clarion.config import Settings
from clarion.domain.lifecycle import MessageStatus


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
        self._pending: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()

    def _rng(self, reference: str) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}:{reference}".encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big"))

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
        loop = asyncio.get_running_loop()
        results: list[SubmitResult] = []
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
            report = DeliveryReport(status, ref, sub.message_id, error)
            key = next(self._keys)
            self._pending[key] = loop.call_later(delay, self._deliver, key, report)
        return results

    def _deliver(self, key: int, report: DeliveryReport) -> None:
        self._pending.pop(key, None)
        self.sink([report])

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        return {r: self.known[r] for r in references if r in self.known}

    async def close(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()


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
    )
