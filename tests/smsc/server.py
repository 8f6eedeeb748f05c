"""The test SMSC: an asyncio SMPP 3.4 server on 127.0.0.1 with commands for tests.

What it does:

* accepts bind_transmitter / bind_receiver / bind_transceiver when the system_id and
  password match ``users`` (else ESME_RINVSYSID / ESME_RINVPASWD); a second bind on a
  bound session is ESME_RALYBND; submit_sm before a bind is ESME_RINVBNDSTS;
* answers submit_sm with a fresh message id and records every submit_sm it received
  (``submits``, in arrival order, with its answer): destination, source, data_coding,
  esm_class, the concatenation UDH or SAR TLVs, the decoded part text;
* sends an SMSC delivery receipt (deliver_sm, esm_class 0x04, text in the Appendix B
  format plus receipted_message_id / message_state TLVs) for every accepted submit_sm
  with registered_delivery, after ``receipt_delay`` seconds, on a receiving session of
  the same system_id; receipts not acknowledged when a session dies are queued again
  and sent when one binds;
* answers enquire_link and unbind, and generic_nack (ESME_RINVCMDID) for anything else.

Commands: ``throttle_next(n)`` (the next n submit_sm get ESME_RTHROTTLED),
``throttle_every(k)`` (every k-th, until ``throttle_every(0)``), ``reject`` (a phone ->
command_status map for permanent errors), ``nack`` (phone -> status answered with a
generic_nack instead of submit_sm_resp), ``receipt_stat`` (phone -> stat, default
DELIVRD), ``drop_after(n)`` (after n more submit_sm: stop answering, keep taking what
arrives until the line is quiet, then abort the connection; the taken PDUs get
receipts later, their responses are lost), ``drop_now()`` (abort every connection), and
``send_mo(source, text)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import struct
import time
from collections import deque
from dataclasses import dataclass

from tests.smsc import wire


@dataclass
class SubmitRecord:
    system_id: str
    destination: str
    source: str
    source_ton: int
    data_coding: int
    esm_class: int
    validity_period: str
    registered_delivery: int
    short_message: bytes
    status: int
    message_id: str | None
    udh: tuple[int, int, int, int] | None = None  # (iei, ref, total, seq)
    sar: tuple[int, int, int] | None = None  # (ref, total, seq)
    text: str = ""


@dataclass
class _Receipt:
    system_id: str
    body: bytes


class _Session(asyncio.Protocol):
    def __init__(self, smsc: Smsc) -> None:
        self.smsc = smsc
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.system_id: str | None = None
        self.receives = False
        self.transmits = False
        self.seq = itertools.count(1)
        self.outstanding: dict[int, _Receipt] = {}
        self.stall_after: int | None = None  # submits left before stalling
        self.stalled = False
        self.quiet: asyncio.TimerHandle | None = None
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.smsc.sessions.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self in self.smsc.sessions:
            self.smsc.sessions.remove(self)
        for receipt in self.outstanding.values():
            self.smsc.queue.appendleft(receipt)
        self.outstanding.clear()
        self.smsc.kick()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 16:
            length = struct.unpack(">L", self.buffer[:4])[0]
            if length < 16 or length > 65536:
                self.abort()
                return
            if len(self.buffer) < length:
                break
            raw = bytes(self.buffer[:length])
            del self.buffer[:length]
            self.handle(raw)
        if self.stalled:
            self.arm_quiet()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed and not self.stalled:
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()

    def arm_quiet(self) -> None:
        if self.quiet is not None:
            self.quiet.cancel()
        self.quiet = asyncio.get_running_loop().call_later(self.smsc.drop_quiet, self.abort)

    # PDUs
    def handle(self, raw: bytes) -> None:
        _length, command, status, seq = wire.header(raw)
        body = raw[16:]
        smsc = self.smsc
        if command in (wire.BIND_TRANSMITTER, wire.BIND_RECEIVER, wire.BIND_TRANSCEIVER):
            self.on_bind(command, seq, body)
        elif command == wire.SUBMIT_SM:
            self.on_submit(seq, body)
        elif command == wire.DELIVER_SM_RESP:
            receipt = self.outstanding.pop(seq, None)
            if receipt is not None:
                if status == wire.ROK:
                    smsc.receipts_acked += 1
                else:
                    smsc.queue.append(receipt)
            smsc.kick()
        elif command == wire.ENQUIRE_LINK:
            smsc.enquire_links += 1
            self.write(wire.pdu(wire.ENQUIRE_LINK_RESP, 0, seq))
        elif command == wire.UNBIND:
            self.write(wire.pdu(wire.UNBIND_RESP, 0, seq))
            if self.transport is not None:
                self.transport.close()
        elif command & 0x80000000:
            pass  # a response we do not track
        else:
            self.write(wire.pdu(wire.GENERIC_NACK, wire.RINVCMDID, seq))

    def on_bind(self, command: int, seq: int, body: bytes) -> None:
        resp = command | 0x80000000
        if self.system_id is not None:
            self.write(wire.pdu(resp, wire.RALYBND, seq))
            return
        system_id, password, _system_type = wire.parse_bind(body)
        expected = self.smsc.users.get(system_id)
        if expected is None:
            self.write(wire.pdu(resp, wire.RINVSYSID, seq))
            return
        if expected != password:
            self.smsc.bind_failures += 1
            self.write(wire.pdu(resp, wire.RINVPASWD, seq))
            return
        self.system_id = system_id
        self.transmits = command in (wire.BIND_TRANSMITTER, wire.BIND_TRANSCEIVER)
        self.receives = command in (wire.BIND_RECEIVER, wire.BIND_TRANSCEIVER)
        self.smsc.binds.append((system_id, command))
        self.write(wire.pdu(resp, wire.ROK, seq, b"testsmsc\x00"))
        if self.smsc.pending_drop is not None:
            self.stall_after, self.smsc.pending_drop = self.smsc.pending_drop, None
        self.smsc.kick()

    def on_submit(self, seq: int, body: bytes) -> None:
        smsc = self.smsc
        if self.system_id is None or not self.transmits:
            self.write(wire.pdu(wire.SUBMIT_SM_RESP, wire.RINVBNDSTS, seq))
            return
        f = wire.parse_sm(body)
        destination = str(f["destination_addr"])
        message = bytes(f["short_message"])  # type: ignore[arg-type]
        tlvs: dict[int, bytes] = f["tlvs"]  # type: ignore[assignment]
        esm_class = int(f["esm_class"])  # type: ignore[call-overload]
        data_coding = int(f["data_coding"])  # type: ignore[call-overload]
        udh = None
        user_data = message
        if esm_class & 0x40:
            udhl = message[0]
            ies = message[1 : 1 + udhl]
            user_data = message[1 + udhl :]
            if ies[:2] == b"\x00\x03":
                udh = (0x00, ies[2], ies[3], ies[4])
            elif ies[:2] == b"\x08\x04":
                udh = (0x08, (ies[2] << 8) | ies[3], ies[4], ies[5])
        sar = None
        if wire.TAG_SAR_MSG_REF_NUM in tlvs:
            sar = (
                struct.unpack(">H", tlvs[wire.TAG_SAR_MSG_REF_NUM])[0],
                tlvs[wire.TAG_SAR_TOTAL_SEGMENTS][0],
                tlvs[wire.TAG_SAR_SEGMENT_SEQNUM][0],
            )
        text = (
            user_data.decode("utf-16-be", "replace")
            if data_coding & 0x0C == 0x08
            else wire.gsm_decode(user_data)
        )
        stalled = False
        if self.stall_after is not None:
            self.stall_after -= 1
            stalled = self.stalled = self.stall_after < 0
        status = wire.ROK
        if stalled:
            pass  # taken whatever the throttle / reject settings say
        elif smsc.throttle_count > 0:
            smsc.throttle_count -= 1
            status = wire.RTHROTTLED
        elif smsc.throttle_k and next(smsc.throttle_counter) % smsc.throttle_k == 0:
            status = wire.RTHROTTLED
        elif destination in smsc.reject:
            status = smsc.reject[destination]
        elif destination in smsc.nack:
            smsc.submits.append(
                SubmitRecord(self.system_id, destination, "", 0, data_coding, esm_class, "", 0,
                             message, smsc.nack[destination], None)
            )  # fmt: skip
            self.write(wire.pdu(wire.GENERIC_NACK, smsc.nack[destination], seq))
            return
        message_id = None
        if status == wire.ROK:
            message_id = f"{next(smsc.ids):x}"
        record = SubmitRecord(
            system_id=self.system_id,
            destination=destination,
            source=str(f["source_addr"]),
            source_ton=int(f["source_ton"]),  # type: ignore[call-overload]
            data_coding=data_coding,
            esm_class=esm_class,
            validity_period=str(f["validity_period"]),
            registered_delivery=int(f["registered_delivery"]),  # type: ignore[call-overload]
            short_message=message,
            status=status,
            message_id=message_id,
            udh=udh,
            sar=sar,
            text=text,
        )
        smsc.submits.append(record)
        if message_id is not None and record.registered_delivery & 0x01:
            smsc.schedule_receipt(record)
        if stalled:
            # The submit_sm was taken (recorded, receipt coming) but its response
            # never leaves; the connection is aborted once the line is quiet.
            smsc.unanswered += 1
            return
        resp_body = (message_id or "").encode() + b"\x00" if status == wire.ROK else b""
        self.write(wire.pdu(wire.SUBMIT_SM_RESP, status, seq, resp_body))


class Smsc:
    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        receipt_delay: float = 0.0,
        drop_quiet: float = 0.2,
    ) -> None:
        self.users = users if users is not None else {"clarion": "secret"}
        self.receipt_delay = receipt_delay
        self.drop_quiet = drop_quiet
        self.submits: list[SubmitRecord] = []
        self.binds: list[tuple[str, int]] = []
        self.bind_failures = 0
        self.enquire_links = 0
        self.receipts_acked = 0
        self.unanswered = 0
        self.reject: dict[str, int] = {}
        self.nack: dict[str, int] = {}
        self.receipt_stat: dict[str, str] = {}
        self.throttle_count = 0
        self.throttle_k = 0
        self.throttle_counter = itertools.count(1)
        self.pending_drop: int | None = None
        self.ids = itertools.count(0x1000)
        self.sessions: list[_Session] = []
        self.queue: deque[_Receipt] = deque()
        self.mo_acked = 0
        self._server: asyncio.Server | None = None
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self.port = 0

    async def start(self, *, tls: ssl.SSLContext | None = None) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        self._pump = asyncio.create_task(self._pump_receipts())
        return self.port

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        for session in list(self.sessions):
            session.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- commands ------------------------------------------------------------------

    def throttle_next(self, count: int) -> None:
        self.throttle_count = count

    def throttle_every(self, k: int) -> None:
        self.throttle_k = k

    def drop_after(self, count: int) -> None:
        """The transmitting session stalls after ``count`` more submit_sm (see module
        docstring); with no such session yet, the next one to bind does."""
        for session in self.sessions:
            if session.transmits and not session.closed:
                session.stall_after = count
                return
        self.pending_drop = count

    def drop_now(self) -> None:
        for session in list(self.sessions):
            session.abort()

    def send_mo(
        self,
        source: str,
        text: str,
        *,
        destination: str = "4040",
        system_id: str = "clarion",
        ucs2: bool = False,
        udh_parts: int = 1,
    ) -> None:
        """Queue a mobile-originated message (split in ``udh_parts`` UDH parts)."""
        data = text.encode("utf-16-be") if ucs2 else wire.gsm_encode(text)
        unit = 2 if ucs2 else 1
        chars = -(-len(data) // unit // udh_parts)
        chunks = [data[i : i + chars * unit] for i in range(0, len(data), chars * unit)]
        for seq, chunk in enumerate(chunks, start=1):
            esm_class = 0
            message = chunk
            if len(chunks) > 1:
                esm_class = 0x40
                message = bytes([5, 0, 3, 0x42, len(chunks), seq]) + chunk
            body = wire.build_sm(
                source=source.lstrip("+"),
                source_ton=1,
                destination=destination,
                esm_class=esm_class,
                data_coding=8 if ucs2 else 0,
                message=message,
            )
            self.queue.append(_Receipt(system_id, body))
        self.kick()

    # --- receipts --------------------------------------------------------------------

    def accepted(self) -> list[SubmitRecord]:
        return [s for s in self.submits if s.status == wire.ROK]

    def schedule_receipt(self, record: SubmitRecord) -> None:
        if self.receipt_delay <= 0:
            self._queue_receipt(record)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self._queue_receipt(record)

        handle = loop.call_later(self.receipt_delay, fire)
        self._timers.add(handle)

    def _queue_receipt(self, record: SubmitRecord) -> None:
        assert record.message_id is not None
        stat = self.receipt_stat.get(record.destination, "DELIVRD")
        state = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6,
                 "UNKNOWN": 7, "REJECTD": 8}[stat]  # fmt: skip
        now = time.strftime("%y%m%d%H%M", time.gmtime())
        err = "000" if stat == "DELIVRD" else "001"
        text = (
            f"id:{record.message_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
            f"submit date:{now} done date:{now} stat:{stat} err:{err} text:{record.text[:20]}"
        ).encode("latin-1", "replace")
        body = wire.build_sm(
            source=record.destination,
            source_ton=1,
            destination=record.source,
            esm_class=0x04,
            data_coding=0,
            message=text,
            tlvs={
                wire.TAG_RECEIPTED_MESSAGE_ID: record.message_id.encode() + b"\x00",
                wire.TAG_MESSAGE_STATE: bytes([state]),
            },
        )
        self.queue.append(_Receipt(record.system_id, body))
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    async def _pump_receipts(self) -> None:
        """Send queued deliver_sm to a receiving session of their system_id, at most
        200 unacknowledged per session."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            held: list[_Receipt] = []
            while self.queue:
                receipt = self.queue.popleft()
                targets = [
                    s
                    for s in self.sessions
                    if s.receives
                    and not s.closed
                    and not s.stalled
                    and s.system_id == receipt.system_id
                    and len(s.outstanding) < 200
                ]
                if not targets:
                    held.append(receipt)
                    continue
                session = min(targets, key=lambda s: len(s.outstanding))
                seq = next(session.seq)
                session.outstanding[seq] = receipt
                session.write(wire.pdu(wire.DELIVER_SM, 0, seq, receipt.body))
            self.queue.extend(held)
            # Yield so responses can be read before the next round.
            await asyncio.sleep(0)


def submitted_phones(smsc: Smsc) -> list[str]:
    """Destinations of accepted first parts (one per message)."""
    return [
        s.destination
        for s in smsc.accepted()
        if (s.udh is None or s.udh[3] == 1) and (s.sar is None or s.sar[2] == 1)
    ]


__all__ = ["Smsc", "SubmitRecord", "submitted_phones"]
