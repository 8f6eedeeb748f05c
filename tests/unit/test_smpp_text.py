"""GSM-7 / UCS-2 octets and concatenation for SMPP, agreeing with domain.encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.channels.smpp import text
from clarion.channels.smpp.text import Concatenation
from clarion.domain import encoding

GSM_CHARS = text.GSM7_BASIC.replace("\x1b", "") + "".join(text.GSM7_EXTENSION)


def test_gsm_table_agrees_with_domain_encoding() -> None:
    # Every character our table encodes is GSM-7 for the pricing rules, and back.
    for ch in GSM_CHARS:
        assert encoding.measure(ch).encoding is encoding.Encoding.GSM7, ch
    assert len(text.GSM7_BASIC) == 128


def test_gsm7_known_codes() -> None:
    assert text.gsm7_encode("@£$") == b"\x00\x01\x02"
    assert text.gsm7_encode("A€[") == b"\x41\x1b\x65\x1b\x3c"
    assert text.gsm7_encode("Ç\n") == b"\x09\x0a"
    assert text.gsm7_decode(b"\x41\x1b\x65\x1b\x3c") == "A€["


@given(st.text(alphabet=GSM_CHARS, max_size=400))
def test_gsm7_round_trip(value: str) -> None:
    assert text.gsm7_decode(text.gsm7_encode(value)) == value


def test_single_part_messages() -> None:
    gsm = text.encode("Hello", concatenation=Concatenation.UDH8, ref=1)
    assert gsm.data_coding == 0 and len(gsm.parts) == 1
    assert gsm.parts[0].payload == b"Hello" and not gsm.parts[0].udh
    ucs = text.encode("Привет", concatenation=Concatenation.UDH8, ref=1)
    assert ucs.data_coding == 8
    assert ucs.parts[0].payload == "Привет".encode("utf-16-be")
    full = text.encode("x" * 160, concatenation=Concatenation.UDH8, ref=1)
    assert len(full.parts) == 1


def test_ucs2_udh8_parts() -> None:
    message = "Ж" * 150  # 150 units: 67 + 67 + 16
    encoded = text.encode(message, concatenation=Concatenation.UDH8, ref=0xAB)
    assert encoded.data_coding == 8
    assert [len(part.payload) for part in encoded.parts] == [6 + 134, 6 + 134, 6 + 32]
    for seq, part in enumerate(encoded.parts, start=1):
        assert part.payload[:6] == bytes([0x05, 0x00, 0x03, 0xAB, 3, seq])
        assert part.udh and not part.sar
    body = b"".join(part.payload[6:] for part in encoded.parts)
    assert body.decode("utf-16-be") == message


def test_ucs2_udh16_parts() -> None:
    message = "Ж" * 140
    encoded = text.encode(message, concatenation=Concatenation.UDH16, ref=0x1234)
    assert [len(part.payload) for part in encoded.parts] == [7 + 132, 7 + 132, 7 + 16]
    for seq, part in enumerate(encoded.parts, start=1):
        assert part.payload[:7] == bytes([0x06, 0x08, 0x04, 0x12, 0x34, 3, seq])
    assert b"".join(p.payload[7:] for p in encoded.parts).decode("utf-16-be") == message


def test_sar_parts_carry_no_udh() -> None:
    message = "a" * 200
    encoded = text.encode(message, concatenation=Concatenation.SAR, ref=0x0102)
    assert [(p.seq, p.total, p.ref, p.udh, p.sar) for p in encoded.parts] == [
        (1, 2, 0x0102, False, True),
        (2, 2, 0x0102, False, True),
    ]
    assert b"".join(p.payload for p in encoded.parts) == message.encode()


def test_parts_never_split_escape_or_surrogate_pairs() -> None:
    gsm = "a" * 152 + "€" + "b" * 10  # the ESC pair would straddle septets 153/154
    parts = text.encode(gsm, concatenation=Concatenation.UDH8, ref=1).parts
    assert parts[0].payload[6:] == b"a" * 152
    assert parts[1].payload[6:] == b"\x1b\x65" + b"b" * 10
    emoji = "Ж" * 66 + "😀" + "Ж" * 10
    uparts = text.encode(emoji, concatenation=Concatenation.UDH8, ref=1).parts
    assert len(uparts[0].payload) == 6 + 132
    assert uparts[1].payload[6:10] == "😀".encode("utf-16-be")


@given(
    st.text(alphabet=st.sampled_from([*"abcXYZ 0€[]^", "Ж", "😀", "é"]), max_size=700),
    st.sampled_from([Concatenation.UDH8, Concatenation.SAR]),
)
def test_part_count_matches_pricing(message: str, method: Concatenation) -> None:
    encoded = text.encode(message, concatenation=method, ref=7)
    assert len(encoded.parts) == encoding.measure(message).segments
    skip = 6 if method is Concatenation.UDH8 and len(encoded.parts) > 1 else 0
    joined = b"".join(p.payload[skip:] for p in encoded.parts)
    decoded = joined.decode("utf-16-be") if encoded.data_coding == 8 else text.gsm7_decode(joined)
    assert decoded == message


def test_too_many_parts_refused() -> None:
    with pytest.raises(ValueError):
        text.encode("Ж" * 67 * 256, concatenation=Concatenation.UDH8, ref=1)


def test_split_udh_reads_both_reference_sizes() -> None:
    concat, rest = text.split_udh(bytes([5, 0, 3, 9, 2, 1]) + b"hi")
    assert concat == text.Concat(9, 2, 1) and rest == b"hi"
    concat, rest = text.split_udh(bytes([6, 8, 4, 1, 2, 3, 3]) + b"yo")
    assert concat == text.Concat(0x0102, 3, 3) and rest == b"yo"
    concat, rest = text.split_udh(bytes([3, 0x24, 1, 0]) + b"x")  # other IE only
    assert concat is None and rest == b"x"


def test_decode_by_data_coding() -> None:
    assert text.decode("СТОП".encode("utf-16-be"), 8) == "СТОП"
    assert text.decode(b"STOP", 0) == "STOP"
    assert text.decode("café".encode("latin-1"), 3) == "café"
