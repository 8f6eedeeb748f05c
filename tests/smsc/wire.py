"""The test SMSC's own PDU reading and writing (SMPP 3.4, sections 3 and 4).

Deliberately plain: offsets and ``struct`` over bytes, no classes shared with Clarion.
"""

from __future__ import annotations

import struct

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015

ROK = 0x00
RINVMSGLEN = 0x01
RINVCMDID = 0x03
RINVBNDSTS = 0x04
RALYBND = 0x05
RINVDSTADR = 0x0B
RINVPASWD = 0x0E
RINVSYSID = 0x0F
RMSGQFUL = 0x14
RTHROTTLED = 0x58

TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427

# GSM 03.38 default alphabet, 0x00..0x7F (0x1B, ESC, as a space here: never looked up).
GSM_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_ESCAPED = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
               0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip
GSM_REVERSE = {ch: bytes([i]) for i, ch in enumerate(GSM_TABLE) if i != 0x1B}
GSM_REVERSE.update({ch: bytes([0x1B, i]) for i, ch in GSM_ESCAPED.items()})


def header(data: bytes) -> tuple[int, int, int, int]:
    length, command, status, seq = struct.unpack(">LLLL", data[:16])
    return length, command, status, seq


def pdu(command: int, status: int, seq: int, body: bytes = b"") -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command, status, seq) + body


def cstr(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(0, at)
    return data[at:end].decode("latin-1"), end + 1


def parse_bind(body: bytes) -> tuple[str, str, str]:
    system_id, at = cstr(body, 0)
    password, at = cstr(body, at)
    system_type, at = cstr(body, at)
    return system_id, password, system_type


def parse_sm(body: bytes) -> dict[str, object]:
    """submit_sm / deliver_sm mandatory fields and TLVs (tag -> bytes)."""
    f: dict[str, object] = {}
    f["service_type"], at = cstr(body, 0)
    f["source_ton"], f["source_npi"] = body[at], body[at + 1]
    f["source_addr"], at = cstr(body, at + 2)
    f["dest_ton"], f["dest_npi"] = body[at], body[at + 1]
    f["destination_addr"], at = cstr(body, at + 2)
    f["esm_class"], f["protocol_id"], f["priority_flag"] = body[at], body[at + 1], body[at + 2]
    f["schedule_delivery_time"], at = cstr(body, at + 3)
    f["validity_period"], at = cstr(body, at)
    f["registered_delivery"] = body[at]
    f["data_coding"] = body[at + 2]
    sm_length = body[at + 4]
    at += 5
    f["short_message"] = body[at : at + sm_length]
    at += sm_length
    tlvs: dict[int, bytes] = {}
    while at + 4 <= len(body):
        tag, length = struct.unpack(">HH", body[at : at + 4])
        tlvs[tag] = body[at + 4 : at + 4 + length]
        at += 4 + length
    f["tlvs"] = tlvs
    return f


def build_sm(
    *,
    source: str,
    source_ton: int,
    destination: str,
    esm_class: int,
    data_coding: int,
    message: bytes,
    tlvs: dict[int, bytes] | None = None,
) -> bytes:
    """A deliver_sm body."""
    out = b"\x00"  # service_type
    out += bytes([source_ton, 1]) + source.encode() + b"\x00"
    out += bytes([1, 1]) + destination.encode() + b"\x00"
    out += bytes([esm_class, 0, 0]) + b"\x00" + b"\x00"  # pid, priority, schedule, validity
    out += bytes([0, 0, data_coding, 0, len(message)]) + message
    for tag, value in (tlvs or {}).items():
        out += struct.pack(">HH", tag, len(value)) + value
    return out


def gsm_decode(data: bytes) -> str:
    text, i = [], 0
    while i < len(data):
        if data[i] == 0x1B and i + 1 < len(data):
            text.append(GSM_ESCAPED.get(data[i + 1], "?"))
            i += 2
        else:
            text.append(GSM_TABLE[data[i] & 0x7F])
            i += 1
    return "".join(text)


def gsm_encode(text: str) -> bytes:
    return b"".join(GSM_REVERSE[ch] for ch in text)
