"""Delivery receipt parsing and its status mapping."""

from __future__ import annotations

import pytest

from clarion.channels.smpp import pdu as p
from clarion.channels.smpp import receipts
from clarion.domain.lifecycle import MessageStatus

SPEC = (
    "id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 "
    "stat:DELIVRD err:000 text:Hello from Clarion"
)


def receipt_sm(text: str, *tlvs: p.Tlv, esm_class: int = 0x04) -> p.ShortMessage:
    return p.ShortMessage(
        destination_addr="Clarion",
        source_addr="77010000001",
        esm_class=esm_class,
        short_message=text.encode("latin-1"),
        tlvs=tlvs,
    )


def test_appendix_b_format() -> None:
    r = receipts.parse(receipt_sm(SPEC))
    assert r is not None
    assert r.message_id == "0123456789"
    assert r.stat == "DELIVRD" and r.status is MessageStatus.DELIVERED
    assert r.error is None and r.error_code is None
    assert r.submit_date == "0610191018" and r.done_date == "0610191018"
    assert r.text == "Hello from Clarion"


@pytest.mark.parametrize(
    ("stat", "status", "code"),
    [
        ("DELIVRD", MessageStatus.DELIVERED, None),
        ("UNDELIV", MessageStatus.UNDELIVERED, "err:012"),
        ("EXPIRED", MessageStatus.EXPIRED, "err:012"),
        ("REJECTD", MessageStatus.REJECTED, "err:012"),
        ("DELETED", MessageStatus.UNDELIVERED, "DELETED err:012"),
        ("UNKNOWN", MessageStatus.UNDELIVERED, "UNKNOWN err:012"),
        ("ACCEPTD", None, None),
        ("ENROUTE", None, None),
    ],
)
def test_stat_mapping(stat: str, status: MessageStatus | None, code: str | None) -> None:
    err = "000" if stat == "DELIVRD" else "012"
    r = receipts.parse(receipt_sm(f"id:ab stat:{stat} err:{err}"))
    assert r is not None
    assert r.status is status
    if status is not None:
        assert r.error_code == code


def test_tlvs_take_precedence_and_fields_in_any_order_and_case() -> None:
    sm = receipt_sm(
        "STAT:UNDELIV ERR:005 Id:wrong",
        p.Tlv.cstring(p.Tag.RECEIPTED_MESSAGE_ID, "00AbC1"),
        p.Tlv.u8(p.Tag.MESSAGE_STATE, 2),
    )
    r = receipts.parse(sm)
    assert r is not None
    assert r.message_id == "00AbC1" and r.status is MessageStatus.DELIVERED
    assert receipts.normalise_id(r.message_id) == receipts.normalise_id("abc1")


def test_receipt_detection() -> None:
    assert receipts.is_receipt(receipt_sm(SPEC))
    assert receipts.is_receipt(receipt_sm(SPEC, esm_class=0x20))  # intermediate
    tlv_only = receipt_sm("x", p.Tlv.cstring(p.Tag.RECEIPTED_MESSAGE_ID, "1"), esm_class=0)
    assert receipts.is_receipt(tlv_only)
    assert not receipts.is_receipt(receipt_sm("STOP", esm_class=0))


def test_payload_receipt_and_missing_id() -> None:
    sm = p.ShortMessage(
        destination_addr="x",
        esm_class=0x04,
        tlvs=(p.Tlv(p.Tag.MESSAGE_PAYLOAD, b"id:77 stat:EXPIRED err:000"),),
    )
    r = receipts.parse(sm)
    assert r is not None and r.message_id == "77" and r.status is MessageStatus.EXPIRED
    assert receipts.parse(receipt_sm("stat:DELIVRD")) is None


def test_unrecognised_stat_is_undelivered_with_the_stat_as_error() -> None:
    r = receipts.parse(receipt_sm("id:1 stat:FAILED err:000"))
    assert r is not None
    assert r.status is MessageStatus.UNDELIVERED and r.error_code == "FAILED"


def test_long_error_codes_are_cut_to_the_column_size() -> None:
    r = receipts.parse(receipt_sm("id:1 stat:SOMEVENDORSPECIFICSTATE err:123456789"))
    assert r is not None and r.error_code is not None
    assert len(r.error_code) == 32 and r.error_code.startswith("SOMEVENDORSPECIFICSTATE")
