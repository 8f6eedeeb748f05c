"""Session write batching and what a drop means for each outstanding request."""

from __future__ import annotations

import asyncio

import pytest

from clarion.channels.smpp import pdu as p
from clarion.channels.smpp.config import Connection
from clarion.channels.smpp.session import Link, NotWritten, Session, SessionClosed


class Writer:
    """Stands in for a StreamWriter: records what reached the transport."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True


def session() -> tuple[Session, Writer]:
    conn = Connection.model_validate({"name": "t", "host": "h", "system_id": "s"})
    s = Session(conn, p.Command.BIND_TRANSCEIVER, lambda sm, name: 0, label="t")
    writer = Writer()
    s._writer = writer  # type: ignore[assignment]
    return s, writer


async def test_pdus_of_one_iteration_leave_in_one_write() -> None:
    s, writer = session()
    futures = [s.send(p.Command.ENQUIRE_LINK, p.Empty()) for _ in range(3)]
    assert writer.writes == []
    await asyncio.sleep(0)
    assert len(writer.writes) == 1
    assert writer.writes[0] == b"".join(
        p.encode(p.Pdu(p.Command.ENQUIRE_LINK, seq)) for seq in (1, 2, 3)
    )
    s.drop()
    for future in futures:
        with pytest.raises(SessionClosed) as caught:
            await future
        assert not isinstance(caught.value, NotWritten)  # handed over: in doubt


async def test_drop_before_the_write_means_not_written() -> None:
    s, writer = session()
    written = s.send(p.Command.SUBMIT_SM, p.ShortMessage("1"))
    await asyncio.sleep(0)
    queued = s.send(p.Command.SUBMIT_SM, p.ShortMessage("2"))
    s.drop()
    await asyncio.sleep(0)
    assert len(writer.writes) == 1 and writer.closed
    with pytest.raises(NotWritten):
        await queued
    with pytest.raises(SessionClosed) as caught:
        await written
    assert not isinstance(caught.value, NotWritten)
    with pytest.raises(SessionClosed):
        s.send(p.Command.SUBMIT_SM, p.ShortMessage("3"))


async def test_pace_reserves_one_slot_per_pdu_at_max_rate() -> None:
    conn = Connection.model_validate(
        {"name": "t", "host": "h", "system_id": "s", "max_rate": 1000, "throttle_pause": 0.5}
    )
    link = Link(conn, p.Command.BIND_TRANSCEIVER, lambda sm, name: 0, label="t")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(10):
        await link._pace()
    # Ten PDUs booked ten consecutive 1 ms slots: the next one is 10 ms after the first.
    assert link._next_slot >= start + 10 / 1000
    link.throttled()
    assert link.throttles == 1
    assert link._paused_until >= start + 0.5
