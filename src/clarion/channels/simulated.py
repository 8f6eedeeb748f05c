"""What the simulated carriers share: seeded draws and delayed delivery reports."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random

from clarion.channels.base import DeliveryReport, ReportSink


def seeded(seed: int, key: str) -> random.Random:
    """A generator fixed by (seed, key): the same message attempt always draws the
    same fate, whatever the batching or timing."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


class DelayedReports:
    """Delivery reports handed to the sink after a delay (event-loop timers); the
    pending ones are dropped on ``cancel`` (a carrier connection closing)."""

    def __init__(self, sink: ReportSink) -> None:
        self.sink = sink
        self._pending: dict[int, asyncio.TimerHandle] = {}
        self._keys = itertools.count()

    def later(self, delay: float, report: DeliveryReport) -> None:
        key = next(self._keys)
        loop = asyncio.get_running_loop()
        self._pending[key] = loop.call_later(delay, self._deliver, key, report)

    def _deliver(self, key: int, report: DeliveryReport) -> None:
        self._pending.pop(key, None)
        self.sink([report])

    def cancel(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
