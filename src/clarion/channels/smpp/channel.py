"""The ``smpp`` channel: submissions to SMSCs over SMPP 3.4, receipts and MO back.

Submitting a batch
------------------
Every submission becomes one or more submit_sm (see ``text.py``), all on one
connection (round-robin over the bound transmitting links). They are pipelined: the
whole batch is in flight at once, bounded by each link's window and pace. A
multipart message sends its first part first and the others only once the first is
ACCEPTED, so a message is either wholly not taken (its outcome is the first part's
refusal and it may be requeued safely) or taken (ACCEPTED; its ``channel_ref`` is the
first part's SMSC message id). A later part refused with THROTTLED / TEMPORARY /
"not written" is retried by the channel until the submit deadline (never a part that
may have been taken); one that still fails counts as not delivered.

Submit outcomes come from ``errors.outcome``. ESME_RTHROTTLED also pauses the link for
``throttle_pause`` seconds, because the dispatcher's own back-off does not apply to a
campaign without a rate limit.

No double send
--------------
A submit_sm is *in doubt* when it was written to a connection and no response came
(the connection dropped, or the response timed out and the connection was dropped):
the SMSC may have taken it. Such a PDU is never written again. A PDU not yet written
when its connection dropped waits for a new bind (until ``submit_timeout``) and then
goes out; if the deadline passes first it is TEMPORARY (it never left the process).

If a batch has in-doubt messages the channel cannot answer for them with any of the
four outcomes, so, after settling the rest of the batch, ``submit`` raises
``SubmitInDoubt``: the dispatcher leaves the whole batch SENDING and reconciles it with
``lookup`` after ``claim_timeout``. Before raising, the channel retries (internally,
they were never taken) the batch's TEMPORARY / THROTTLED messages so they become
ACCEPTED, reports its PERMANENT ones as REJECTED (the report path), and keeps every
ACCEPTED one in ``lookup``'s memory; receipts carry our message id, so they settle
SENDING rows directly. An in-doubt message is resolved when a receipt with an SMSC id
we never saw comes from its number (the receipt's source_addr) and no other in-doubt
message to that number could match (when several could, the receipt's ``text:``
prefix must pick one): it is then known ACCEPTED (for ``lookup``) and its report is
passed on. One never resolved is absent from ``lookup`` and the dispatcher marks it
UNKNOWN: never resent.

Receipts
--------
A receipt matched to a tracked submission reports with our message id. Multipart:
the message is final once every accepted part has a final receipt: DELIVERED if all
parts were delivered, PDLIVRD if some were, else the first part's status (parts
refused at submit count as not delivered). A receipt for an id not (yet) known waits
``orphan_receipt_grace`` seconds for its submit_sm_resp (possible with several
connections), then goes to the dispatcher by ``channel_ref`` alone, which finds the
message by its stored carrier id (after a restart, for instance).

Mobile-originated messages
--------------------------
A deliver_sm that is not a receipt is an MO message: decoded by data_coding,
reassembled when concatenated (UDH or SAR), and passed to ``on_mo`` (set by the
owner; when unset the message is logged and acknowledged). A hook that raises makes
the deliver_sm_resp ESME_RX_T_APPN so the SMSC retries later.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from clarion.channels.base import DeliveryReport, Outcome, ReportSink, Submission, SubmitResult
from clarion.channels.smpp import errors, receipts, text
from clarion.channels.smpp import pdu as p
from clarion.channels.smpp.config import BindMode, Connection, SmppConfig
from clarion.channels.smpp.errors import Status
from clarion.channels.smpp.receipts import Receipt, normalise_id
from clarion.channels.smpp.session import Link
from clarion.domain.lifecycle import MessageStatus

log = logging.getLogger(__name__)

MAX_TRACKED = 200_000  # submissions awaiting receipts kept in memory
MAX_KNOWN = 500_000  # references remembered for lookup
MAX_MO_PARTIALS = 10_000
RETRY_PAUSE = 0.05

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class MoMessage:
    """A mobile-originated message (``source`` is E.164 with ``+`` when the SMSC
    gives an international number)."""

    source: str
    destination: str
    text: str
    connection: str


MoHook = Callable[[MoMessage], None]


class SubmitInDoubt(ConnectionError):
    """Some submissions of the batch may or may not have been taken by the SMSC."""


@dataclass(slots=True)
class _Track:
    sub: Submission
    channel_ref: str
    expected: set[str]
    open_parts: int = 0
    failed_parts: int = 0
    finals: dict[str, tuple[MessageStatus, str | None]] = field(default_factory=dict)


@dataclass(slots=True)
class _Doubt:
    sub: Submission
    phone: str
    parts: int


def _put(bounded: dict[K, V], key: K, value: V, cap: int) -> None:
    if key not in bounded and len(bounded) >= cap:
        del bounded[next(iter(bounded))]
    bounded[key] = value


def digits(address: str) -> str:
    return "".join(ch for ch in address if ch.isdigit())


def source_address(sender: str, conn: Connection) -> tuple[int, int, str]:
    """(TON, NPI, address) for a sender: alphanumeric -> 5/0, international or longer
    than 8 digits -> 1/1 without the ``+``, a short code -> 3/0; the connection's
    ``source_ton`` / ``source_npi`` override."""
    stripped = sender.strip()
    bare = stripped[1:] if stripped.startswith("+") else stripped
    if not stripped:
        ton, npi, addr = 0, 0, ""
    elif not bare.isdigit():
        ton, npi, addr = 5, 0, stripped
    elif stripped.startswith("+") or len(bare) > 8:
        ton, npi, addr = 1, 1, bare
    else:
        ton, npi, addr = 3, 0, bare
    if conn.source_ton is not None:
        ton = conn.source_ton
    if conn.source_npi is not None:
        npi = conn.source_npi
    return ton, npi, addr


def relative_validity(minutes: int | None) -> str:
    """SMPP relative time ``YYMMDDhhmmss000R`` for a validity in minutes ('' = SMSC
    default). Beyond 99 days, 30-day months are used."""
    if minutes is None or minutes <= 0:
        return ""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    months = years = 0
    if days > 99:
        months, days = divmod(days, 30)
        years, months = divmod(months, 12)
        years = min(years, 99)
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{mins:02d}00000R"


def _alphabet(data_coding: int) -> int:
    """Reduce a data_coding (with message class bits) to 0 GSM, 4 8-bit, 8 UCS-2,
    or the SMPP value itself for 1 (IA5) and 3 (Latin-1)."""
    if data_coding in (0x00, 0x01, 0x03, 0x04, 0x08):
        return data_coding
    if data_coding & 0xC0 == 0:  # GSM 03.38 general data coding group
        return {0: 0x00, 1: 0x04, 2: 0x08}.get((data_coding >> 2) & 0x03, 0x04)
    if data_coding & 0xF0 == 0xF0:
        return 0x04 if data_coding & 0x04 else 0x00
    return 0x04


class SmppChannel:
    name = "smpp"

    def __init__(
        self, config: SmppConfig, sink: ReportSink, *, on_mo: MoHook | None = None
    ) -> None:
        self.config = config
        self.sink = sink
        self.on_mo = on_mo
        self.links: list[Link] = []
        for conn in config.connections:
            if conn.bind is BindMode.TRANSCEIVER:
                binds = [(p.Command.BIND_TRANSCEIVER, conn.name)]
            else:
                binds = [
                    (p.Command.BIND_TRANSMITTER, f"{conn.name}/tx"),
                    (p.Command.BIND_RECEIVER, f"{conn.name}/rx"),
                ]
            for command, label in binds:
                self.links.append(Link(conn, command, self._on_deliver, label=label))
        self._transmitters = [link for link in self.links if link.transmits]
        self._submit_timeout = max(link.conn.submit_timeout for link in self._transmitters)
        self._round_robin = itertools.count()
        self._refs = itertools.count(random.randrange(0x10000))
        self._tracks: dict[str, _Track] = {}
        self._known: dict[str, SubmitResult] = {}
        self._doubts: dict[str, list[_Doubt]] = {}
        self._orphans: dict[str, tuple[Receipt, str, asyncio.TimerHandle | None]] = {}
        self._mo_parts: dict[tuple[str, str, int, int], dict[int, str]] = {}
        self._started = False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        self._start()

    # --- lifecycle -------------------------------------------------------------------

    def _start(self) -> None:
        if not self._started:
            self._started = True
            for link in self.links:
                link.start()

    async def wait_bound(self) -> None:
        """Wait until every link is bound (callers bound the wait themselves)."""
        self._start()
        await asyncio.gather(*(link.ready.wait() for link in self.links))

    async def close(self) -> None:
        for link in self.links:
            await link.stop()
        orphans, self._orphans = self._orphans, {}
        for receipt, _phone, handle in orphans.values():
            if handle is not None:
                handle.cancel()
            self._report_raw(receipt)

    # --- submit ----------------------------------------------------------------------

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        self._start()
        if not batch:
            return []
        answers = await asyncio.gather(*(self._send(sub) for sub in batch))
        if not any(isinstance(a, _Doubt) for a in answers):
            return [a for a in answers if isinstance(a, SubmitResult)]
        await self._settle_in_doubt_batch(batch, answers)
        raise SubmitInDoubt(
            f"{sum(isinstance(a, _Doubt) for a in answers)} of {len(batch)} submissions in "
            "doubt after a connection loss; the batch is left for reconciliation"
        )

    async def _settle_in_doubt_batch(
        self, batch: Sequence[Submission], answers: list[SubmitResult | _Doubt]
    ) -> None:
        """Before the batch goes to reconciliation (where only ACCEPTED survives), make
        the definite outcomes stick: retry the refused-for-now, report the rejected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(link.conn.submit_timeout for link in self._transmitters)
        retry = (Outcome.TEMPORARY, Outcome.THROTTLED)
        while loop.time() < deadline:
            again = [
                i
                for i, a in enumerate(answers)
                if isinstance(a, SubmitResult) and a.outcome in retry
            ]
            if not again:
                break
            await asyncio.sleep(RETRY_PAUSE)
            redone = await asyncio.gather(*(self._send(batch[i]) for i in again))
            for i, answer in zip(again, redone, strict=True):
                answers[i] = answer
        rejected = [
            DeliveryReport(MessageStatus.REJECTED, None, sub.message_id, a.error)
            for sub, a in zip(batch, answers, strict=True)
            if isinstance(a, SubmitResult) and a.outcome is Outcome.PERMANENT
        ]
        if rejected:
            self.sink(rejected)

    def _pick(self) -> Link:
        count = len(self._transmitters)
        start = next(self._round_robin)
        for i in range(count):
            link = self._transmitters[(start + i) % count]
            if link.ready.is_set():
                return link
        return self._transmitters[start % count]

    def _body(
        self, sub: Submission, conn: Connection, data_coding: int, part: text.Part
    ) -> p.ShortMessage:
        ton, npi, source = source_address(sub.sender, conn)
        tlvs: tuple[p.Tlv, ...] = ()
        if part.sar:
            tlvs = (
                p.Tlv.u16(p.Tag.SAR_MSG_REF_NUM, part.ref),
                p.Tlv.u8(p.Tag.SAR_TOTAL_SEGMENTS, part.total),
                p.Tlv.u8(p.Tag.SAR_SEGMENT_SEQNUM, part.seq),
            )
        if sub.mclass is not None:
            data_coding |= 0x10 | (sub.mclass & 0x03)
        return p.ShortMessage(
            destination_addr=sub.phone.lstrip("+"),
            short_message=part.payload,
            source_addr=source,
            service_type=conn.service_type,
            source_addr_ton=ton,
            source_addr_npi=npi,
            dest_addr_ton=conn.dest_ton,
            dest_addr_npi=conn.dest_npi,
            esm_class=text.ESM_CLASS_UDHI if part.udh else 0,
            validity_period=relative_validity(sub.validity_minutes),
            registered_delivery=conn.registered_delivery,
            data_coding=data_coding,
            tlvs=tlvs,
        )

    async def _any_ready(self, deadline: float) -> bool:
        """Wait until some transmitting link is bound (False if ``deadline`` passes)."""
        if any(link.ready.is_set() for link in self._transmitters):
            return True
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        waiters = [asyncio.ensure_future(link.ready.wait()) for link in self._transmitters]
        done, pending = await asyncio.wait(
            waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()
        return bool(done)

    async def _send(self, sub: Submission) -> SubmitResult | _Doubt:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._submit_timeout
        failover = len(self._transmitters) > 1
        while True:
            link = self._pick()
            if failover and not link.ready.is_set():
                if not await self._any_ready(deadline):
                    return SubmitResult(sub.reference, Outcome.TEMPORARY, None, "smpp:not-bound")
                continue
            conn = link.conn
            try:
                encoded = text.encode(
                    sub.text, concatenation=conn.concatenation, ref=next(self._refs) & 0xFFFF
                )
            except ValueError:  # more than 255 parts
                return SubmitResult(sub.reference, Outcome.PERMANENT, None, "smpp:too-many-parts")
            bodies = [self._body(sub, conn, encoded.data_coding, part) for part in encoded.parts]
            # The first part may move to another connection until it is written; the
            # others stay on the connection that took the first.
            first = await link.submit(bodies[0], deadline, failover=failover)
            if first.written or first.response is not None:
                break
            if not failover or loop.time() >= deadline:
                return SubmitResult(sub.reference, Outcome.TEMPORARY, None, "smpp:not-bound")
            await asyncio.sleep(0)  # let the links' runners see the drop
        if first.response is None:
            doubt = _Doubt(sub, digits(sub.phone), len(bodies))
            self._doubts.setdefault(doubt.phone, []).append(doubt)
            log.warning(
                "submission %s in doubt (connection lost before its response)",
                sub.reference,
                extra={"action": "smpp_in_doubt", "message_id": sub.message_id},
            )
            self._match_orphans(doubt.phone)
            return doubt
        response = first.response
        nack = response.command == p.Command.GENERIC_NACK
        outcome = errors.outcome(response.status, nack=nack)
        if outcome is not Outcome.ACCEPTED:
            if outcome is Outcome.THROTTLED:
                link.throttled()
            name = errors.status_name(response.status)
            error = f"smpp:{'nack:' if nack else ''}{name}"  # <= 32 characters
            return SubmitResult(sub.reference, outcome, None, error)
        body = response.body
        channel_ref = body.message_id if isinstance(body, p.MessageIdResp) else ""
        result = SubmitResult(sub.reference, Outcome.ACCEPTED, channel_ref or None)
        _put(self._known, sub.reference, result, MAX_KNOWN)
        if not channel_ref:
            return result  # nothing to match receipts with
        track = _Track(sub, channel_ref, set(), open_parts=len(bodies) - 1)
        self._track_part(track, channel_ref)
        if len(bodies) > 1:
            await asyncio.gather(*(self._send_part(link, track, b, deadline) for b in bodies[1:]))
        return result

    async def _send_part(
        self, link: Link, track: _Track, body: p.ShortMessage, deadline: float
    ) -> None:
        """A part after the first: retried while it is surely not taken."""
        part_id: str | None = None
        while True:
            answer = await link.submit(body, deadline)
            response = answer.response
            if response is None:
                break  # not written by the deadline, or in doubt: not retried
            nack = response.command == p.Command.GENERIC_NACK
            outcome = errors.outcome(response.status, nack=nack)
            if outcome is Outcome.ACCEPTED:
                resp_body = response.body
                part_id = resp_body.message_id if isinstance(resp_body, p.MessageIdResp) else ""
                break
            if outcome is Outcome.THROTTLED:
                link.throttled()
            elif outcome is Outcome.TEMPORARY:
                await asyncio.sleep(max(RETRY_PAUSE, link.conn.throttle_pause))
            else:
                break
        track.open_parts -= 1
        if part_id:
            self._track_part(track, part_id)
        else:
            track.failed_parts += 1
            self._maybe_final(track)

    def _track_part(self, track: _Track, smsc_id: str) -> None:
        key = normalise_id(smsc_id)
        track.expected.add(key)
        _put(self._tracks, key, track, MAX_TRACKED)
        orphan = self._orphans.pop(key, None)
        if orphan is not None:
            receipt, _phone, handle = orphan
            if handle is not None:
                handle.cancel()
            self._record_final(track, key, receipt)

    # --- receipts --------------------------------------------------------------------

    def _on_deliver(self, sm: p.ShortMessage, connection: str) -> int:
        if receipts.is_receipt(sm):
            receipt = receipts.parse(sm)
            if receipt is None:
                log.warning("receipt without a message id", extra={"action": "smpp_bad_receipt"})
            elif receipt.status is not None:
                self._on_receipt(receipt, digits(sm.source_addr))
            return Status.ESME_ROK
        self._on_mo(sm, connection)
        return Status.ESME_ROK

    def _on_receipt(self, receipt: Receipt, phone: str) -> None:
        key = normalise_id(receipt.message_id)
        track = self._tracks.get(key) or self._resolve_doubt(receipt, phone)
        if track is not None:
            self._record_final(track, key, receipt)
            return
        grace = self.config.orphan_receipt_grace
        if grace <= 0:
            self._report_raw(receipt)
            return
        handle = asyncio.get_running_loop().call_later(grace, self._release_orphan, key)
        previous = self._orphans.pop(key, None)
        if previous is not None and previous[2] is not None:
            previous[2].cancel()
        self._orphans[key] = (receipt, phone, handle)

    def _release_orphan(self, key: str) -> None:
        orphan = self._orphans.pop(key, None)
        if orphan is None:
            return
        receipt, phone, _handle = orphan
        track = self._resolve_doubt(receipt, phone)
        if track is not None:
            self._record_final(track, key, receipt)
        else:
            self._report_raw(receipt)

    def _match_orphans(self, phone: str) -> None:
        for key, (receipt, orphan_phone, handle) in list(self._orphans.items()):
            if orphan_phone != phone:
                continue
            track = self._resolve_doubt(receipt, phone)
            if track is not None:
                del self._orphans[key]
                if handle is not None:
                    handle.cancel()
                self._record_final(track, key, receipt)

    def _report_raw(self, receipt: Receipt) -> None:
        status = receipt.status
        if status is not None:
            self.sink([DeliveryReport(status, receipt.message_id, None, receipt.error_code)])

    def _resolve_doubt(self, receipt: Receipt, phone: str) -> _Track | None:
        candidates = self._doubts.get(phone)
        if not candidates:
            return None
        if len(candidates) > 1 and receipt.text:
            prefix = receipt.text
            candidates_ = [d for d in candidates if d.sub.text.startswith(prefix)]
        else:
            candidates_ = candidates
        if len(candidates_) != 1:
            return None
        doubt = candidates_[0]
        candidates.remove(doubt)
        if not candidates:
            del self._doubts[phone]
        sub = doubt.sub
        _put(
            self._known,
            sub.reference,
            SubmitResult(sub.reference, Outcome.ACCEPTED, receipt.message_id),
            MAX_KNOWN,
        )
        # Parts after an in-doubt first part were never sent.
        track = _Track(sub, receipt.message_id, set(), failed_parts=doubt.parts - 1)
        key = normalise_id(receipt.message_id)
        track.expected.add(key)
        _put(self._tracks, key, track, MAX_TRACKED)
        log.info(
            "in-doubt submission %s resolved by a receipt (SMSC id %s)",
            sub.reference,
            receipt.message_id,
            extra={"action": "smpp_doubt_resolved", "message_id": sub.message_id},
        )
        return track

    def _record_final(self, track: _Track, key: str, receipt: Receipt) -> None:
        status = receipt.status
        if status is None:
            return
        track.finals[key] = (status, receipt.error_code)
        self._maybe_final(track)

    def _maybe_final(self, track: _Track) -> None:
        if track.open_parts > 0 or not track.expected <= track.finals.keys():
            return
        for key in track.expected:
            self._tracks.pop(key, None)
        first = track.finals.get(normalise_id(track.channel_ref))
        statuses = [track.finals[k][0] for k in track.expected]
        errors_ = [e for _s, e in track.finals.values() if e]
        delivered = sum(s is MessageStatus.DELIVERED for s in statuses)
        parts = len(statuses) + track.failed_parts
        error: str | None
        if delivered == parts:
            status, error = MessageStatus.DELIVERED, None
        elif delivered:
            status, error = MessageStatus.PDLIVRD, f"{delivered} of {parts} parts delivered"
        else:
            status = first[0] if first is not None else statuses[0]
            error = (first[1] if first is not None else None) or (errors_[0] if errors_ else None)
        self.sink([DeliveryReport(status, track.channel_ref, track.sub.message_id, error)])

    # --- MO --------------------------------------------------------------------------

    def _on_mo(self, sm: p.ShortMessage, connection: str) -> None:
        data = sm.short_message
        if not data:
            payload = sm.tlv(p.Tag.MESSAGE_PAYLOAD)
            data = payload.value if payload is not None else b""
        concat: text.Concat | None = None
        if sm.esm_class & text.ESM_CLASS_UDHI:
            concat, data = text.split_udh(data)
        else:
            ref, total, seq = (
                sm.tlv(p.Tag.SAR_MSG_REF_NUM),
                sm.tlv(p.Tag.SAR_TOTAL_SEGMENTS),
                sm.tlv(p.Tag.SAR_SEGMENT_SEQNUM),
            )
            if ref is not None and total is not None and seq is not None:
                concat = text.Concat(ref.as_int(), total.as_int(), seq.as_int())
        body = text.decode(data, _alphabet(sm.data_coding))
        if concat is not None and concat.total > 1:
            key = (sm.source_addr, sm.destination_addr, concat.ref, concat.total)
            if key not in self._mo_parts and len(self._mo_parts) >= MAX_MO_PARTIALS:
                del self._mo_parts[next(iter(self._mo_parts))]
            parts = self._mo_parts.setdefault(key, {})
            parts[concat.seq] = body
            if len(parts) < concat.total:
                return
            del self._mo_parts[key]
            body = "".join(parts[i] for i in sorted(parts))
        source = sm.source_addr
        if sm.source_addr_ton == 1 and not source.startswith("+"):
            source = "+" + source
        message = MoMessage(source, sm.destination_addr, body, connection)
        if self.on_mo is None:
            log.info(
                "MO message from %s dropped: no MO hook set",
                source,
                extra={"action": "smpp_mo_unhandled"},
            )
            return
        self.on_mo(message)

    # --- reconciliation ----------------------------------------------------------------

    async def lookup(self, references: Sequence[str]) -> dict[str, SubmitResult]:
        """What this process knows was ACCEPTED (SMPP has no query by our reference;
        a reference absent here was refused, never written, or is still in doubt)."""
        self._start()
        return {r: self._known[r] for r in references if r in self._known}
