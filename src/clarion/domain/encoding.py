"""SMS encoding choice and segment counting.

Rules
-----
A text is sent as **GSM-7** when every character is in the GSM 03.38 default
alphabet or in its extension table; otherwise it is sent as **UCS-2**.

* GSM-7 units are septets. A default-alphabet character costs 1 septet. An
  extension-table character (form feed, ``^ { } \\ [ ~ ] |`` and ``€``) is
  sent as ESC followed by the character, so it costs 2 septets.
* UCS-2 units are UTF-16 code units: a character outside the Basic
  Multilingual Plane (most emoji) is a surrogate pair and costs 2 units.

A message that fits in one SMS (160 septets, or 70 UCS-2 units) is one
segment. Longer messages are concatenated: each part loses room to the User
Data Header and carries at most 153 septets (GSM-7) or 67 units (UCS-2).
Parts are filled greedily from the start of the text, and a character is never
split across two parts: an ESC pair that does not fit in the 153rd and 154th
septet moves whole to the next part, and so does a surrogate pair. That is why
the count can exceed ``ceil(units / 153)`` (or ``ceil(units / 67)``): every
part except the last holds at least 152 septets (66 units). The empty text is
one segment of zero units (an empty SMS is still one message).

Choices
-------
* The 0x09 code point is mapped to ``Ç`` (LATIN CAPITAL LETTER C WITH
  CEDILLA) as in the 3GPP table; a lowercase ``ç`` is therefore UCS-2.
* The ESC control character itself (U+001B) is not treated as a GSM-7
  character: it cannot be sent on its own, so a text containing it is UCS-2.
* National language shift tables (Turkish, Spanish, Portuguese, Indian
  languages) are not used: most carriers and handsets do not honour them
  consistently, and assuming them would under-count segments.
* No "smart" transliteration is done here (e.g. curly quotes to straight
  quotes); the text is measured exactly as it will be sent.
* "UCS-2" is counted as UTF-16, which is what handsets actually send; a lone
  surrogate (not valid Unicode, but representable in a Python ``str``) counts
  as one unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "Encoding",
    "TextMeasure",
    "measure",
    "segments",
]


class Encoding(StrEnum):
    """Data coding of an SMS."""

    GSM7 = "GSM7"
    UCS2 = "UCS2"


@dataclass(frozen=True, slots=True)
class TextMeasure:
    """How a text will be sent: its encoding, size in units, and segment count."""

    encoding: Encoding
    units: int
    segments: int


# GSM 03.38 default alphabet in code order 0x00..0x7F; "\x1b" (ESC) stands at 0x1B.
# Shared with the SMPP channel, which packs texts with it (channels/smpp/text.py).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: character -> its code after ESC (2 septets each).
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM_BASIC: frozenset[str] = frozenset(GSM7_BASIC) - {"\x1b"}
_GSM_EXTENSION: frozenset[str] = frozenset(GSM7_EXTENSION)
_GSM_ALL: frozenset[str] = _GSM_BASIC | _GSM_EXTENSION

_GSM7_SINGLE = 160
_GSM7_PART = 153
_UCS2_SINGLE = 70
_UCS2_PART = 67
_BMP_MAX = 0xFFFF


def measure(text: str) -> TextMeasure:
    """Return the encoding, unit count and segment count of ``text``."""
    if _GSM_ALL.issuperset(text):
        wide = sum(1 for ch in text if ch in _GSM_EXTENSION)
        units = len(text) + wide
        count = _count_segments(text, units, wide, _GSM7_SINGLE, _GSM7_PART, _gsm7_width)
        return TextMeasure(Encoding.GSM7, units, count)
    wide = sum(1 for ch in text if ord(ch) > _BMP_MAX)
    units = len(text) + wide
    count = _count_segments(text, units, wide, _UCS2_SINGLE, _UCS2_PART, _utf16_width)
    return TextMeasure(Encoding.UCS2, units, count)


def segments(text: str) -> int:
    """Return how many SMS segments ``text`` needs (shortcut for ``measure``)."""
    return measure(text).segments


def _gsm7_width(ch: str) -> int:
    return 2 if ch in _GSM_EXTENSION else 1


def _utf16_width(ch: str) -> int:
    return 2 if ord(ch) > _BMP_MAX else 1


def _count_segments(
    text: str,
    units: int,
    wide: int,
    single: int,
    part: int,
    width: Callable[[str], int],
) -> int:
    if units <= single:
        return 1
    if wide == 0:
        # Every character is one unit, so nothing can straddle a boundary.
        return -(-units // part)
    parts = 1
    used = 0
    for ch in text:
        w = width(ch)
        if used + w > part:
            parts += 1
            used = w
        else:
            used += w
    return parts
