"""One SMPP connection (``Session``) and its reconnecting owner (``Link``).

A ``Session`` is one TCP (optionally TLS) connection bound as transceiver,
transmitter or receiver. A reader task decodes PDUs as they come: responses complete
the future of the request with the same sequence number (a ``generic_nack`` too);
``deliver_sm`` goes to the handler and is answered with ``deliver_sm_resp`` carrying
the handler's status; ``enquire_link`` and ``unbind`` are answered; any other request
gets ``generic_nack`` (ESME_RINVCMDID). A keep-alive task sends ``enquire_link`` when
nothing was received for ``enquire_link_interval`` seconds. A request unanswered
within ``response_timeout``, a framing error or EOF close the session; every request
still waiting then fails with ``SessionClosed``, which for a submit_sm means "in
doubt": it was handed to the transport, the SMSC may have taken it.

A ``Link`` keeps one session bound, reconnecting with exponential backoff
(``reconnect_min`` doubling up to ``reconnect_max``, each wait jittered to half to all
of it, reset by a successful bind), and is the only way to submit: it holds the window
(at most ``window`` submit_sm outstanding), paces writes to ``max_rate`` per second, and pauses for
``throttle_pause`` seconds after an ESME_RTHROTTLED. ``Link.submit`` returns a
``PartResult`` whose ``written`` flag tells a PDU the SMSC never saw (safe to retry)
from one it may have (never retried).

Nothing here blocks the event loop: all I/O is asyncio streams. PDUs queued in one
loop iteration leave in one ``transport.write`` (one system call for many PDUs;
buffered, no drain awaited: the window bounds what can be buffered). A request still
in that queue when the connection drops fails with ``NotWritten`` and is sent again
on the next bind: it never left the process. One watchdog task per session drops the
connection when the oldest outstanding request has waited ``response_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from clarion.channels.smpp import pdu as p
from clarion.channels.smpp.config import Connection
from clarion.channels.smpp.errors import Status, status_name

log = logging.getLogger(__name__)

DeliverHandler = Callable[[p.ShortMessage, str], int]


class SessionClosed(ConnectionError):
    """The session ended before the request was answered."""


class NotWritten(SessionClosed):
    """The session ended before the request left the process (safe to send again)."""


class BindFailed(ConnectionError):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


@dataclass(frozen=True, slots=True)
class PartResult:
    """What became of one submit_sm.

    ``written`` False: never handed to a connection (safe to retry). ``response`` None
    with ``written`` True: in doubt (connection lost or response timed out).
    """

    written: bool
    response: p.Pdu | None = None


UNSENT = PartResult(written=False)
IN_DOUBT = PartResult(written=True)


class Session:
    def __init__(
        self,
        conn: Connection,
        bind: p.Command,
        handler: DeliverHandler,
        *,
        label: str,
    ) -> None:
        self.conn = conn
        self.bind_command = bind
        self.handler = handler
        self.label = label
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        # sequence -> (future, loop time written); insertion order = oldest first
        self._pending: dict[int, tuple[asyncio.Future[p.Pdu], float]] = {}
        self._sequence = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self.closed: asyncio.Event = asyncio.Event()
        self.bound = False
        self._last_rx = 0.0
        # PDUs written in one event-loop iteration go out in one transport write.
        self._out: list[bytes] = []
        self._out_sequences: list[int] = []
        self._flush_scheduled = False

    # --- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and bind; raises ``BindFailed`` or ``OSError`` / ``TimeoutError``."""
        context: ssl.SSLContext | None = None
        if self.conn.tls:
            context = ssl.create_default_context(cafile=self.conn.tls_ca_file)
            if not self.conn.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.conn.host, self.conn.port, ssl=context),
            self.conn.connect_timeout,
        )
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        self._tasks.append(asyncio.create_task(self._read_loop(), name=f"smpp-read-{self.label}"))
        body = p.Bind(
            system_id=self.conn.system_id,
            password=self.conn.secret(),
            system_type=self.conn.system_type,
        )
        try:
            resp = await asyncio.wait_for(
                self.request(self.bind_command, body), self.conn.response_timeout
            )
        except (TimeoutError, SessionClosed):
            await self.close()
            raise
        if resp.status != Status.ESME_ROK:
            await self.close()
            raise BindFailed(resp.status)
        self.bound = True
        self._tasks.append(asyncio.create_task(self._keepalive(), name=f"smpp-ka-{self.label}"))
        self._tasks.append(asyncio.create_task(self._watchdog(), name=f"smpp-wd-{self.label}"))

    async def close(self) -> None:
        """Drop the connection now (no unbind); fail whatever is outstanding."""
        self.drop()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def unbind(self) -> None:
        """Polite close: unbind, wait briefly for unbind_resp, then drop."""
        if self.bound and not self.closed.is_set():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.request(p.Command.UNBIND, p.Empty()), 2.0)
        await self.close()

    def drop(self) -> None:
        """Close the connection now and fail every outstanding request."""
        if self.closed.is_set():
            return
        self.closed.set()
        self.bound = False
        unwritten = set(self._out_sequences)
        self._out.clear()
        self._out_sequences.clear()
        if self._writer is not None:
            self._writer.close()
        pending, self._pending = self._pending, {}
        for sequence, (future, _sent) in pending.items():
            if not future.done():
                error = NotWritten if sequence in unwritten else SessionClosed
                future.set_exception(error(f"{self.label}: connection closed"))

    # --- requests --------------------------------------------------------------------

    def send(self, command: p.Command, body: p.Body) -> asyncio.Future[p.Pdu]:
        """Write a request now; the future completes with its response (or a
        generic_nack), or fails with ``SessionClosed``."""
        if self.closed.is_set() or self._writer is None:
            raise SessionClosed(f"{self.label}: not connected")
        sequence = next(self._sequence)
        if sequence > 0x7FFFFFFF:
            self._sequence = itertools.count(2)
            sequence = 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[p.Pdu] = loop.create_future()
        self._pending[sequence] = (future, loop.time())
        self._write(p.encode(p.Pdu(command, sequence, 0, body)), sequence)
        return future

    async def request(self, command: p.Command, body: p.Body) -> p.Pdu:
        return await self.send(command, body)

    def _respond(self, command: int, sequence: int, status: int, body: p.Body) -> None:
        if self._writer is not None and not self.closed.is_set():
            self._write(p.encode(p.Pdu(command, sequence, status, body)), None)

    def _write(self, data: bytes, sequence: int | None) -> None:
        """Queue bytes for this loop iteration's single transport write (one system
        call for many PDUs). A request still queued when the session drops fails with
        ``NotWritten``: it never left the process."""
        self._out.append(data)
        if sequence is not None:
            self._out_sequences.append(sequence)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out or self._writer is None or self.closed.is_set():
            return
        data = b"".join(self._out)
        self._out.clear()
        self._out_sequences.clear()
        self._writer.write(data)

    # --- reading ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reader = self._reader
        loop = asyncio.get_running_loop()
        try:
            while True:
                header = await reader.readexactly(p.HEADER_SIZE)
                length = p.peek_length(header)
                body = await reader.readexactly(length - p.HEADER_SIZE) if length > 16 else b""
                self._last_rx = loop.time()
                self._dispatch(header + body)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            log.info("%s: connection lost", self.label, extra={"action": "smpp_conn_lost"})
        except p.PduError as exc:
            log.warning(
                "%s: framing error, dropping: %s",
                self.label,
                exc,
                extra={"action": "smpp_framing_error"},
            )
        finally:
            self.drop()

    def _dispatch(self, raw: bytes) -> None:
        try:
            pdu = p.decode(raw)
        except p.PduError as exc:
            command, sequence = int.from_bytes(raw[4:8], "big"), int.from_bytes(raw[12:16], "big")
            log.warning(
                "%s: bad PDU 0x%08x: %s", self.label, command, exc, extra={"action": "smpp_bad_pdu"}
            )
            if command & p.RESPONSE_BIT:
                entry = self._pending.pop(sequence, None)
                status = int.from_bytes(raw[8:12], "big")
                if entry is not None and not entry[0].done():
                    # A response we cannot read: its status (in the header) still says
                    # "refused"; a success we cannot read (no message id) is in doubt.
                    if status != Status.ESME_ROK:
                        entry[0].set_result(p.Pdu(command, sequence, status, p.Empty()))
                    else:
                        entry[0].set_exception(SessionClosed(f"{self.label}: unreadable response"))
            elif command == p.Command.DELIVER_SM:
                self._respond(
                    p.Command.DELIVER_SM_RESP, sequence, Status.ESME_RINVMSGLEN, p.MessageIdResp()
                )
            else:
                self._respond(p.Command.GENERIC_NACK, sequence, Status.ESME_RINVMSGLEN, p.Empty())
            return
        if pdu.is_response:
            entry = self._pending.pop(pdu.sequence, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(pdu)
            elif entry is None and pdu.command != p.Command.GENERIC_NACK:
                log.warning(
                    "%s: response 0x%08x to unknown sequence %d",
                    self.label,
                    pdu.command,
                    pdu.sequence,
                    extra={"action": "smpp_stray_response"},
                )
            return
        if pdu.command == p.Command.DELIVER_SM and isinstance(pdu.body, p.ShortMessage):
            try:
                status = self.handler(pdu.body, self.conn.name)
            except Exception:
                log.exception("%s: deliver_sm handler failed", self.label)
                status = Status.ESME_RX_T_APPN
            self._respond(p.Command.DELIVER_SM_RESP, pdu.sequence, status, p.MessageIdResp())
        elif pdu.command == p.Command.ENQUIRE_LINK:
            self._respond(p.Command.ENQUIRE_LINK_RESP, pdu.sequence, 0, p.Empty())
        elif pdu.command == p.Command.UNBIND:
            self._respond(p.Command.UNBIND_RESP, pdu.sequence, 0, p.Empty())
            log.info("%s: SMSC unbound", self.label, extra={"action": "smpp_unbound"})
            self.drop()
        else:
            self._respond(p.Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID, p.Empty())

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.conn.enquire_link_interval
        while not self.closed.is_set():
            idle = loop.time() - self._last_rx
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                await asyncio.wait_for(
                    self.request(p.Command.ENQUIRE_LINK, p.Empty()), self.conn.response_timeout
                )
            except (TimeoutError, SessionClosed):
                log.warning(
                    "%s: enquire_link unanswered, dropping",
                    self.label,
                    extra={"action": "smpp_keepalive_failed"},
                )
                self.drop()
                return
            self._last_rx = loop.time()

    async def _watchdog(self) -> None:
        """Drop the connection when the oldest outstanding request has waited more than
        ``response_timeout`` (one timer per session instead of one per PDU)."""
        loop = asyncio.get_running_loop()
        timeout = self.conn.response_timeout
        while not self.closed.is_set():
            await asyncio.sleep(min(timeout / 4, 1.0))
            for _future, sent in self._pending.values():
                if loop.time() - sent > timeout:
                    log.warning(
                        "%s: no response in %.1f s, dropping the connection",
                        self.label,
                        timeout,
                        extra={"action": "smpp_response_timeout"},
                    )
                    self.drop()
                    return
                break  # only the oldest matters


class Link:
    """Keeps one session of one kind bound; submits through it with window and pace."""

    def __init__(
        self,
        conn: Connection,
        bind: p.Command,
        handler: DeliverHandler,
        *,
        label: str,
    ) -> None:
        self.conn = conn
        self.bind = bind
        self.handler = handler
        self.label = label
        self.session: Session | None = None
        self.ready = asyncio.Event()
        self.window = asyncio.Semaphore(conn.window)
        self.binds = 0  # successful binds so far (observability, tests)
        self.throttles = 0  # ESME_RTHROTTLED answers seen
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def transmits(self) -> bool:
        return self.bind != p.Command.BIND_RECEIVER

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"smpp-link-{self.label}")

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self.session is not None:
            await self.session.unbind()
            self.session = None
        self.ready.clear()

    async def _run(self) -> None:
        delay = self.conn.reconnect_min
        while not self._stopping:
            session = Session(self.conn, self.bind, self.handler, label=self.label)
            try:
                await session.open()
            except (OSError, TimeoutError, BindFailed, SessionClosed) as exc:
                log.warning(
                    "%s: bind failed (%s); retrying in %.1f s",
                    self.label,
                    exc,
                    delay,
                    extra={"action": "smpp_bind_failed"},
                )
                # Jittered, so many links (or workers) do not rebind in lockstep.
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self.conn.reconnect_max)
                continue
            delay = self.conn.reconnect_min
            self.binds += 1
            self.session = session
            self.ready.set()
            log.info("%s: bound", self.label, extra={"action": "smpp_bound"})
            try:
                await session.closed.wait()
            finally:
                self.ready.clear()
                if self.session is session:
                    self.session = None
                await session.close()
            if not self._stopping:
                await asyncio.sleep(self.conn.reconnect_min)

    def throttled(self) -> None:
        """The SMSC said ESME_RTHROTTLED: hold every write for ``throttle_pause``."""
        self.throttles += 1
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + self.conn.throttle_pause)

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        at = max(now, self._paused_until, self._next_slot)
        if self.conn.max_rate > 0:
            self._next_slot = at + 1.0 / self.conn.max_rate
        if at > now:
            await asyncio.sleep(at - now)

    async def submit(
        self, body: p.ShortMessage, deadline: float, *, failover: bool = False
    ) -> PartResult:
        """Submit one PDU. Waits (until ``deadline``, loop time) for a bound session
        and a window slot; never writes a PDU twice. With ``failover``, a link that is
        or goes down before the PDU is written answers "not written" at once instead of
        waiting for its own rebind, so the caller can use another connection."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return UNSENT
            if not self.ready.is_set():
                if failover:
                    return UNSENT
                try:
                    await asyncio.wait_for(self.ready.wait(), remaining)
                except TimeoutError:
                    return UNSENT
                continue
            if self.window.locked():
                try:
                    await asyncio.wait_for(self.window.acquire(), remaining)
                except TimeoutError:
                    return UNSENT
            else:
                await self.window.acquire()  # free slot: no timer needed
            try:
                await self._pace()
                session = self.session
                if session is None or session.closed.is_set():
                    self.ready.clear()  # the runner has not noticed yet; it will rebind
                    if failover:
                        return UNSENT
                    continue  # dropped while we waited: wait for the next bind
                future = session.send(p.Command.SUBMIT_SM, body)
                try:
                    response = await future  # the session's watchdog bounds the wait
                except NotWritten:
                    if failover:
                        return UNSENT
                    continue  # dropped before it left the process: wait for the next bind
                except SessionClosed:
                    return IN_DOUBT
                return PartResult(written=True, response=response)
            finally:
                self.window.release()
