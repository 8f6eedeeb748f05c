"""SMPP 3.4 PDU codec: the header, the operations an ESME needs, and TLVs.

A PDU is ``command_length`` (4 octets, the whole PDU), ``command_id``, ``command_status``
and ``sequence_number`` (4 octets each, big-endian), then a body of mandatory
parameters followed by optional TLVs (tag 2 octets, length 2 octets, value).

Mandatory parameters are C-octet strings (ASCII, NUL-terminated, with a maximum size
*including* the NUL), 1-octet integers, or the ``short_message`` octet string whose
length is given by the preceding ``sm_length``. Decoding is strict about framing (a
string without its NUL, a short body, a TLV running past the end are ``PduError``) and
lenient about content: unknown TLVs are kept as raw bytes, and a response whose body
was omitted (SMSCs do that for a non-zero ``command_status``) decodes with empty
fields.

Only what the codec does is here; what the results mean is in ``errors.py`` and the
channel.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
MAX_PDU_SIZE = 64 * 1024  # far above any real PDU; a larger length is a framing error
INTERFACE_VERSION = 0x34


class PduError(ValueError):
    """Bytes that are not a well-formed PDU (a framing or field error)."""


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


RESPONSE_BIT = 0x80000000
BINDS = frozenset({Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER})


class Tag(IntEnum):
    """The optional parameters Clarion reads or writes."""

    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427
    RECEIPTED_MESSAGE_ID = 0x001E


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes

    @classmethod
    def u8(cls, tag: int, value: int) -> Tlv:
        return cls(tag, struct.pack(">B", value))

    @classmethod
    def u16(cls, tag: int, value: int) -> Tlv:
        return cls(tag, struct.pack(">H", value))

    @classmethod
    def cstring(cls, tag: int, value: str) -> Tlv:
        return cls(tag, value.encode("ascii") + b"\x00")

    def as_int(self) -> int:
        return int.from_bytes(self.value, "big")

    def as_cstring(self) -> str:
        return self.value.split(b"\x00", 1)[0].decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class Bind:
    """bind_transmitter / bind_receiver / bind_transceiver body."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True)
class BindResp:
    system_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """The shared body of submit_sm and deliver_sm (identical layouts)."""

    destination_addr: str
    short_message: bytes = b""
    source_addr: str = ""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: tuple[Tlv, ...] = ()

    def tlv(self, tag: int) -> Tlv | None:
        for t in self.tlvs:
            if t.tag == tag:
                return t
        return None


@dataclass(frozen=True, slots=True)
class MessageIdResp:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp body."""

    message_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class Empty:
    """A header-only PDU (enquire_link, unbind, their responses, generic_nack)."""


Body = Bind | BindResp | ShortMessage | MessageIdResp | Empty


@dataclass(frozen=True, slots=True)
class Pdu:
    command: int
    sequence: int
    status: int = 0
    body: Body = field(default_factory=Empty)

    @property
    def is_response(self) -> bool:
        return bool(self.command & RESPONSE_BIT)


# --- encoding ------------------------------------------------------------------------


def _cstring(value: str, size: int, name: str) -> bytes:
    raw = value.encode("ascii")
    if b"\x00" in raw:
        raise PduError(f"{name} contains NUL")
    if len(raw) + 1 > size:
        raise PduError(f"{name} longer than {size - 1} characters: {value!r}")
    return raw + b"\x00"


def _tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    out = bytearray()
    for t in tlvs:
        if len(t.value) > 0xFFFF:
            raise PduError(f"TLV 0x{t.tag:04x} longer than 65535 octets")
        out += struct.pack(">HH", t.tag, len(t.value)) + t.value
    return bytes(out)


def _encode_body(body: Body) -> bytes:
    if isinstance(body, Empty):
        return b""
    if isinstance(body, Bind):
        return (
            _cstring(body.system_id, 16, "system_id")
            + _cstring(body.password, 9, "password")
            + _cstring(body.system_type, 13, "system_type")
            + bytes((body.interface_version, body.addr_ton, body.addr_npi))
            + _cstring(body.address_range, 41, "address_range")
        )
    if isinstance(body, BindResp):
        return _cstring(body.system_id, 16, "system_id") + _tlvs(body.tlvs)
    if isinstance(body, MessageIdResp):
        return _cstring(body.message_id, 65, "message_id") + _tlvs(body.tlvs)
    sm = body
    if len(sm.short_message) > 254:
        raise PduError("short_message longer than 254 octets (use message_payload)")
    return b"".join(
        (
            _cstring(sm.service_type, 6, "service_type"),
            bytes((sm.source_addr_ton, sm.source_addr_npi)),
            _cstring(sm.source_addr, 21, "source_addr"),
            bytes((sm.dest_addr_ton, sm.dest_addr_npi)),
            _cstring(sm.destination_addr, 21, "destination_addr"),
            bytes((sm.esm_class, sm.protocol_id, sm.priority_flag)),
            _cstring(sm.schedule_delivery_time, 17, "schedule_delivery_time"),
            _cstring(sm.validity_period, 17, "validity_period"),
            bytes(
                (
                    sm.registered_delivery,
                    sm.replace_if_present_flag,
                    sm.data_coding,
                    sm.sm_default_msg_id,
                    len(sm.short_message),
                )
            ),
            sm.short_message,
            _tlvs(sm.tlvs),
        )
    )


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of ``pdu`` (header included)."""
    body = _encode_body(pdu.body)
    return HEADER.pack(HEADER_SIZE + len(body), pdu.command, pdu.status, pdu.sequence) + body


# --- decoding ------------------------------------------------------------------------


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.data)

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"body ends before {name}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def cstring(self, size: int, name: str) -> str:
        end = self.data.find(b"\x00", self.pos, self.pos + size)
        if end < 0:
            raise PduError(f"{name} is not NUL-terminated within {size} octets")
        value = self.data[self.pos : end].decode("ascii", "replace")
        self.pos = end + 1
        return value

    def octets(self, length: int, name: str) -> bytes:
        if self.pos + length > len(self.data):
            raise PduError(f"body ends inside {name}")
        value = self.data[self.pos : self.pos + length]
        self.pos += length
        return value

    def tlvs(self) -> tuple[Tlv, ...]:
        found: list[Tlv] = []
        while not self.done():
            if self.pos + 4 > len(self.data):
                raise PduError("truncated TLV header")
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            found.append(Tlv(tag, self.octets(length, f"TLV 0x{tag:04x}")))
        return tuple(found)


def _decode_short_message(r: _Reader) -> ShortMessage:
    service_type = r.cstring(6, "service_type")
    source_ton, source_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
    source = r.cstring(21, "source_addr")
    dest_ton, dest_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
    dest = r.cstring(21, "destination_addr")
    esm_class, protocol_id, priority = r.u8("esm_class"), r.u8("protocol_id"), r.u8("priority")
    schedule = r.cstring(17, "schedule_delivery_time")
    validity = r.cstring(17, "validity_period")
    registered, replace = r.u8("registered_delivery"), r.u8("replace_if_present_flag")
    data_coding, default_id = r.u8("data_coding"), r.u8("sm_default_msg_id")
    text = r.octets(r.u8("sm_length"), "short_message")
    return ShortMessage(
        destination_addr=dest,
        short_message=text,
        source_addr=source,
        service_type=service_type,
        source_addr_ton=source_ton,
        source_addr_npi=source_npi,
        dest_addr_ton=dest_ton,
        dest_addr_npi=dest_npi,
        esm_class=esm_class,
        protocol_id=protocol_id,
        priority_flag=priority,
        schedule_delivery_time=schedule,
        validity_period=validity,
        registered_delivery=registered,
        replace_if_present_flag=replace,
        data_coding=data_coding,
        sm_default_msg_id=default_id,
        tlvs=r.tlvs(),
    )


def _decode_body(command: int, data: bytes) -> Body:
    r = _Reader(data)
    if command in BINDS:
        return Bind(
            system_id=r.cstring(16, "system_id"),
            password=r.cstring(9, "password"),
            system_type=r.cstring(13, "system_type"),
            interface_version=r.u8("interface_version"),
            addr_ton=r.u8("addr_ton"),
            addr_npi=r.u8("addr_npi"),
            address_range=r.cstring(41, "address_range"),
        )
    if command in (
        Command.BIND_RECEIVER_RESP,
        Command.BIND_TRANSMITTER_RESP,
        Command.BIND_TRANSCEIVER_RESP,
    ):
        if r.done():
            return BindResp()
        return BindResp(r.cstring(16, "system_id"), r.tlvs())
    if command in (Command.SUBMIT_SM, Command.DELIVER_SM):
        return _decode_short_message(r)
    if command in (Command.SUBMIT_SM_RESP, Command.DELIVER_SM_RESP, Command.DATA_SM_RESP):
        if r.done():
            return MessageIdResp()
        return MessageIdResp(r.cstring(65, "message_id"), r.tlvs())
    return Empty()


def peek_length(header: bytes) -> int:
    """``command_length`` from the first 4+ octets, checked for sanity."""
    length = int.from_bytes(header[:4], "big")
    if length < HEADER_SIZE or length > MAX_PDU_SIZE:
        raise PduError(f"command_length {length} out of range")
    return length


def decode(data: bytes) -> Pdu:
    """One whole PDU (exactly ``command_length`` octets) back to a ``Pdu``.

    Commands without a body layout known here (query_sm, data_sm, outbind, ...) decode
    with an ``Empty`` body: the session answers them with generic_nack or ignores them.
    """
    if len(data) < HEADER_SIZE:
        raise PduError("shorter than a PDU header")
    length, command, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} but {len(data)} octets given")
    return Pdu(command, sequence, status, _decode_body(command, data[HEADER_SIZE:]))
