"""A voice campaign's settings: one validated object, stored as JSON in the campaign row.

Field names are autocall v3's (the richest of the three voice dialects); wolkvox and
iSales map their own onto them. Everything here is pure: ``from_dict`` validates and
raises :class:`VoiceConfigError` naming the field, ``to_dict`` gives the stored form
back (``from_dict(to_dict(c)) == c``).

* ``type``: autocall's campaign type (``autodialer``, ``autocall``, ``inbound``,
  ``manual``); ``type_autocall``: what is played (``autocall_voice_tts``: ``template``
  is TTS text with ``{placeholders}``; ``autocall_audio``: ``template`` is an audio
  file reference; ``autocall_voice_otp``: TTS of the recipient's ``otp`` variable).
* ``dialer``: ``auto`` (play the template, no agents), ``preview`` or ``predictive``
  (calls bridged to ``agents`` agents of the campaign's pool).
* ``concurrent_call``: calls in progress at most (1-1000); ``call_timeout``: ring
  time in seconds (1-300).
* ``mode_call``: ``direct``, ``serial`` or ``parallel``, how several numbers of ONE
  contact are dialled. Clarion keeps one number per recipient, so the three behave
  alike; the value is stored and echoed.
* ``max_call_minutes``: a call is cut after this many minutes; each call holds this
  many minutes of price when it is placed and the unused part is refunded with its
  CDR, so the balance can never go negative (1-240).
* ``recall`` (:class:`RecallPolicy`), ``hours`` (calling windows in ``timezone``;
  empty zone = the account's), ``quiet_hours`` (optional windows in each RECIPIENT's
  own zones, from the number), ``network`` (:class:`NetworkLimits`).
* ``callback_url`` / ``answer_callback_url``: receive each CDR / each answer, signed.
* ``description``, ``carrier``: echoed; ``extras``: what a dialect keeps for
  itself, by dialect name (iSales' device type, skill and IVR parameters ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clarion.domain.voice.errors import InvalidField, whole_number
from clarion.domain.voice.network import NetworkLimits
from clarion.domain.voice.recall import RecallPolicy
from clarion.domain.voice.windows import WeeklyHours

TYPES = ("autodialer", "autocall", "inbound", "manual")
TYPES_AUTOCALL = ("autocall_voice_tts", "autocall_audio", "autocall_voice_otp")
DIALERS = ("auto", "preview", "predictive")
MODES_CALL = ("direct", "serial", "parallel")
MAX_TEMPLATE = 4000
MAX_CONCURRENT = 1000
MAX_TIMEOUT = 300
MAX_MINUTES = 240
MAX_EXTRAS = 16_384


class VoiceConfigError(InvalidField):
    """A voice campaign setting is invalid."""


def _choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise VoiceConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    assert isinstance(value, str)
    return value


def _bounded(value: object, name: str, low: int, high: int) -> int:
    number = whole_number(value, name, VoiceConfigError, minimum=low)
    if number > high:
        raise VoiceConfigError(name, f"must be at most {high}, got {number}")
    return number


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise VoiceConfigError(name, f"must be a string, got {value!r}")
    if len(value) > limit:
        raise VoiceConfigError(name, f"is longer than {limit} characters")
    return value


def check_zone(name: str, field_name: str = "timezone") -> str:
    if not name:
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise VoiceConfigError(field_name, f"unknown time zone {name!r}") from None
    return name


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    type: str = "autocall"
    type_autocall: str = "autocall_audio"
    template: str = ""
    dialer: str = "auto"
    agents: int = 0
    concurrent_call: int = 10
    call_timeout: int = 30
    mode_call: str = "direct"
    max_call_minutes: int = 5
    recall: RecallPolicy = field(default_factory=RecallPolicy)
    hours: WeeklyHours = field(default_factory=WeeklyHours.always)
    timezone: str = ""
    quiet_hours: WeeklyHours | None = None
    network: NetworkLimits = field(default_factory=NetworkLimits)
    callback_url: str = ""
    answer_callback_url: str = ""
    description: str = ""
    carrier: str = ""
    # Settings a dialect keeps for itself (by dialect name), opaque to the engine.
    extras: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _choice(self.type, "type", TYPES)
        _choice(self.type_autocall, "type_autocall", TYPES_AUTOCALL)
        _choice(self.dialer, "dialer", DIALERS)
        _choice(self.mode_call, "mode_call", MODES_CALL)
        _text(self.template, "template", MAX_TEMPLATE)
        _bounded(self.concurrent_call, "concurrent_call", 1, MAX_CONCURRENT)
        _bounded(self.call_timeout, "call_timeout", 1, MAX_TIMEOUT)
        _bounded(self.max_call_minutes, "max_call_minutes", 1, MAX_MINUTES)
        _bounded(self.agents, "agents", 0, MAX_CONCURRENT)
        if self.dialer != "auto" and self.agents < 1:
            raise VoiceConfigError("agents", f"a {self.dialer} campaign needs at least 1 agent")
        check_zone(self.timezone)
        for name in ("callback_url", "answer_callback_url"):
            _text(getattr(self, name), name, 2000)
        _text(self.description, "description", 2000)
        _text(self.carrier, "carrier", 255)
        if not isinstance(self.extras, Mapping):
            raise VoiceConfigError("extras", "must be an object")
        try:
            size = len(json.dumps(self.extras, separators=(",", ":")))
        except (TypeError, ValueError) as exc:
            raise VoiceConfigError("extras", "must be JSON") from exc
        if size > MAX_EXTRAS:
            raise VoiceConfigError("extras", f"is larger than {MAX_EXTRAS} bytes as JSON")

    @property
    def agent_campaign(self) -> bool:
        return self.dialer != "auto"

    def with_changes(self, **changes: Any) -> VoiceConfig:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoiceConfig:
        """Validate a stored or native (/v1) settings object. ``recall`` holds the
        autocall recall fields, ``hours`` / ``quiet_hours`` autocall ``schedules``
        lists, ``network`` autocall's network object; absent keys take defaults."""
        values: dict[str, Any] = {}
        for name in (
            "type",
            "type_autocall",
            "template",
            "dialer",
            "agents",
            "concurrent_call",
            "call_timeout",
            "mode_call",
            "max_call_minutes",
            "timezone",
            "callback_url",
            "answer_callback_url",
            "description",
            "carrier",
            "extras",
        ):
            if name in data and data[name] is not None:
                values[name] = data[name]
        recall = data.get("recall")
        if recall is not None:
            if not isinstance(recall, Mapping):
                raise VoiceConfigError("recall", "must be an object")
            values["recall"] = RecallPolicy.from_autocall(recall)
        for name in ("hours", "quiet_hours"):
            schedules = data.get(name)
            if schedules is not None:
                if not isinstance(schedules, list):
                    raise VoiceConfigError(name, "must be a list of autocall schedule objects")
                values[name] = WeeklyHours.from_autocall(schedules)
        if data.get("network") is not None:
            if not isinstance(data["network"], Mapping):
                raise VoiceConfigError("network", "must be an object")
            values["network"] = NetworkLimits.from_autocall(data["network"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "type_autocall": self.type_autocall,
            "template": self.template,
            "dialer": self.dialer,
            "agents": self.agents,
            "concurrent_call": self.concurrent_call,
            "call_timeout": self.call_timeout,
            "mode_call": self.mode_call,
            "max_call_minutes": self.max_call_minutes,
            "recall": self.recall.to_autocall(),
            "hours": self.hours.to_autocall(),
            "timezone": self.timezone,
            "quiet_hours": None if self.quiet_hours is None else self.quiet_hours.to_autocall(),
            "network": self.network.to_autocall(),
            "callback_url": self.callback_url,
            "answer_callback_url": self.answer_callback_url,
            "description": self.description,
            "carrier": self.carrier,
            "extras": dict(self.extras),
        }
