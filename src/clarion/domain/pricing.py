"""Price tables: which rule prices a recipient, and what a message costs under it.

A rule prices one channel (sms / rcs / voice) for a country (ISO 3166 alpha-2, ""
= any) and an operator ("" = any; a carrier name as phonenumbers gives it, e.g.
``Kcell``, or an MCC-MNC such as ``401-02``), per unit:

* ``segment``: price x segments of the rendered text;
* ``message``: price per message, whatever its length;
* ``minute``: price per minute of a voice call, times the minutes a call holds
  (its ``segments``: the campaign's ``max_call_minutes``); the unused minutes are
  refunded when the call's CDR arrives (services/voice.py).

Resolution (:func:`resolve`): among the rules of the channel that match the
recipient, the most specific wins: country + operator > country > any. On equal
specificity the LATER rule wins, so an account's rules listed after the default
table's override them rule by rule, while a more specific default rule still beats
a less specific account rule. Operators compare case-insensitively; MCC-MNC values
compare without their separator (``401-02`` = ``40102`` = ``401 02``).

:class:`PriceTable` is the same resolution indexed for the hot path (one dict look-up
per distinct (country, operator), memoised); it is plain data, so it crosses a
process boundary with the import's screening spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

CHANNELS = ("sms", "rcs", "voice")
_MCC_MNC = re.compile(r"^(\d{3})[-\s/.]?(\d{2,3})$")


class Unit(StrEnum):
    SEGMENT = "segment"
    MESSAGE = "message"
    MINUTE = "minute"


@dataclass(frozen=True, slots=True)
class PriceRule:
    channel: str
    country: str  # "" = any
    operator: str  # "" = any
    unit: str
    price: Decimal

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        if self.unit not in tuple(Unit):
            raise ValueError(f"unit must be one of {', '.join(Unit)}")
        if self.country and not (
            len(self.country) == 2 and self.country.isascii() and self.country.isupper()
        ):
            raise ValueError("country must be an upper-case ISO 3166 alpha-2 code or empty")
        if self.operator and not self.country:
            raise ValueError("an operator rule needs its country")
        if not self.price.is_finite() or self.price < 0:
            raise ValueError("price must be a non-negative amount")


def operator_key(operator: str) -> str:
    """The form operators are compared in: case-folded, MCC-MNC without separator."""
    value = operator.strip().casefold()
    found = _MCC_MNC.match(value)
    return found.group(1) + found.group(2) if found else value


def specificity(rule: PriceRule) -> int:
    """2 = country + operator, 1 = country, 0 = any."""
    if rule.country and rule.operator:
        return 2
    return 1 if rule.country else 0


def matches(rule: PriceRule, *, channel: str, country: str, operator: str) -> bool:
    if rule.channel != channel:
        return False
    if rule.country and rule.country != country.upper():
        return False
    return not rule.operator or operator_key(rule.operator) == operator_key(operator)


def resolve(
    rules: Iterable[PriceRule], *, channel: str, country: str, operator: str
) -> PriceRule | None:
    """The most specific rule of ``channel`` matching the recipient (later wins a tie);
    None when no rule matches."""
    best: PriceRule | None = None
    for rule in rules:
        if not matches(rule, channel=channel, country=country, operator=operator):
            continue
        if best is None or specificity(rule) >= specificity(best):
            best = rule
    return best


def cost(rule: PriceRule, *, segments: int) -> Decimal:
    """The preliminary price of one message under ``rule``."""
    if rule.unit == Unit.SEGMENT:
        return rule.price * segments
    if rule.unit == Unit.MESSAGE:
        return rule.price
    if rule.unit == Unit.MINUTE:
        return rule.price * segments  # the minutes the call holds
    raise ValueError(f"unknown price unit {rule.unit!r}")


class PriceTable:
    """The rules of one channel indexed for look-up; same answers as :func:`resolve`."""

    __slots__ = ("_any", "_country", "_exact", "_memo", "channel")

    def __init__(self, rules: Iterable[PriceRule], *, channel: str) -> None:
        self.channel = channel
        self._any: PriceRule | None = None
        self._country: dict[str, PriceRule] = {}
        self._exact: dict[tuple[str, str], PriceRule] = {}
        self._memo: dict[tuple[str, str], PriceRule | None] = {}
        for rule in rules:  # later rules overwrite earlier ones: ties go to the later
            if rule.channel != channel:
                continue
            if rule.country and rule.operator:
                self._exact[(rule.country, operator_key(rule.operator))] = rule
            elif rule.country:
                self._country[rule.country] = rule
            else:
                self._any = rule

    def __bool__(self) -> bool:
        return bool(self._any or self._country or self._exact)

    def __getstate__(self) -> tuple[object, ...]:
        return (self.channel, self._any, self._country, self._exact)

    def __setstate__(self, state: tuple[object, ...]) -> None:
        channel, any_rule, by_country, exact = state
        self.channel = channel  # type: ignore[assignment]
        self._any = any_rule  # type: ignore[assignment]
        self._country = by_country  # type: ignore[assignment]
        self._exact = exact  # type: ignore[assignment]
        self._memo = {}

    def rule(self, *, country: str, operator: str) -> PriceRule | None:
        key = (country, operator)
        try:
            return self._memo[key]
        except KeyError:
            pass
        upper = country.upper()
        found = (
            self._exact.get((upper, operator_key(operator)))
            or self._country.get(upper)
            or self._any
        )
        self._memo[key] = found
        return found

    def price(self, *, country: str, operator: str, segments: int, per_segment: Decimal) -> Decimal:
        """A message's preliminary price: its rule's :func:`cost`, or ``per_segment``
        x segments when no rule matches (the campaign's flat price)."""
        found = self.rule(country=country, operator=operator)
        return per_segment * segments if found is None else cost(found, segments=segments)
