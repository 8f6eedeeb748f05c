"""Mobizon API throughput under concurrent clients, against a bare Starlette baseline.

    .venv/bin/python bench/api.py [--duration 60] [--clients 64] [--ids 10]
                                  [--methods addrecipients,getsmsstatus]

Setup (not timed): a fresh SQLite file with one account, a DRAFT mass campaign that
AddRecipients fills, and a second campaign holding 1,000 messages whose statuses
GetSMSStatus reads. Two servers run in child processes on 127.0.0.1, both under
uvicorn with ``clarion serve``'s settings (clarion.api.server.config):

* Clarion: ``create_app`` (API + dialects + metrics middleware, no dispatcher);
* baseline: a bare Starlette app whose ``/service/{module}/{method}`` answers the same
  envelope JSON a Clarion call returns, without parsing or touching a database.

For each method, the load generator (this process: ``--clients`` asyncio tasks, each
with its own keep-alive connection, see :class:`Connection`) sends requests back to back for
``--duration`` seconds to each server in turn, as a Mobizon client does
(``POST /service/campaign/addrecipients?output=json&api=v1&apiKey=KEY`` with a form
body ``id=C&recipients[]=+7701...`` of one new number; ``GetSMSStatus`` with
``ids[]=...`` of ``--ids`` message ids). Every answer must be HTTP 200 with code 0:
anything else is an error, and any error makes the exit code 1. Reported: requests/s,
p50 and p99 latency, errors, and the ratio to the baseline's requests/s in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from clarion.config import Settings

HERE = Path(__file__).resolve()
MESSAGES_TO_READ = 1_000


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    method: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def settings_for(db_path: Path, port: int) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db_path}",
        port=port,
        data_dir=str(db_path.parent / "data"),
        default_channel="fake",
        import_workers=0,
        web_secret="b" * 32,
        max_connections=4096,
    )


# --- the servers (child processes) -----------------------------------------------------


def serve_clarion(db_path: Path, port: int) -> None:
    import uvicorn

    from clarion.api import server
    from clarion.api.app import create_app

    settings = settings_for(db_path, port)
    uvicorn.Server(server.config(create_app(settings), settings)).run()


def serve_baseline(port: int, sample: dict[str, str]) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from clarion.api import server

    bodies = {name: json.loads(text) for name, text in sample.items()}

    async def answer(request: Request) -> JSONResponse:
        await request.body()
        method = request.path_params["method"].lower()
        return JSONResponse(bodies.get(method, {"code": 0, "data": [], "message": ""}))

    app = Starlette(routes=[Route("/service/{module}/{method}", answer, methods=["GET", "POST"])])
    settings = Settings(port=port, max_connections=4096)
    uvicorn.Server(server.config(app, settings)).run()


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE), *args])  # noqa: S603 - this script


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(url + "/service/user/getownbalance")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- setup ---------------------------------------------------------------------------


async def setup(db_path: Path) -> dict[str, Any]:
    from clarion.api.app import create_app
    from clarion.services import accounts
    from clarion.store.db import Database, upgrade

    upgrade(f"sqlite:///{db_path}")
    settings = settings_for(db_path, 0)
    db = Database(settings.database_url)
    new = await accounts.create(db, name="bench", balance=Decimal("1000000"), currency="USD")
    transport = httpx.ASGITransport(app=create_app(settings, db=db))
    headers = {"Authorization": f"Bearer {new.api_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as c:

        async def campaign(name: str) -> int:
            r = await c.post(
                "/v1/campaigns",
                json={"name": name, "text": "Hello", "sender": "Bench"},
                headers=headers,
            )
            r.raise_for_status()
            return int(r.json()["id"])

        fill, read = await campaign("filled by AddRecipients"), await campaign("read")
        numbers = [{"phone": f"+77020{n:06d}"} for n in range(MESSAGES_TO_READ)]
        r = await c.post(
            f"/v1/campaigns/{read}/recipients", json={"recipients": numbers}, headers=headers
        )
        r.raise_for_status()
        ids = [e["message_id"] for e in r.json()["recipients"]]
    await db.dispose()
    return {"key": new.api_key, "fill": fill, "ids": ids}


# --- load ----------------------------------------------------------------------------


class Calls:
    """The request bodies of one method, varied per call."""

    def __init__(self, method: str, prep: dict[str, Any], ids_per_call: int) -> None:
        self.method = method
        self.prep = prep
        self.ids_per_call = ids_per_call
        self.n = 0
        self.path = {
            "addrecipients": "/service/campaign/addrecipients",
            "getsmsstatus": "/service/message/getsmsstatus",
        }[method]
        self.query = urllib.parse.urlencode({"output": "json", "api": "v1", "apiKey": prep["key"]})

    def body(self) -> bytes:
        self.n += 1
        if self.method == "addrecipients":
            pairs = [("id", str(self.prep["fill"])), ("recipients[]", f"+7701{self.n:07d}")]
        else:
            ids = self.prep["ids"]
            start = (self.n * self.ids_per_call) % len(ids)
            chosen = (ids + ids)[start : start + self.ids_per_call]
            pairs = [("ids[]", str(i)) for i in chosen]
        return urllib.parse.urlencode(pairs).encode()


class Connection:
    """One HTTP/1.1 keep-alive connection over asyncio streams: the load generator.

    httpx's connection pool is the bottleneck at this concurrency (on this 2-core
    machine 64 concurrent httpx requests ran at ~47/s against a server that answers
    ~440/s to one sequential client), so each simulated client writes its request
    bytes and reads the response head and its Content-Length body itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, target: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {target} HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(
    base_url: str, calls: Calls, *, clients: int, duration: float, target: str
) -> Result:
    parts = urllib.parse.urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = f"{calls.path}?{calls.query}"
    latencies: list[float] = []
    errors = 0
    connections = [await Connection.open(host, port) for _ in range(clients)]
    for connection in connections:  # warm-up
        await connection.post(path, calls.body())
    deadline = time.perf_counter() + duration

    async def client(connection: Connection) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, body = await connection.post(path, calls.body())
                ok = status == 200 and json.loads(body).get("code") == 0
            except (OSError, ValueError, asyncio.IncompleteReadError, StopIteration):
                ok = False
                connection.close()
                connection = await Connection.open(host, port)
            latencies.append(time.perf_counter() - started)
            errors += not ok

    began = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    seconds = time.perf_counter() - began
    for connection in connections:
        connection.close()
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(
        target,
        calls.method,
        len(latencies),
        errors,
        seconds,
        quantiles[49] * 1000,
        quantiles[98] * 1000,
    )


async def sample_answers(base_url: str, prep: dict[str, Any], ids: int) -> dict[str, str]:
    """One real Clarion answer per method: what the baseline will return."""
    out: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=base_url) as client:
        for method in ("addrecipients", "getsmsstatus"):
            calls = Calls(method, prep, ids)
            calls.n = 9_000_000  # a number the load never uses
            r = await client.post(
                f"{calls.path}?{calls.query}",
                content=calls.body(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            body = r.json()
            if body.get("code") != 0:
                raise RuntimeError(f"{method} answered {body}")
            out[method] = r.text
    return out


def machine() -> str:
    import platform
    import sqlite3

    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return (
        f"{os.cpu_count()} cores, {mem / 1024:.1f} GiB RAM, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


async def bench(args: argparse.Namespace) -> list[Result]:
    directory = Path(tempfile.mkdtemp(prefix="clarion-api-bench-"))
    db_path = directory / "clarion.db"
    prep = await setup(db_path)
    port = free_port()
    clarion = spawn("--serve-clarion", str(db_path), str(port))
    results: list[Result] = []
    baseline: subprocess.Popen[bytes] | None = None
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_up(url)
        samples = await sample_answers(url, prep, args.ids)
        base_port = free_port()
        baseline = spawn("--serve-baseline", str(base_port), json.dumps(samples))
        base_url = f"http://127.0.0.1:{base_port}"
        await wait_up(base_url)
        for method in args.methods.split(","):
            for target, where in (("Clarion", url), ("baseline", base_url)):
                print(
                    f"{method} -> {target}: {args.clients} clients, {args.duration:.0f} s ...",
                    file=sys.stderr,
                )
                results.append(
                    await load(
                        where,
                        Calls(method, prep, args.ids),
                        clients=args.clients,
                        duration=args.duration,
                        target=target,
                    )
                )
    finally:
        for process in (clarion, baseline):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    return results


def report(results: list[Result], args: argparse.Namespace) -> None:
    base = {r.method: r for r in results if r.target == "baseline"}
    print()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{args.clients} clients, {args.duration:.0f} s per run, loopback, uvicorn (h11)")
    print(
        f"{'method':<16}{'target':<10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'ratio':>8}"
    )
    for r in results:
        ratio = r.rate / base[r.method].rate if r.method in base else float("nan")
        print(
            f"{r.method:<16}{r.target:<10}{r.rate:>10,.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
            f"{r.errors:>8}{ratio:>8.2f}"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-clarion"]:
        serve_clarion(Path(argv[1]), int(argv[2]))
        return 0
    if argv[:1] == ["--serve-baseline"]:
        serve_baseline(int(argv[1]), json.loads(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--ids", type=int, default=10, help="message ids per GetSMSStatus")
    parser.add_argument("--methods", default="addrecipients,getsmsstatus")
    args = parser.parse_args(argv)
    results = asyncio.run(bench(args))
    report(results, args)
    errors = sum(r.errors for r in results)
    if errors:
        print(f"outcome: FAIL - {errors} errors", file=sys.stderr)
        return 1
    print("outcome: OK (0 errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
