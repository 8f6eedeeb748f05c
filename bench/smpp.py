"""SMPP submit throughput over loopback to the test SMSC: window 1 against window 50.

    .venv/bin/python bench/smpp.py [--messages N] [--window-one-messages M]
                                   [--window W] [--batch B] [--no-receipts]

The test SMSC (tests/smsc/, an independent implementation) runs in a child process
on 127.0.0.1, so the client and the server each have a core. For each window size
the ``smpp`` channel is built the way the dispatcher builds it, bound, and given
batches of ``--batch`` (500) one-part GSM-7 submissions through ``Channel.submit``, as
the dispatcher calls it, until all are sent; the clock runs from the first batch to
the last result. Receipts (registered_delivery=1) flow back during the run unless
``--no-receipts``, as they would in production, and the run waits for all of them
(untimed) before checking.

The window-1 run is the same-run baseline: one outstanding submit_sm at a time, so
each message costs a full round trip. The printed ratio is window W / window 1.

Outcome check (exit 1 when wrong, never for a missed target): every submission
ACCEPTED with a distinct SMSC id, and, with receipts, exactly one DELIVERED report per
message; the SMSC's own counts (printed when it exits) must equal the messages sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from clarion.channels.base import DeliveryReport, Outcome, Submission
from clarion.channels.smpp import SmppChannel
from clarion.channels.smpp.config import SmppConfig
from clarion.domain.lifecycle import MessageStatus

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATE = 2_000.0  # submit_sm/s with window 50
TEXT = "Spring sale: 20% off everything until Sunday. Reply STOP to opt out."


class BenchError(Exception):
    """The outcome is wrong (not a timing miss)."""


@dataclass(frozen=True, slots=True)
class Run:
    window: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def start_smsc() -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.smsc"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "port":
        proc.kill()
        raise BenchError(f"test SMSC did not start: {line}")
    return proc, int(line[1])


def stop_smsc(proc: subprocess.Popen[str]) -> dict[str, int]:
    out, _ = proc.communicate(input="", timeout=30)
    words = out.split()
    return {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}


async def run(port: int, *, window: int, count: int, batch: int, receipts: bool) -> Run:
    config = SmppConfig.model_validate(
        {
            "connections": [
                {
                    "name": "bench",
                    "host": "127.0.0.1",
                    "port": port,
                    "system_id": "clarion",
                    "password": "secret",
                    "window": window,
                    "registered_delivery": 1 if receipts else 0,
                }
            ]
        }
    )
    reports: list[DeliveryReport] = []
    channel = SmppChannel(config, reports.extend)
    try:
        await asyncio.wait_for(channel.wait_bound(), 10)
        subs = [Submission(i, f"{i}-1", f"+7701{i:07d}", "Clarion", TEXT, 1) for i in range(count)]
        ids: set[str] = set()
        started = time.perf_counter()
        for start in range(0, count, batch):
            results = await channel.submit(subs[start : start + batch])
            for r in results:
                if r.outcome is not Outcome.ACCEPTED or r.channel_ref is None:
                    raise BenchError(f"{r.reference}: {r.outcome} {r.error}")
                ids.add(r.channel_ref)
        seconds = time.perf_counter() - started
        if len(ids) != count:
            raise BenchError(f"{len(ids)} distinct SMSC ids for {count} messages")
        if receipts:
            async with asyncio.timeout(60):
                while True:
                    if len(reports) >= count:
                        break
                    await asyncio.sleep(0.01)
            delivered = {r.message_id for r in reports if r.status is MessageStatus.DELIVERED}
            if len(reports) != count or len(delivered) != count:
                raise BenchError(f"{len(reports)} reports, {len(delivered)} distinct DELIVERED")
    finally:
        await channel.close()
    return Run(window, count, seconds)


async def bench(args: argparse.Namespace) -> int:
    load = os.getloadavg()[0]
    runs: list[Run] = []
    for window, count in ((1, args.window_one_messages), (args.window, args.messages)):
        proc, port = start_smsc()
        try:
            result = await run(
                port, window=window, count=count, batch=args.batch, receipts=args.receipts
            )
        finally:
            counts = stop_smsc(proc)
        expected = {"submits": count, "accepted": count, "receipts": count if args.receipts else 0}
        if counts != expected:
            raise BenchError(f"test SMSC counted {counts}, expected {expected}")
        runs.append(result)
        print(f"window {window}: {result.rate:,.0f} submit_sm/s", file=sys.stderr)
    one, many = runs
    ratio = many.rate / one.rate
    ok = "PASS" if many.rate >= TARGET_RATE else "MISS"
    print()
    print(f"{'':<34}{'value':>12}  {'target':>10}")
    print(f"{'receipts flowing':<34}{'yes' if args.receipts else 'no':>12}")
    print(f"{'load average (1 min, start)':<34}{load:>12.2f}")
    print(f"{'window 1: messages':<34}{one.messages:>12,}")
    print(f"{'window 1: submit_sm/s':<34}{one.rate:>12,.0f}")
    print(f"{f'window {many.window}: messages':<34}{many.messages:>12,}")
    print(f"{f'window {many.window}: submit_sm/s':<34}{many.rate:>12,.0f}  {'>= 2,000':>10}  {ok}")
    print(f"{f'ratio window {many.window} / window 1':<34}{ratio:>12.2f}")
    print()
    print("outcome: OK (every submission ACCEPTED once, SMSC counts match, receipts all DELIVERED)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=50_000, help="messages with window W")
    parser.add_argument("--window-one-messages", type=int, default=5_000, help="with window 1")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500, help="submissions per submit call")
    parser.add_argument("--no-receipts", dest="receipts", action="store_false")
    args = parser.parse_args(argv)
    if min(args.messages, args.window_one_messages, args.window, args.batch) <= 0:
        parser.error("counts must be positive")
    try:
        with tempfile.TemporaryDirectory():
            return asyncio.run(bench(args))
    except BenchError as exc:
        print(f"outcome: FAIL - {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
