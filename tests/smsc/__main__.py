"""Run the test SMSC alone: ``python -m tests.smsc [--receipt-delay S]`` (from the repo
root). Prints ``port N`` once listening on 127.0.0.1, then ``submits N receipts N``
when stdin closes, and exits."""

from __future__ import annotations

import argparse
import asyncio
import sys

from tests.smsc.server import Smsc


async def serve(args: argparse.Namespace) -> None:
    smsc = Smsc({args.system_id: args.password}, receipt_delay=args.receipt_delay)
    port = await smsc.start()
    sys.stdout.write(f"port {port}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    accepted = len(smsc.accepted())
    sys.stdout.write(f"submits {len(smsc.submits)} accepted {accepted} "
                     f"receipts {smsc.receipts_acked}\n")  # fmt: skip
    sys.stdout.flush()
    await smsc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="test SMSC on 127.0.0.1")
    parser.add_argument("--system-id", default="clarion")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--receipt-delay", type=float, default=0.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
