"""SMPP PDU codec: byte vectors worked out from the SMPP 3.4 specification, round trips,
and framing errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clarion.channels.base import Outcome
from clarion.channels.smpp import pdu as p
from clarion.channels.smpp.errors import Status, outcome, status_name


def test_enquire_link_bytes() -> None:
    raw = p.encode(p.Pdu(p.Command.ENQUIRE_LINK, 1))
    assert raw.hex() == "00000010000000150000000000000001"
    assert p.decode(raw) == p.Pdu(p.Command.ENQUIRE_LINK, 1, 0, p.Empty())


def test_generic_nack_bytes() -> None:
    raw = bytes.fromhex("0000001080000000000000030000002a")
    decoded = p.decode(raw)
    assert decoded.command == p.Command.GENERIC_NACK
    assert decoded.status == Status.ESME_RINVCMDID
    assert decoded.sequence == 42
    assert decoded.is_response


def test_bind_transceiver_bytes() -> None:
    body = p.Bind(system_id="SMPP3TEST", password="secret08", system_type="SUBMIT1",
                  addr_ton=1, addr_npi=1)  # fmt: skip
    raw = p.encode(p.Pdu(p.Command.BIND_TRANSCEIVER, 7, 0, body))
    expected = (
        bytes.fromhex("0000002f000000090000000000000007")
        + b"SMPP3TEST\x00"
        + b"secret08\x00"
        + b"SUBMIT1\x00"
        + bytes([0x34, 0x01, 0x01])
        + b"\x00"
    )
    assert raw == expected
    assert p.decode(raw).body == body


def test_bind_resp_with_interface_version_tlv() -> None:
    raw = (
        bytes.fromhex("0000001a800000090000000000000007")
        + b"SMSC\x00"
        + bytes.fromhex("0210000134")
    )
    decoded = p.decode(raw)
    assert decoded.body == p.BindResp("SMSC", (p.Tlv(p.Tag.SC_INTERFACE_VERSION, b"\x34"),))


def test_submit_sm_bytes() -> None:
    sm = p.ShortMessage(
        destination_addr="77010000001",
        short_message=b"Hi",
        source_addr="Clarion",
        source_addr_ton=5,
        source_addr_npi=0,
        dest_addr_ton=1,
        dest_addr_npi=1,
        validity_period="000000001000000R",
        registered_delivery=1,
        data_coding=0,
        tlvs=(p.Tlv.u16(p.Tag.SAR_MSG_REF_NUM, 0x1234),),
    )
    raw = p.encode(p.Pdu(p.Command.SUBMIT_SM, 2, 0, sm))
    body = (
        b"\x00"  # service_type
        + b"\x05\x00Clarion\x00"
        + b"\x01\x0177010000001\x00"
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\x00"  # schedule_delivery_time
        + b"000000001000000R\x00"
        + b"\x01\x00\x00\x00"  # registered_delivery, replace, data_coding, default msg id
        + b"\x02Hi"
        + bytes.fromhex("020c00021234")
    )
    assert raw[16:] == body
    assert raw[:16] == (16 + len(body)).to_bytes(4, "big") + bytes.fromhex(
        "000000040000000000000002"
    )
    assert p.decode(raw).body == sm


def test_submit_sm_resp_with_and_without_body() -> None:
    ok = bytes.fromhex("00000019800000040000000000000002") + b"ab12cd34\x00"
    assert p.decode(ok).body == p.MessageIdResp("ab12cd34")
    # SMSCs may omit the body of a failed response.
    failed = p.decode(bytes.fromhex("00000010800000040000005800000002"))
    assert failed.status == Status.ESME_RTHROTTLED
    assert failed.body == p.MessageIdResp()


def test_deliver_sm_receipt_tlvs() -> None:
    text = b"id:1a2b sub:001 dlvrd:001 submit date:2611261200 done date:2611261201 stat:DELIVRD"
    raw_body = (
        b"\x00"
        + b"\x01\x0177010000001\x00"
        + b"\x05\x00Clarion\x00"
        + b"\x04\x00\x00"
        + b"\x00\x00"
        + b"\x00\x00\x00\x00"
        + bytes([len(text)])
        + text
        + bytes.fromhex("001e" "0005") + b"1a2b\x00"
        + bytes.fromhex("0427" "0001" "02")
    )  # fmt: skip
    raw = (16 + len(raw_body)).to_bytes(4, "big") + bytes.fromhex("000000050000000000000009")
    decoded = p.decode(raw + raw_body)
    assert isinstance(decoded.body, p.ShortMessage)
    sm = decoded.body
    assert sm.esm_class == 0x04 and sm.source_addr == "77010000001"
    assert sm.short_message == text
    receipted = sm.tlv(p.Tag.RECEIPTED_MESSAGE_ID)
    state = sm.tlv(p.Tag.MESSAGE_STATE)
    assert receipted is not None and receipted.as_cstring() == "1a2b"
    assert state is not None and state.as_int() == 2


def test_unknown_tlv_kept_and_unknown_command_empty() -> None:
    raw = p.encode(
        p.Pdu(p.Command.DELIVER_SM_RESP, 3, 0, p.MessageIdResp("", (p.Tlv(0x1403, b"xyz"),)))
    )
    assert p.decode(raw).body == p.MessageIdResp("", (p.Tlv(0x1403, b"xyz"),))
    query = bytes.fromhex("00000012000000030000000000000004") + b"\x00\x00"
    assert p.decode(query).body == p.Empty()


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex("0000000f0000001500000000"),  # shorter than a header
        bytes.fromhex("00000011000000150000000000000001"),  # length mismatch
        bytes.fromhex("00000014000000090000000000000001") + b"abcd",  # no NUL
        bytes.fromhex("00000019800000040000000000000002") + b"ab\x00" + b"\x00\x01\x00\x05x",
    ],
)
def test_framing_errors(raw: bytes) -> None:
    with pytest.raises(p.PduError):
        p.decode(raw)


def test_field_limits_enforced_on_encode() -> None:
    with pytest.raises(p.PduError):
        p.encode(p.Pdu(p.Command.BIND_TRANSMITTER, 1, 0, p.Bind("x" * 16, "pw")))
    with pytest.raises(p.PduError):
        p.encode(p.Pdu(p.Command.SUBMIT_SM, 1, 0, p.ShortMessage("1", b"x" * 255)))


def test_peek_length_bounds() -> None:
    assert p.peek_length(bytes.fromhex("00000010")) == 16
    with pytest.raises(p.PduError):
        p.peek_length(bytes.fromhex("0000000f"))
    with pytest.raises(p.PduError):
        p.peek_length(bytes.fromhex("7fffffff"))


addresses = st.text(alphabet="0123456789+ABCxyz", max_size=20)
octet = st.integers(0, 255)


@given(
    dest=addresses,
    source=addresses,
    message=st.binary(max_size=254),
    esm=octet,
    coding=octet,
    registered=octet,
    validity=st.sampled_from(["", "000000001000000R", "261231235959000+"]),
    tlvs=st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=40)), max_size=4),
    seq=st.integers(1, 0x7FFFFFFF),
    command=st.sampled_from([p.Command.SUBMIT_SM, p.Command.DELIVER_SM]),
)
def test_short_message_round_trip(
    dest: str,
    source: str,
    message: bytes,
    esm: int,
    coding: int,
    registered: int,
    validity: str,
    tlvs: list[tuple[int, bytes]],
    seq: int,
    command: p.Command,
) -> None:
    sm = p.ShortMessage(
        destination_addr=dest,
        short_message=message,
        source_addr=source,
        esm_class=esm,
        data_coding=coding,
        registered_delivery=registered,
        validity_period=validity,
        tlvs=tuple(p.Tlv(t, v) for t, v in tlvs),
    )
    pdu = p.Pdu(command, seq, 0, sm)
    assert p.decode(p.encode(pdu)) == pdu


@given(
    system_id=st.text(alphabet="abcXYZ019", max_size=15),
    password=st.text(alphabet="abc019!", max_size=8),
    command=st.sampled_from(sorted(p.BINDS)),
)
def test_bind_round_trip(system_id: str, password: str, command: int) -> None:
    pdu = p.Pdu(command, 1, 0, p.Bind(system_id, password, "VMA", addr_ton=1))
    assert p.decode(p.encode(pdu)) == pdu


def test_status_mapping() -> None:
    assert outcome(Status.ESME_ROK) is Outcome.ACCEPTED
    assert outcome(Status.ESME_RTHROTTLED) is Outcome.THROTTLED
    assert outcome(Status.ESME_RMSGQFUL) is Outcome.TEMPORARY
    assert outcome(Status.ESME_RSYSERR) is Outcome.TEMPORARY
    assert outcome(Status.ESME_RINVDSTADR) is Outcome.PERMANENT
    assert outcome(Status.ESME_RINVSRCADR) is Outcome.PERMANENT
    assert outcome(0x400) is Outcome.PERMANENT  # vendor-specific
    assert outcome(Status.ESME_RINVCMDLEN, nack=True) is Outcome.PERMANENT
    assert outcome(Status.ESME_RTHROTTLED, nack=True) is Outcome.THROTTLED
    assert outcome(Status.ESME_ROK, nack=True) is Outcome.TEMPORARY
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x400) == "0x00000400"


def test_error_codes_fit_the_column() -> None:
    # messages.error_code is VARCHAR(32): the longest code the channel writes fits.
    assert max(len(f"smpp:nack:{status.name}") for status in Status) <= 32
