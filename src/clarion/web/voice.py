"""The dashboard's voice parts: the create form's voice fields turned into a
:class:`VoiceConfig` (validated by ``services.voice.parse_config``, errors pointed at
the form field that caused them), and a voice campaign's settings and calls in
operator terms. No I/O here: pages.py reads, this module shapes.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from clarion.domain.voice.config import VoiceConfig
from clarion.domain.voice.outcomes import RETRYABLE_BY_DEFAULT, CallOutcome
from clarion.domain.voice.recall import RecallPolicy, RecallPriority
from clarion.domain.voice.windows import (
    DAYS,
    NS_PER_DAY,
    WeeklyHours,
    is_open,
    next_open,
    window_end,
)
from clarion.services import voice as voice_service
from clarion.services.errors import InvalidInput
from clarion.services.voice import VoiceStats
from clarion.web import views

NS = 10**9
RECENT_CALLS = 20
RECALL_QUEUE = 10

# Every outcome, in the order the page lists them.
OUTCOME_LABELS: dict[str, str] = {
    CallOutcome.ANSWERED: "Answered",
    CallOutcome.NO_ANSWERED: "No answer",
    CallOutcome.BUSY: "Busy",
    CallOutcome.VOICEMAIL: "Voicemail",
    CallOutcome.NOT_AVAILABLE: "Not available",
    CallOutcome.FAILED: "Failed",
    CallOutcome.CONGESTION: "Congestion",
    CallOutcome.INVALID_NUMBER: "Invalid number",
    CallOutcome.PHONE_BLOCK: "Blocked",
}
RECALLABLE = tuple(o for o in OUTCOME_LABELS if o != CallOutcome.ANSWERED)
PLAYS = (
    ("autocall_voice_tts", "Text to speech of the call text"),
    ("autocall_audio", "An audio file: the call text is its reference"),
    ("autocall_voice_otp", "A one-time password: each number's otp variable, spoken"),
)
DIALERS = (
    ("auto", "Automatic: play the message, no agents"),
    ("preview", "Preview: an agent reads the record, then the call is placed"),
    ("predictive", "Predictive: calls placed ahead of free agents"),
)
UNITS = (("minute", "minutes"), ("hour", "hours"))
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# The form's voice fields and their values on a new form.
FORM_DEFAULTS: dict[str, Any] = {
    "voice_play": "autocall_voice_tts",
    "voice_template": "",
    "caller_id": "",
    "concurrent_call": "10",
    "call_timeout": "30",
    "max_call_minutes": "5",
    "dialer": "auto",
    "agents": "",
    "recall_times": "2",
    "recall_status": sorted(str(o) for o in RETRYABLE_BY_DEFAULT),
    "recall_delay": "10",
    "recall_unit": "minute",
    "window_start": "",
    "window_end": "",
    "timezone": "",
}

# A VoiceConfig field (as parse_config names it) -> (the form field, its label).
_FIELDS: dict[str, tuple[str, str]] = {
    "template": ("voice_template", "Call text"),
    "type_autocall": ("voice_play", "What the call plays"),
    "concurrent_call": ("concurrent_call", "Concurrent calls"),
    "call_timeout": ("call_timeout", "Ring timeout"),
    "max_call_minutes": ("max_call_minutes", "Longest call"),
    "dialer": ("dialer", "Dialer"),
    "agents": ("agents", "Agents"),
    "recall_times": ("recall_times", "Recalls"),
    "recall_status": ("recall_status", "Recall after"),
    "schedule_recall": ("recall_unit", "Recall delay unit"),
    "schedule_recall_duration": ("recall_delay", "Wait before a recall"),
    "timezone": ("timezone", "Time zone"),
    "caller_id": ("caller_id", "Caller ID"),
}
_WHOLE = re.compile(r"[+-]?\d{1,9}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


# --- the create form ------------------------------------------------------------------


def _number(raw: object) -> int | str:
    """A whole number typed into the form; anything else is passed on as typed, so the
    config's own check names it ("must be a whole number, got 'ten'")."""
    text = str(raw or "").strip()
    return int(text) if _WHOLE.fullmatch(text) else text


def _time_of_day(raw: str, field: str, label: str) -> int:
    """``HH:MM`` (or ``HH:MM:SS``, ``24:00``) as ns since midnight."""
    found = _TIME.fullmatch(raw.strip())
    if found is None:
        raise InvalidInput(f"{label} must be a time of day like 09:00", field=field)
    hour, minute, second = int(found[1]), int(found[2]), int(found[3] or 0)
    if minute > 59 or second > 59 or hour > 24 or (hour == 24 and (minute or second)):
        raise InvalidInput(f"{label} must be a time of day like 09:00", field=field)
    return ((hour * 60 + minute) * 60 + second) * NS


def _hours(values: Mapping[str, Any]) -> list[dict[str, int]] | None:
    """The single daily window as autocall ``schedules`` (None: call at any time)."""
    start_raw = str(values.get("window_start") or "").strip()
    end_raw = str(values.get("window_end") or "").strip()
    if not start_raw and not end_raw:
        return None
    if not start_raw or not end_raw:
        raise InvalidInput(
            "Calling window: give both its start and its end, or leave both empty to call "
            "at any time",
            field="window_end" if start_raw else "window_start",
        )
    start = _time_of_day(start_raw, "window_start", "Calling window start")
    end = _time_of_day(end_raw, "window_end", "Calling window end")
    if end <= start:
        raise InvalidInput(
            "Calling window: the end must be after the start (a window cannot cross midnight)",
            field="window_end",
        )
    schedule: dict[str, int] = {}
    for day in DAYS:
        schedule[f"{day}_start_time"] = start
        schedule[f"{day}_end_time"] = end
    return [schedule]


def _form_field(config_field: str | None) -> tuple[str, str]:
    name = config_field or ""
    if name.endswith("_start_time") or name.startswith("schedules"):
        return "window_start", "Calling window start"
    if name.endswith("_end_time"):
        return "window_end", "Calling window end"
    return _FIELDS.get(name, (name, name.replace("_", " ").capitalize()))


def config_from_form(values: Mapping[str, Any]) -> VoiceConfig:
    """The voice settings of the create form, validated by ``services.voice.
    parse_config``; an InvalidInput names the form field and its label."""
    data: dict[str, Any] = {
        "type_autocall": str(values.get("voice_play") or ""),
        "template": str(values.get("voice_template") or ""),
        "dialer": str(values.get("dialer") or ""),
        "timezone": str(values.get("timezone") or "").strip(),
    }
    for name in ("concurrent_call", "call_timeout", "max_call_minutes", "agents"):
        if str(values.get(name) or "").strip():
            data[name] = _number(values[name])
    recall: dict[str, Any] = {
        "recall_status": list(values.get("recall_status") or []),
        "schedule_recall": str(values.get("recall_unit") or ""),
    }
    for form_name, name in (
        ("recall_times", "recall_times"),
        ("recall_delay", "schedule_recall_duration"),
    ):
        if str(values.get(form_name) or "").strip():
            recall[name] = _number(values[form_name])
    data["recall"] = recall
    hours = _hours(values)
    if hours is not None:
        data["hours"] = hours
    try:
        return voice_service.parse_config(data)
    except InvalidInput as exc:
        field, label = _form_field(exc.field)
        prefix = f"{exc.field}: "
        reason = exc.message[len(prefix) :] if exc.message.startswith(prefix) else exc.message
        raise InvalidInput(f"{label}: {reason}", field=field) from exc


def form_error(exc: InvalidInput) -> tuple[str, str | None]:
    """A service error about a voice campaign (name, caller id): its message, and the
    form field it is about."""
    field = exc.field or ""
    return exc.message, _FIELDS[field][0] if field in _FIELDS else exc.field


@functools.cache
def zone_names() -> tuple[str, ...]:
    """IANA zone names for the form's suggestions."""
    return tuple(sorted(zoneinfo.available_timezones()))


# --- a campaign's settings in words -----------------------------------------------------


def zone_of(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def clock(ns: int) -> str:
    """ns since local midnight as ``HH:MM`` (``HH:MM:SS`` when seconds matter)."""
    if ns >= NS_PER_DAY:
        return "24:00"
    hours, rest = divmod(ns // NS, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _day(intervals: Sequence[tuple[int, int]]) -> str:
    spans = [(s, e) for s, e in intervals if e > s]
    if not spans:
        return "closed"
    if spans == [(0, NS_PER_DAY)]:
        return "all day"
    return ", ".join(f"{clock(s)}–{clock(e)}" for s, e in spans)


def describe_hours(hours: WeeklyHours) -> list[str]:
    """The calling windows, one line per run of weekdays with the same hours."""
    if hours == WeeklyHours.always():
        return ["Any time (no calling window)"]
    if hours.is_never:
        return ["Never: every day is closed"]
    texts = [_day(d) for d in hours.days]
    if len(set(texts)) == 1:
        return [f"Every day {texts[0]}"]
    lines: list[str] = []
    first = 0
    for index in range(1, 8):
        if index == 7 or texts[index] != texts[first]:
            days = DAY_NAMES[first]
            if index - 1 > first:
                days += f"–{DAY_NAMES[index - 1]}"
            lines.append(f"{days} {texts[first]}")
            first = index
    return lines


def local(value: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
    if value is None:
        return "—"
    return value.astimezone(tz).strftime(fmt)


def window_now(hours: WeeklyHours, tz: tzinfo, now: datetime) -> str:
    """Whether calls may start now, and until / from when."""
    short = "%a %d %b %H:%M %Z"
    if is_open(hours, tz, now):
        end = window_end(hours, tz, now)
        return "Open now" if end is None else f"Open now, until {local(end, tz, short)}"
    opens = next_open(hours, tz, now)
    if opens is None:
        return "Closed; no window opens in the next 15 days"
    return f"Closed now; opens {local(opens, tz, short)}"


def next_opening(hours: WeeklyHours, tz: tzinfo, now: datetime) -> str | None:
    """When the calling window next opens (now if open), in the campaign's zone."""
    opens = next_open(hours, tz, now)
    return None if opens is None else "opens " + local(opens, tz, "%a %d %b %H:%M %Z")


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def describe_recall(policy: RecallPolicy) -> str:
    if policy.recall_times == 0:
        return "No recalls: each number is called once."
    if not policy.recall_status:
        return "No recalls: no call outcome is set to be recalled."
    times = policy.recall_times
    after = ", ".join(
        OUTCOME_LABELS[o].lower() for o in OUTCOME_LABELS if o in policy.recall_status
    )
    wait = policy.schedule_recall_duration
    unit = str(policy.schedule_recall.value)
    when = (
        "as soon as possible"
        if wait == 0
        else f"{wait} {unit}{'' if wait == 1 else 's'} after the previous call ends"
    )
    text = (
        f"Up to {times} recall{'' if times == 1 else 's'} ({times + 1} calls in all) "
        f"after {after}; {when}."
    )
    if policy.limit_recall_duration:
        text += (
            f" No recall starts later than {_span(policy.limit_recall_duration)} after the "
            "first call."
        )
    if policy.priority_recall == RecallPriority.RECALL:
        text += " Due recalls go before first calls."
    else:
        text += " Recalls queue with first calls by due time."
    return text


def describe_dialer(config: VoiceConfig) -> str:
    if config.dialer == "auto":
        return "Automatic: plays the message, no agents"
    agents = f"{config.agents} agent{'' if config.agents == 1 else 's'}"
    if config.dialer == "preview":
        return f"Preview, {agents}: each call is placed for an agent who has read the record"
    return f"Predictive, {agents}: abandoned calls held under 3 % of answers"


def describe_play(config: VoiceConfig) -> str:
    return dict(PLAYS).get(config.type_autocall, config.type_autocall)


# --- live ---------------------------------------------------------------------------------


def outcomes(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """Attempts per outcome (every known outcome, then any other), with its share."""
    total = sum(counts.values())
    names = [*OUTCOME_LABELS, *sorted(set(counts) - set(OUTCOME_LABELS))]
    return [
        {
            "outcome": name,
            "label": OUTCOME_LABELS.get(name, name),
            "count": counts.get(name, 0),
            "share": f"{counts.get(name, 0) * 100 / total:.0f}%" if total else "—",
        }
        for name in names
    ]


def recall_rows(rows: Sequence[Any], tz: tzinfo) -> list[dict[str, Any]]:
    return [
        {
            "phone": r.phone,
            "attempts": int(r.attempts),
            "outcome": OUTCOME_LABELS.get(r.last_outcome or "", r.last_outcome or "—"),
            "due": local(r.due_at, tz, "%Y-%m-%d %H:%M %Z"),
        }
        for r in rows
    ]


def call_rows(rows: Sequence[Any], tz: tzinfo, currency: str) -> list[dict[str, Any]]:
    return [
        {
            "id": int(r.id),
            "phone": r.phone,
            "attempt": int(r.attempt),
            "outcome": r.outcome,
            "label": OUTCOME_LABELS.get(r.outcome, r.outcome),
            "start": local(r.started_at, tz),
            "duration": int(r.duration),
            "billsec": int(r.billsec),
            "cost": views.money(r.cost, currency),
            "agent": r.agent or "—",
            "abandoned": "yes" if r.abandoned else "no",
        }
        for r in rows
    ]


def live(
    *,
    config: VoiceConfig,
    stats: VoiceStats,
    zone: str,
    recalls: Sequence[Any],
    recalls_waiting: int,
    calls: Sequence[Any],
    currency: str,
    now: datetime,
) -> dict[str, Any]:
    """The voice object of a voice campaign's ``live.json`` (and of its page)."""
    tz = zone_of(zone)
    return {
        "concurrent_call": config.concurrent_call,
        "lines": f"{stats.in_progress:,} of {config.concurrent_call:,}",
        "recipients": stats.recipients,
        "waiting": stats.waiting,
        "recalls_waiting": recalls_waiting,
        "first_calls_waiting": max(stats.waiting - recalls_waiting, 0),
        "in_progress": stats.in_progress,
        "answered": stats.answered,
        "unreached": stats.unreached,
        "attempts": stats.attempts,
        "cost": views.money(stats.cost, currency),
        "outcomes": outcomes(stats.outcomes),
        "recall_queue": recall_rows(recalls, tz),
        "calls": call_rows(calls, tz, currency),
        "window_now": window_now(config.hours, tz, now),
    }
