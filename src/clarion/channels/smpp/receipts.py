"""SMSC delivery receipts (deliver_sm with esm_class "SMSC delivery receipt").

The text follows SMPP 3.4 Appendix B::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
    stat:DDDDDDD err:E text: . . . . . . . . .

Fields are found by name, in any order and case, because SMSCs differ (some omit
``sub``/``dlvrd``/``text``, some put ``err`` before ``stat``, some use 10- or 12-digit
dates). The TLVs ``receipted_message_id`` and ``message_state``, when present, take
precedence over the text's ``id`` and ``stat``.

Receipt state -> Clarion status (None = not final, ignored):

=========  ===============  ===========================================
stat       message_state    MessageStatus
=========  ===============  ===========================================
DELIVRD    2 DELIVERED      DELIVERED
UNDELIV    5 UNDELIVERABLE  UNDELIVERED
EXPIRED    3 EXPIRED        EXPIRED
REJECTD    8 REJECTED       REJECTED
DELETED    4 DELETED        UNDELIVERED (error "DELETED")
UNKNOWN    7 UNKNOWN        UNDELIVERED (error "UNKNOWN")
ACCEPTD    6 ACCEPTED       None (intermediate: taken by the network)
ENROUTE    1 ENROUTE        None (intermediate)
=========  ===============  ===========================================
"""

from __future__ import annotations

import re

from clarion.channels.smpp.pdu import ShortMessage, Tag
from clarion.domain.lifecycle import MessageStatus

ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_DELIVERY_ACK = 0x08
ESM_MANUAL_ACK = 0x10
ESM_INTERMEDIATE = 0x20
RECEIPT_TYPES = frozenset({ESM_DELIVERY_RECEIPT, ESM_DELIVERY_ACK, ESM_INTERMEDIATE})

STATES_BY_NUMBER = {
    0: "SCHEDULED",
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
# stat -> (final status or None, error code to record)
_STATUS: dict[str, tuple[MessageStatus | None, str | None]] = {
    "DELIVRD": (MessageStatus.DELIVERED, None),
    "DELIVERED": (MessageStatus.DELIVERED, None),
    "UNDELIV": (MessageStatus.UNDELIVERED, None),
    "UNDELIVERABLE": (MessageStatus.UNDELIVERED, None),
    "EXPIRED": (MessageStatus.EXPIRED, None),
    "REJECTD": (MessageStatus.REJECTED, None),
    "REJECTED": (MessageStatus.REJECTED, None),
    "DELETED": (MessageStatus.UNDELIVERED, "DELETED"),
    "UNKNOWN": (MessageStatus.UNDELIVERED, "UNKNOWN"),
    "ACCEPTD": (None, None),
    "ACCEPTED": (None, None),
    "ENROUTE": (None, None),
    "SCHEDULED": (None, None),
}

_FIELD = re.compile(
    r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err):\s*(\S*)",
)
_TEXT = re.compile(r"(?i)\btext:(.*)$", re.DOTALL)


class Receipt:
    """A parsed receipt. The text's fields are read on first use only: with the
    receipted_message_id and message_state TLVs present, a DELIVRD receipt needs none
    of them, and that is most receipts."""

    __slots__ = ("_fields", "_raw", "message_id", "stat")

    def __init__(
        self, message_id: str, stat: str, raw: str = "", fields: dict[str, str] | None = None
    ) -> None:
        self.message_id = message_id
        self.stat = stat
        self._raw = raw
        self._fields = fields

    def __repr__(self) -> str:
        return f"Receipt({self.message_id!r}, {self.stat!r})"

    @property
    def fields(self) -> dict[str, str]:
        if self._fields is None:
            self._fields = parse_text(self._raw)
        return self._fields

    @property
    def error(self) -> str | None:
        """``err`` unless absent or all zeros."""
        error = self.fields.get("err")
        return None if error is None or error.strip("0") == "" else error

    @property
    def submit_date(self) -> str | None:
        return self.fields.get("submit date")

    @property
    def done_date(self) -> str | None:
        return self.fields.get("done date")

    @property
    def text(self) -> str | None:
        """The ``text:`` field: the start of the message as the SMSC quotes it."""
        return self.fields.get("text")

    @property
    def status(self) -> MessageStatus | None:
        """The final Clarion status, or None for an intermediate state."""
        return _STATUS.get(self.stat, (MessageStatus.UNDELIVERED, self.stat))[0]

    @property
    def error_code(self) -> str | None:
        """What to record as the message's error (at most 32 characters, the column's
        size): the state for DELETED/UNKNOWN, else ``err`` when it is not all zeros."""
        status, code = _STATUS.get(self.stat, (MessageStatus.UNDELIVERED, self.stat))
        if status is MessageStatus.DELIVERED:
            return None
        error = self.error
        if code is not None:
            code = code if not error else f"{code} err:{error}"
        else:
            code = f"err:{error}" if error else None
        return code[:32] if code else None


def is_receipt(sm: ShortMessage) -> bool:
    """A deliver_sm is a receipt by its esm_class message type, or by carrying
    receipted_message_id (some SMSCs leave esm_class 0)."""
    if (sm.esm_class & ESM_TYPE_MASK) in RECEIPT_TYPES:
        return True
    return sm.tlv(Tag.RECEIPTED_MESSAGE_ID) is not None


def parse_text(text: str) -> dict[str, str]:
    """Named fields of a receipt text (keys lower-case, ``text`` included)."""
    fields: dict[str, str] = {}
    head = text
    found = _TEXT.search(text)
    if found:
        fields["text"] = found.group(1).strip()
        head = text[: found.start()]
    for match in _FIELD.finditer(head):
        fields.setdefault(match.group(1).lower(), match.group(2))
    return fields


def parse(sm: ShortMessage) -> Receipt | None:
    """The receipt in a deliver_sm, or None if it carries no message id."""
    raw = sm.short_message
    if not raw:
        payload = sm.tlv(Tag.MESSAGE_PAYLOAD)
        raw = payload.value if payload is not None else b""
    text = raw.decode("latin-1")
    id_tlv = sm.tlv(Tag.RECEIPTED_MESSAGE_ID)
    state_tlv = sm.tlv(Tag.MESSAGE_STATE)
    state = STATES_BY_NUMBER.get(state_tlv.as_int()) if state_tlv is not None else None
    if id_tlv is not None and state is not None:
        message_id = id_tlv.as_cstring()
        return Receipt(message_id, state, text) if message_id else None
    fields = parse_text(text)
    message_id = id_tlv.as_cstring() if id_tlv is not None else fields.get("id", "")
    if not message_id:
        return None
    stat = state or fields.get("stat", "").upper() or "UNKNOWN"
    return Receipt(message_id, stat, text, fields)


def normalise_id(value: str) -> str:
    """Message ids as keys: SMSCs differ in zero padding and hex case between the
    submit_sm_resp and the receipt."""
    return value.lstrip("0").lower() or "0"
