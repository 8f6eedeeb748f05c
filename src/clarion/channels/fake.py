"""A deterministic in-memory channel for tests and benchmarks.

It accepts everything at once (zero latency), records what it was given, and
immediately reports ``report_status`` (DELIVERED by default) for each accepted
message. Per-phone outcomes can be scripted with ``outcomes``; ``fail_with`` makes
the next ``submit`` raise (a carrier connection dropping mid-call).
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
from clarion.config import Settings
from clarion.domain.lifecycle import MessageStatus


class FakeChannel:
    name = "fake"

    def __init__(
        self,
        sink: ReportSink,
        *,
        report_status: MessageStatus | None = MessageStatus.DELIVERED,
        outcomes: dict[str, Outcome] | None = None,
        record: bool = True,
    ) -> None:
        self.sink = sink
        self.report_status = report_status
        self.outcomes = outcomes or {}
        self.record = record
        self.submitted: list[Submission] = []
        self.accepted: dict[str, SubmitResult] = {}
        self.fail_with: Exception | None = None
        self.submit_calls = 0

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        self.submit_calls += 1
        if self.fail_with is not None:
            exc, self.fail_with = self.fail_with, None
            raise exc
        results: list[SubmitResult] = []
        reports: list[DeliveryReport] = []
        outcomes = self.outcomes
        for sub in batch:
            outcome = outcomes.get(sub.phone, Outcome.ACCEPTED) if outcomes else Outcome.ACCEPTED
            if outcome is Outcome.ACCEPTED:
                result = SubmitResult(sub.reference, outcome, f"fake-{sub.reference}")
                if self.record:
                    self.accepted[sub.reference] = result
                if self.report_status is not None:
                    reports.append(
                        DeliveryReport(self.report_status, result.channel_ref, sub.message_id)
                    )
            else:
                result = SubmitResult(sub.reference, outcome, None, f"fake-{outcome.lower()}")
            results.append(result)
        if self.record:
            self.submitted.extend(batch)
        if reports:
            self.sink(reports)
        return results

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        return {r: self.accepted[r] for r in references if r in self.accepted}

    async def close(self) -> None:
        return None


@register("fake")
def _build(settings: Settings, sink: ReportSink) -> FakeChannel:
    return FakeChannel(sink)
