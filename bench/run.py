"""``make bench``: every benchmark in one run, one table, copied into docs/performance.md.

    .venv/bin/python bench/run.py [--duration 60] [--full] [--no-docs]

Runs, each in its own process and each with its same-run baseline:

* bench/dispatch.py: dispatch on SQLite, one process (50,000 messages; ``--full``:
  its default 200,000);
* bench/import.py: a 200,000-row CSV (``--full``: 1,000,000 rows and the XLSX);
* bench/smpp.py: SMPP submit throughput, window 50 against window 1 (20,000 messages);
* bench/predictive.py: predictive dialing against preview 1:1 (simulation);
* bench/api.py: Mobizon AddRecipients and GetSMSStatus under 64 concurrent clients for
  ``--duration`` seconds each, against a bare Starlette server;
* bench/dispatch_pg.py: dispatch on PostgreSQL with 1, 2 and 4 ``clarion worker``
  processes against a psycopg claim loop (120,000 messages, 3 rounds; needs the PostgreSQL at
  its default URL); when it is absent or gives no figures, those rows say "pending".

A benchmark that is missing is listed as skipped; one that fails is listed with its
exit code, and the run's exit code is then 1. The table and
the machine description replace the part of docs/performance.md between its
``bench:results`` markers (``--no-docs``: print only).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
PENDING = "pending (distributed dispatch)"


@dataclass
class Row:
    what: str
    value: str
    baseline: str = ""
    ratio: str = ""
    note: str = ""


@dataclass
class Bench:
    script: str
    args: list[str]
    full_args: list[str]
    rows: list[Row] = field(default_factory=list)
    status: str = ""
    output: str = ""


def number(text: str, label: str) -> str | None:
    """The first number after ``label`` on a line of ``text``."""
    match = re.search(re.escape(label) + r"\s+([\d,]+(?:\.\d+)?)", text)
    return match.group(1) if match else None


def parse_dispatch(text: str) -> list[Row]:
    rate, base = number(text, "Clarion messages/s"), number(text, "baseline rows/s (median)")
    ratio = number(text, "ratio Clarion / baseline")
    if rate is None:
        return []
    return [
        Row(
            "dispatch, SQLite, 1 process (msg/s)",
            rate,
            f"{base} rows/s (bare sqlite3)",
            ratio or "",
            "fake channel, whole message life",
        )
    ]


def parse_dispatch_pg(text: str) -> list[Row]:
    base = number(text, "baseline (psycopg claim loop)")
    rows = []
    for match in re.finditer(
        r"^(\d+) worker\(s\)\s+([\d,]+)(?:\s+([\d.]+))?\s+([\d.]+)\s*$", text, flags=re.M
    ):
        workers, rate, scale, ratio = match.groups()
        plural = "s" * (workers != "1")
        note = f"{scale} x 1 worker" if scale and workers != "1" else "fake channel"
        median = re.search(r"median round ([\d.]+)", text)
        if workers == "2" and median:
            note += f" (best rounds); median same-round ratio {median.group(1)}"
        rows.append(
            Row(
                f"dispatch, PostgreSQL, {workers} worker{plural} (msg/s)",
                rate,
                f"{base} rows/s (psycopg claim loop)",
                ratio,
                note,
            )
        )
    return rows


def parse_import(text: str) -> list[Row]:
    rows: list[Row] = []
    for block in re.split(r"^-- ", text, flags=re.M)[1:]:
        label = block.splitlines()[0]
        rate = number(block, "Clarion rows/s")
        if rate is not None:
            rows.append(
                Row(
                    f"import {label} (rows/s)",
                    rate,
                    f"{number(block, 'baseline rows/s')} rows/s (csv + phonenumbers)",
                    number(block, "ratio Clarion / baseline") or "",
                    f"peak RSS {number(block, 'peak RSS, tree (MB)')} MB",
                )
            )
    return rows


def parse_smpp(text: str) -> list[Row]:
    windows = [w for w in re.findall(r"window (\d+): submit_sm/s\s+([\d,]+)", text) if w[0] != "1"]
    one = number(text, "window 1: submit_sm/s")
    ratio = re.search(r"ratio window \d+ / window 1\s+([\d.]+)", text)
    if not windows:
        return []
    window, rate = windows[0]
    return [
        Row(
            f"SMPP submit, window {window} (submit_sm/s)",
            rate,
            f"{one} /s (window 1)",
            ratio.group(1) if ratio else "",
            "test SMSC, loopback",
        )
    ]


PREDICTIVE = ("agent occupancy", "abandon rate (run)", "connects/hour")


def parse_predictive(text: str) -> list[Row]:
    rows = []
    for line in text.splitlines():
        for label in PREDICTIVE:
            if line.startswith(label):
                cells = line[len(label) :].split()
                if len(cells) >= 2:
                    ratio = (
                        cells[2] if len(cells) > 2 and not cells[2].startswith(("<", ">")) else ""
                    )
                    rows.append(
                        Row(
                            f"predictive dialer: {label}",
                            cells[0],
                            f"{cells[1]} (preview 1:1)",
                            ratio,
                            "simulation, 50 agents",
                        )
                    )
    return rows


def parse_api(text: str) -> list[Row]:
    rows = []
    for line in text.splitlines():
        match = re.match(
            r"(addrecipients|getsmsstatus)\s+Clarion\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)",
            line,
        )
        if match:
            method, rate, p50, p99, errors, ratio = match.groups()
            base = re.search(rf"{method}\s+baseline\s+([\d,]+)", text)
            name = {"addrecipients": "AddRecipients", "getsmsstatus": "GetSMSStatus"}[method]
            rows.append(
                Row(
                    f"Mobizon {name}, 64 clients (req/s)",
                    rate,
                    f"{base.group(1) if base else '?'} req/s (bare Starlette)",
                    ratio,
                    f"p50 {p50} ms, p99 {p99} ms, {errors} errors",
                )
            )
    return rows


PARSERS = {
    "dispatch.py": parse_dispatch,
    "dispatch_pg.py": parse_dispatch_pg,
    "import.py": parse_import,
    "smpp.py": parse_smpp,
    "predictive.py": parse_predictive,
    "api.py": parse_api,
}


def run(bench: Bench, full: bool) -> None:
    path = ROOT / "bench" / bench.script
    if not path.exists():
        bench.status = "skipped (not present)"
        return
    args = bench.full_args if full else bench.args
    print(f"== {bench.script} {' '.join(args)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own scripts
        [sys.executable, str(path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    bench.output = done.stdout
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr[-2000:])
    bench.status = (
        f"ok, {time.perf_counter() - started:.0f} s"
        if done.returncode == 0
        else (f"FAILED (exit {done.returncode})")
    )
    bench.rows = PARSERS[bench.script](done.stdout)


def machine() -> str:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.system()} {platform.release()}"
    )


def table(benches: list[Bench], load: tuple[float, float]) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"load average at start {load[0]:.2f}, at end {os.getloadavg()[0]:.2f}.",
        "",
        "| benchmark | Clarion | same-run baseline | ratio | notes |",
        "|---|---|---|---|---|",
    ]
    for bench in benches:
        for row in bench.rows:
            lines.append(
                f"| {row.what} | {row.value} | {row.baseline} | {row.ratio} | {row.note} |"
            )
        if not bench.rows or not bench.status.startswith("ok"):
            lines.append(f"| bench/{bench.script} | {bench.status} | | | |")
        pg_measured = any(b.script == "dispatch_pg.py" and b.rows for b in benches)
        if bench.script == "dispatch.py" and not pg_measured:
            for workers in (1, 2, 4):
                lines.append(
                    f"| dispatch, PostgreSQL, {workers} worker{'s' * (workers > 1)} "
                    f"(msg/s) | {PENDING} | | | |"
                )
    return "\n".join(lines) + "\n"


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in doc or END not in doc:
        doc += f"\n{START}\n{END}\n"
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{text}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per API run")
    parser.add_argument("--full", action="store_true", help="each benchmark's full size")
    parser.add_argument("--no-docs", action="store_true", help="do not update the doc")
    args = parser.parse_args(argv)
    api = ["--duration", f"{args.duration:g}"]
    benches = [
        Bench("dispatch.py", ["--messages", "50000"], []),
        Bench("dispatch_pg.py", [], []),
        Bench("import.py", ["--rows", "200000", "--xlsx-rows", "0"], []),
        Bench("smpp.py", ["--messages", "20000", "--window-one-messages", "2000"], []),
        Bench("predictive.py", ["--numbers", "5000"], []),
        Bench("api.py", api, api),
    ]
    load = os.getloadavg()[:2]
    for bench in benches:
        run(bench, args.full)
    result = table(benches, (load[0], load[1]))
    print()
    print(result)
    if not args.no_docs:
        write_doc(result)
        print(f"(written to {DOC.relative_to(ROOT)})")
    return 1 if any(b.status.startswith("FAILED") for b in benches) else 0


if __name__ == "__main__":
    sys.exit(main())
