"""Screening of recipient rows in chunks: pure, picklable, run in worker processes.

An import reads rows in the event loop's process, screens chunks of them here (in a
process pool for big files, so phone validation uses every core), and writes the
accepted rows and the rejections in one transaction per chunk together with the
task's checkpoint (services/imports.py).

What is decided here: normalisation and Mobizon codes 1/2/3/6/7/8, placeholders
(code 20 under placeholdersFlag 3), duplicates within the chunk (4), the rendered
text, its segments and price (the campaign's price table, or its flat price per
segment where no rule matches). What needs the database is decided by the caller:
duplicates against rows already in the campaign (4) and stop-lists (5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

from clarion.domain import encoding, pricing, recipients, templates

# (row number in the source, raw phone value, placeholder variables or None)
SourceRow = tuple[int, object, Mapping[str, str] | None]


@dataclass(frozen=True, slots=True)
class ScreenSpec:
    """What screening needs to know about the campaign and the account."""

    campaign_type: str
    text: str
    placeholders_flag: int
    price_micros_per_segment: int
    allowed_countries: frozenset[str] | None = None
    blocked_operators: frozenset[str] = frozenset()
    # The account's price table for the campaign's channel; None or empty = the flat
    # price per segment for everyone.
    prices: pricing.PriceTable | None = None
    # Billing units of one message when not its SMS segments (RCS: 1 per message).
    unit_segments: int | None = None


class Accepted(NamedTuple):
    """An accepted row. A NamedTuple rather than a dataclass because every one
    crosses the process boundary: a tuple pickles and unpickles about four times
    faster than a slotted dataclass (whose state goes through Python-level
    ``__getstate__`` / ``__setstate__``), and unpickling happens in the process that
    also reads the file and writes the database."""

    row: int
    phone: str
    country: str
    operator: str
    variables: dict[str, str] | None
    text: str | None
    segments: int
    price_micros: int


@dataclass(slots=True)
class ChunkResult:
    accepted: list[Accepted] = field(default_factory=list)
    # (row number, value as given, result code)
    rejected: list[tuple[int, str, int]] = field(default_factory=list)


def _raw(value: object) -> str:
    return "" if value is None else str(value)


_MICROS = Decimal(1_000_000)


class _Pricer:
    """Price in micro-units of one chunk's rows, memoised per (country, operator,
    segments): a chunk has few distinct ones, so Decimal work is rare."""

    __slots__ = ("_memo", "_per_segment", "_table")

    def __init__(self, table: pricing.PriceTable, per_segment: int) -> None:
        self._table = table
        self._per_segment = per_segment
        self._memo: dict[tuple[str, str, int], int] = {}

    def __call__(self, country: str, operator: str, segments: int) -> int:
        key = (country, operator, segments)
        micros = self._memo.get(key)
        if micros is None:
            rule = self._table.rule(country=country, operator=operator)
            if rule is None:
                micros = segments * self._per_segment
            else:
                amount = pricing.cost(rule, segments=segments) * _MICROS
                micros = int(amount.to_integral_value(rounding=ROUND_HALF_EVEN))
            self._memo[key] = micros
        return micros


def screen_rows(spec: ScreenSpec, rows: Sequence[SourceRow]) -> ChunkResult:
    """Screen one chunk. Order of checks follows Mobizon: number, account policy,
    duplicate, placeholders."""
    policy = recipients.Policy(
        allowed_countries=spec.allowed_countries, blocked_operators=spec.blocked_operators
    )
    flag = templates.PlaceholdersFlag(spec.placeholders_flag)
    template = spec.campaign_type == "template"
    base_segments = (
        encoding.segments(spec.text) if spec.unit_segments is None else spec.unit_segments
    )
    seen: set[str] = set()
    out = ChunkResult()
    pricer = _Pricer(spec.prices, spec.price_micros_per_segment) if spec.prices else None
    for row, raw, variables in rows:
        screened = recipients.screen(raw, policy=policy, seen=seen)
        phone = screened.phone
        if screened.code != recipients.ResultCode.OK or phone is None:
            out.rejected.append((row, _raw(raw), int(screened.code)))
            continue
        text: str | None = None
        segments = base_segments
        kept: dict[str, str] | None = None
        if template:
            kept = dict(variables or {})
            try:
                text = templates.render(spec.text, kept, flag=flag)
            except templates.MissingPlaceholderError:
                seen.discard(phone.e164)
                out.rejected.append(
                    (row, _raw(raw), int(recipients.ResultCode.MISSING_PLACEHOLDER))
                )
                continue
            segments = encoding.segments(text)
        out.accepted.append(
            Accepted(
                row=row,
                phone=phone.e164,
                country=phone.country,
                operator=phone.operator,
                variables=kept or None,
                text=text,
                segments=segments,
                price_micros=(
                    segments * spec.price_micros_per_segment
                    if pricer is None
                    else pricer(phone.country, phone.operator, segments)
                ),
            )
        )
    return out
