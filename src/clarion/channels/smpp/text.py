"""Text to short_message octets: data_coding, GSM-7 / UCS-2 bytes and concatenation.

The encoding is chosen by ``clarion.domain.encoding.measure`` so the channel and the
pricing agree on it. GSM-7 texts go with ``data_coding`` 0 (the SMSC default
alphabet), one GSM 03.38 code per octet (unpacked septets, the SMPP convention; the
SMSC packs them), an extension character as ESC (0x1B) + its code. Other texts go as
UCS-2 (``data_coding`` 8), UTF-16 big-endian (a character outside the BMP is a
surrogate pair, as handsets send it).

A text that does not fit one SMS is cut into parts exactly as ``measure`` counts
them: greedily, at most 153 septets / 67 UTF-16 units a part, never splitting an ESC
pair or a surrogate pair; so ``len(parts) == measure(text).segments`` for ``udh8`` and
``sar``. Each part carries, by the connection's ``concatenation`` setting:

* ``udh8``: UDH ``05 00 03 ref total seq`` (IEI 0x00, 8-bit reference), esm_class UDHI;
* ``udh16``: UDH ``06 08 04 refhi reflo total seq`` (IEI 0x08, 16-bit reference). It is
  one octet longer, so a part holds 152 septets / 66 units and a text may need one
  part more than it was priced for (it is still sent whole);
* ``sar``: no UDH; TLVs sar_msg_ref_num (16-bit), sar_total_segments,
  sar_segment_seqnum.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from clarion.domain.encoding import GSM7_BASIC, GSM7_EXTENSION, Encoding, measure

DATA_CODING_DEFAULT = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40

ESC = 0x1B
_ENCODE: dict[str, bytes] = {
    ch: bytes((code,)) for code, ch in enumerate(GSM7_BASIC) if code != ESC
}
_ENCODE.update({ch: bytes((ESC, code)) for ch, code in GSM7_EXTENSION.items()})
_DECODE_BASIC: dict[int, str] = {code: ch for code, ch in enumerate(GSM7_BASIC) if code != ESC}
_DECODE_EXTENSION: dict[int, str] = {code: ch for ch, code in GSM7_EXTENSION.items()}

GSM7_PART = 153
UCS2_PART = 67  # UTF-16 units
GSM7_SINGLE = 160
UCS2_SINGLE = 70


class Concatenation(StrEnum):
    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"


@dataclass(frozen=True, slots=True)
class Part:
    """One short_message: its octets (UDH included), and SAR values when used."""

    payload: bytes
    seq: int
    total: int
    ref: int
    udh: bool
    sar: bool


@dataclass(frozen=True, slots=True)
class Encoded:
    data_coding: int
    parts: tuple[Part, ...]


def gsm7_encode(text: str) -> bytes:
    """GSM 03.38 codes, one per octet; KeyError for a character outside the alphabet."""
    return b"".join(_ENCODE[ch] for ch in text)


def gsm7_decode(data: bytes) -> str:
    out: list[str] = []
    escaped = False
    for code in data:
        if escaped:
            out.append(_DECODE_EXTENSION.get(code, " "))
            escaped = False
        elif code == ESC:
            escaped = True
        else:
            out.append(_DECODE_BASIC.get(code & 0x7F, "?"))
    return "".join(out)


def decode(data: bytes, data_coding: int) -> str:
    """Text of an inbound short_message (MO) by its data_coding."""
    if data_coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", "replace")
    if data_coding in (0x03, 0x04):  # Latin-1; 8-bit binary shown as Latin-1
        return data.decode("latin-1")
    if data_coding == 0x01:  # IA5 (ASCII)
        return data.decode("ascii", "replace")
    return gsm7_decode(data)


def _chunks(units: list[bytes], capacity: int) -> list[bytes]:
    """Greedy cut of per-character byte strings into parts of at most ``capacity``
    octets; a character's bytes are never split."""
    parts: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > capacity:
            parts.append(bytes(current))
            current = bytearray()
        current += unit
    parts.append(bytes(current))
    return parts


def encode(text: str, *, concatenation: Concatenation, ref: int) -> Encoded:
    """The short_messages for ``text``; ``ref`` (0..65535) identifies its parts."""
    m = measure(text)
    if m.encoding is Encoding.GSM7:
        data_coding = DATA_CODING_DEFAULT
        units = [_ENCODE[ch] for ch in text]
        single, part = GSM7_SINGLE, GSM7_PART - (concatenation is Concatenation.UDH16)
    else:
        data_coding = DATA_CODING_UCS2
        units = [ch.encode("utf-16-be", "surrogatepass") for ch in text]
        single, part = UCS2_SINGLE * 2, (UCS2_PART - (concatenation is Concatenation.UDH16)) * 2
    whole = b"".join(units)
    if len(whole) <= single:
        return Encoded(data_coding, (Part(whole, 1, 1, 0, udh=False, sar=False),))
    chunks = _chunks(units, part)
    total = len(chunks)
    if total > 255:
        raise ValueError(f"text needs {total} parts; at most 255 can be concatenated")
    parts: list[Part] = []
    for seq, chunk in enumerate(chunks, start=1):
        if concatenation is Concatenation.UDH8:
            header = bytes((0x05, 0x00, 0x03, ref & 0xFF, total, seq))
        elif concatenation is Concatenation.UDH16:
            header = bytes((0x06, 0x08, 0x04, (ref >> 8) & 0xFF, ref & 0xFF, total, seq))
        else:
            parts.append(Part(chunk, seq, total, ref & 0xFFFF, udh=False, sar=True))
            continue
        parts.append(Part(header + chunk, seq, total, ref, udh=True, sar=False))
    return Encoded(data_coding, tuple(parts))


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info of an inbound part (from its UDH or SAR TLVs)."""

    ref: int
    total: int
    seq: int


def split_udh(data: bytes) -> tuple[Concat | None, bytes]:
    """(concatenation info if any, the user data after the UDH) of a UDHI message."""
    if not data:
        return None, data
    udhl = data[0]
    header, rest = data[1 : 1 + udhl], data[1 + udhl :]
    found: Concat | None = None
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3 and len(value) == 3:
            found = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and length == 4 and len(value) == 4:
            found = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return found, rest
