"""Predictive dialing against the fixed 1:1 preview baseline, in simulation.

    .venv/bin/python bench/predictive.py [--agents 50] [--numbers 20000]
                                         [--answer-rate 0.30] [--seed 20261126]

Both dialer modes run the same simulated campaign (clarion.domain.voice.simulation:
seeded, discrete-event, virtual clock, so a run takes seconds of CPU for hours of
calling): ``--agents`` agents (talk time log-normal, mean 90 s, sd 60 s, at least
10 s; wrap-up uniform 5-20 s; preview reading time 5 s), ``--numbers`` numbers, each
attempt answered by a person with probability ``--answer-rate`` (ring 3-18 s), else
busy 15 %, voicemail 10 % (detected), not-available 5 %, failed 3 %, the rest ringing
out at the 30 s ``call_timeout``; up to 2 recalls 10 minutes after busy, no answer,
voicemail, not-available or failed. A live answer with no agent within 2 s is
abandoned.

* baseline, preview 1:1: a free agent reserves a record, reads it, the call is placed
  for that agent, who waits through the ringing.
* predictive: the PredictivePacer decides after every event how many calls to place
  (target: at most 3 % of live answers abandoned over a rolling hour).

Output: agent occupancy ((talk + wrap-up) / logged-in time), abandon rate (of live
answers; also the worst full rolling hour), calls/hour (attempts) and connects/hour,
for both modes with their ratio, and PASS / MISS for the predictive targets (abandon
rate <= 3.0 %, occupancy >= 85 %). A missed target is only reported; the exit code is
1 only when an outcome is wrong: a number not in exactly one final state, the
counters disagreeing with the per-number states, or preview abandoning a call.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace

from clarion.domain.voice.simulation import (
    ABANDONED,
    CONNECTED,
    AgentPool,
    Callees,
    Mode,
    SimulationConfig,
    SimulationResult,
    simulate,
)

TARGET_ABANDON = 0.03  # of live answers
TARGET_OCCUPANCY = 0.85


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--answer-rate", type=float, default=0.30)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    if args.agents <= 0 or args.numbers <= 0 or not 0 < args.answer_rate <= 0.67:
        parser.error("--agents and --numbers must be positive, --answer-rate in (0, 0.67]")
    return args


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def problems(result: SimulationResult) -> list[str]:
    """What is wrong with an outcome (empty when it is right)."""
    found = []
    counts = result.final_counts()
    if len(result.final_states) != result.numbers or sum(counts.values()) != result.numbers:
        found.append(f"{result.mode}: {len(result.final_states)} final states, {result.numbers}")
    if counts[CONNECTED] != result.connected or counts[ABANDONED] != result.abandoned:
        found.append(f"{result.mode}: final states disagree with connected/abandoned counts")
    if result.connected + result.abandoned != result.live_answers:
        found.append(f"{result.mode}: connected + abandoned != live answers")
    if sum(result.attempts_per_number) != result.attempts:
        found.append(f"{result.mode}: per-number attempts do not add up to the attempts")
    if result.mode is Mode.PREVIEW and result.abandoned:
        found.append(f"preview abandoned {result.abandoned} calls")
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    config = SimulationConfig(
        mode=Mode.PREVIEW,
        numbers=args.numbers,
        seed=args.seed,
        agents=AgentPool(count=args.agents),
        callees=Callees(answer=args.answer_rate),
    )
    results: dict[Mode, SimulationResult] = {}
    seconds: dict[Mode, float] = {}
    for mode in (Mode.PREVIEW, Mode.PREDICTIVE):
        print(f"simulating {mode.value} ...", file=sys.stderr)
        started = time.perf_counter()
        results[mode] = simulate(replace(config, mode=mode))
        seconds[mode] = time.perf_counter() - started
    preview, predictive = results[Mode.PREVIEW], results[Mode.PREDICTIVE]

    def row(name: str, pred: str, prev: str, ratio: str = "", target: str = "") -> None:
        print(f"{name:<30}{pred:>14}{prev:>14}{ratio:>10}  {target}")

    print()
    print(
        f"{args.agents} agents, {args.numbers:,} numbers, answer rate {args.answer_rate:.0%}, "
        f"seed {args.seed}"
    )
    row("", "predictive", "preview 1:1", "ratio", "target")
    occupancy_ok = verdict(predictive.occupancy >= TARGET_OCCUPANCY)
    abandon_ok = verdict(predictive.abandon_rate <= TARGET_ABANDON)
    row(
        "agent occupancy",
        f"{predictive.occupancy:.1%}",
        f"{preview.occupancy:.1%}",
        f"{predictive.occupancy / preview.occupancy:.2f}",
        f">= 85%   {occupancy_ok}",
    )
    row(
        "abandon rate (run)",
        f"{predictive.abandon_rate:.2%}",
        f"{preview.abandon_rate:.2%}",
        "",
        f"<= 3.0%  {abandon_ok}",
    )
    row(
        "abandon rate (worst hour)",
        f"{predictive.worst_window_abandon_rate:.2%}",
        f"{preview.worst_window_abandon_rate:.2%}",
    )
    row(
        "calls/hour (attempts)",
        f"{predictive.calls_per_hour:,.0f}",
        f"{preview.calls_per_hour:,.0f}",
        f"{predictive.calls_per_hour / preview.calls_per_hour:.2f}",
    )
    row(
        "connects/hour",
        f"{predictive.connected_per_hour:,.0f}",
        f"{preview.connected_per_hour:,.0f}",
        f"{predictive.connected_per_hour / preview.connected_per_hour:.2f}",
    )
    counts: tuple[tuple[str, Callable[[SimulationResult], str]], ...] = (
        ("attempts", lambda r: f"{r.attempts:,}"),
        ("live answers", lambda r: f"{r.live_answers:,}"),
        ("connected to an agent", lambda r: f"{r.connected:,}"),
        ("abandoned", lambda r: f"{r.abandoned:,}"),
        ("most calls ringing at once", lambda r: f"{r.max_ringing_seen:,}"),
        ("virtual run time (h)", lambda r: f"{r.seconds / 3600:.2f}"),
    )
    for name, value in counts:
        row(name, value(predictive), value(preview))
    row("wall time (s)", f"{seconds[Mode.PREDICTIVE]:.1f}", f"{seconds[Mode.PREVIEW]:.1f}")
    print()
    found = problems(preview) + problems(predictive)
    if found:
        print("outcome: FAIL")
        for problem in found:
            print(f"  - {problem}")
        return 1
    print("outcome: OK (every number in exactly one final state, counters agree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
