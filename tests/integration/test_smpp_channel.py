"""The smpp channel on its own against the test SMSC: MO, binds, keep-alive, the
concatenation methods, receipts of multipart messages, and what happens to a
submission in doubt that no receipt resolves."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.smsc import Smsc
from tests.smsc import wire as smsc_wire

from clarion.channels.base import DeliveryReport, Outcome, Submission
from clarion.channels.smpp import MoMessage, SmppChannel, SubmitInDoubt
from clarion.channels.smpp.config import SmppConfig
from clarion.domain.lifecycle import MessageStatus

LIMIT = 20.0  # hang guard


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    server = Smsc({"clarion": "secret"})
    await server.start()
    yield server
    await server.stop()


def config(port: int, **overrides: Any) -> SmppConfig:
    connection = {
        "name": "t",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "clarion",
        "password": "secret",
        "window": 20,
        "reconnect_min": 0.05,
        "reconnect_max": 0.1,
        "throttle_pause": 0.01,
        "submit_timeout": 5.0,
        "response_timeout": 5.0,
    } | overrides
    return SmppConfig.model_validate({"connections": [connection], "orphan_receipt_grace": 0.2})


@pytest.fixture
async def channel_factory() -> AsyncIterator[Callable[..., SmppChannel]]:
    made: list[SmppChannel] = []
    reports: list[DeliveryReport] = []

    def make(cfg: SmppConfig) -> SmppChannel:
        channel = SmppChannel(cfg, reports.extend)
        channel.reports = reports  # type: ignore[attr-defined]
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(LIMIT):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


def sub(i: int, text: str = "Hello", phone: str | None = None) -> Submission:
    return Submission(i, f"{i}-1", phone or f"+7701{i:07d}", "Clarion", text, 1)


async def test_mo_reaches_the_hook(smsc: Smsc, channel_factory: Callable[..., SmppChannel]) -> None:
    channel = channel_factory(config(smsc.port))
    received: list[MoMessage] = []
    channel.on_mo = received.append
    async with asyncio.timeout(LIMIT):
        await channel.wait_bound()
    smsc.send_mo("+77010000001", "STOP")
    smsc.send_mo(
        "+77010000002", "СТОП, пожалуйста, больше не пишите мне " * 3, ucs2=True, udh_parts=2
    )
    await until(lambda: len(received) == 2)
    assert received[0] == MoMessage("+77010000001", "4040", "STOP", "t")
    assert received[1].source == "+77010000002"
    assert received[1].text == "СТОП, пожалуйста, больше не пишите мне " * 3


async def test_mo_without_hook_is_acknowledged(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port))
    async with asyncio.timeout(LIMIT):
        await channel.wait_bound()
    smsc.send_mo("+77010000001", "hello")
    await until(lambda: smsc.receipts_acked == 1 and not smsc.queue)


@pytest.mark.parametrize("method", ["udh16", "sar"])
async def test_other_concatenation_methods(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel], method: str
) -> None:
    channel = channel_factory(config(smsc.port, concatenation=method))
    message = "Ж" * 140
    results = await channel.submit([sub(1, message)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    parts = smsc.accepted()
    assert len(parts) == 3 and all(p.data_coding == 8 for p in parts)
    if method == "udh16":
        assert [p.udh[0] for p in parts if p.udh] == [0x08] * 3
        assert [p.udh[2:] for p in parts if p.udh] == [(3, 1), (3, 2), (3, 3)]
        assert len({p.udh[1] for p in parts if p.udh}) == 1
    else:
        assert all(p.udh is None and not p.esm_class & 0x40 for p in parts)
        assert [p.sar[1:] for p in parts if p.sar] == [(3, 1), (3, 2), (3, 3)]
    assert "".join(p.text for p in parts) == message
    # One report for the message, after the three parts' receipts, with its first
    # part's id as the channel reference.
    reports: list[DeliveryReport] = channel.reports  # type: ignore[attr-defined]
    await until(lambda: len(reports) == 1)
    assert reports[0] == DeliveryReport(MessageStatus.DELIVERED, results[0].channel_ref, 1, None)
    assert results[0].channel_ref == parts[0].message_id


async def test_multipart_final_status_from_parts(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port))
    smsc.receipt_stat["77010000002"] = "UNDELIV"
    results = await channel.submit([sub(1, "x" * 300), sub(2, "y" * 300)])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    reports: list[DeliveryReport] = channel.reports  # type: ignore[attr-defined]
    await until(lambda: len(reports) == 2)
    by_id = {r.message_id: r for r in reports}
    assert by_id[1].status is MessageStatus.DELIVERED
    assert by_id[2].status is MessageStatus.UNDELIVERED and by_id[2].error == "err:001"


async def test_transmitter_and_receiver_binds(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port, bind="tx_rx"))
    results = await channel.submit([sub(i) for i in range(5)])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    assert sorted(command for _sid, command in smsc.binds) == [
        smsc_wire.BIND_RECEIVER,
        smsc_wire.BIND_TRANSMITTER,
    ]
    reports: list[DeliveryReport] = channel.reports  # type: ignore[attr-defined]
    await until(lambda: len(reports) == 5)
    assert {r.status for r in reports} == {MessageStatus.DELIVERED}


async def test_wrong_password_never_submits(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port, password="wrong", submit_timeout=0.3))
    results = await channel.submit([sub(1), sub(2)])
    assert [(r.outcome, r.error) for r in results] == [(Outcome.TEMPORARY, "smpp:not-bound")] * 2
    assert smsc.bind_failures >= 1 and smsc.submits == []
    assert await channel.lookup(["1-1", "2-1"]) == {}


async def test_keepalive_enquire_link(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port, enquire_link_interval=0.02))
    async with asyncio.timeout(LIMIT):
        await channel.wait_bound()
    await until(lambda: smsc.enquire_links >= 3)
    assert channel.links[0].binds == 1  # the link stayed up


async def test_reconnects_after_drop_and_sends_what_was_not_written(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port))
    assert [r.outcome for r in await channel.submit([sub(1)])] == [Outcome.ACCEPTED]
    smsc.drop_now()
    await until(lambda: channel.links[0].binds == 2)
    results = await channel.submit([sub(i) for i in range(2, 12)])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    assert len(smsc.accepted()) == 11


async def test_unresolved_doubt_is_never_resent(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    # No receipts requested: nothing can resolve a submission whose response was lost.
    channel = channel_factory(config(smsc.port, registered_delivery=0, window=5))
    smsc.drop_after(10)
    batch = [sub(i) for i in range(40)]
    with pytest.raises(SubmitInDoubt):
        await channel.submit(batch)
    # The SMSC took every submission exactly once: those in doubt were not rewritten.
    taken = [s.destination for s in smsc.accepted()]
    assert sorted(taken) == sorted(s.phone.lstrip("+") for s in batch)
    known = await channel.lookup([s.reference for s in batch])
    unanswered = smsc.unanswered
    assert unanswered > 0
    assert len(known) == 40 - unanswered  # the in-doubt ones are unknown: UNKNOWN, not resent
    assert {r.outcome for r in known.values()} == {Outcome.ACCEPTED}


async def test_in_doubt_batch_settles_throttled_and_rejected(
    smsc: Smsc, channel_factory: Callable[..., SmppChannel]
) -> None:
    channel = channel_factory(config(smsc.port, window=5))
    smsc.reject["77010000003"] = smsc_wire.RINVDSTADR
    smsc.throttle_every(4)
    smsc.drop_after(12)
    batch = [sub(i) for i in range(30)]
    with pytest.raises(SubmitInDoubt):
        await channel.submit(batch)
    known = await channel.lookup([s.reference for s in batch])
    reports: list[DeliveryReport] = channel.reports  # type: ignore[attr-defined]
    rejected = [r for r in reports if r.status is MessageStatus.REJECTED]
    assert [(r.message_id, r.error) for r in rejected] == [(3, "smpp:ESME_RINVDSTADR")]
    # Throttled ones were retried inside the channel: all but the rejected are ACCEPTED
    # (the in-doubt ones through their receipts).
    await until(lambda: len(channel._known) >= 29)
    known = await channel.lookup([s.reference for s in batch])
    assert sorted(known) == sorted(s.reference for s in batch if s.message_id != 3)
    assert len({s.destination for s in smsc.accepted()}) == len(smsc.accepted()) == 29


async def test_response_timeout_drops_and_receipts_resolve_the_doubt(
    channel_factory: Callable[..., SmppChannel],
) -> None:
    # An SMSC that goes silent (keeps the connection, answers nothing): the client's
    # watchdog drops it after response_timeout; what was taken is resolved by receipts.
    silent = Smsc({"clarion": "secret"}, drop_quiet=60.0)
    await silent.start()
    try:
        channel = channel_factory(config(silent.port, response_timeout=0.2, window=4))
        silent.drop_after(3)
        batch = [sub(i) for i in range(10)]
        with pytest.raises(SubmitInDoubt):
            await channel.submit(batch)
        assert channel.links[0].binds == 2
        await until(lambda: len(channel._known) == 10)
        known = await channel.lookup([s.reference for s in batch])
        assert {r.outcome for r in known.values()} == {Outcome.ACCEPTED}
        assert sorted(s.destination for s in silent.accepted()) == sorted(
            s.phone.lstrip("+") for s in batch
        )
    finally:
        await silent.stop()


async def test_two_connections_fail_over(channel_factory: Callable[..., SmppChannel]) -> None:
    first, second = Smsc({"clarion": "secret"}), Smsc({"clarion": "secret"})
    await first.start()
    await second.start()
    try:
        cfg = config(first.port).model_dump()
        cfg["connections"].append(cfg["connections"][0] | {"name": "u", "port": second.port})
        channel = channel_factory(SmppConfig.model_validate(cfg))
        async with asyncio.timeout(LIMIT):
            await channel.wait_bound()
        results = await channel.submit([sub(i) for i in range(100)])
        assert {r.outcome for r in results} == {Outcome.ACCEPTED}
        assert len(first.accepted()) == len(second.accepted()) == 50  # round-robin
        await first.stop()  # one SMSC goes away for good
        await until(lambda: not channel.links[0].ready.is_set())
        results = await channel.submit([sub(i) for i in range(100, 200)])
        assert {r.outcome for r in results} == {Outcome.ACCEPTED}
        assert len(first.accepted()) == 50 and len(second.accepted()) == 150
    finally:
        await second.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_a_private_ca(
    certificate: tuple[Path, Path], channel_factory: Callable[..., SmppChannel]
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    smsc = Smsc({"clarion": "secret"})
    await smsc.start(tls=server_tls)
    try:
        channel = channel_factory(config(smsc.port, tls=True, tls_ca_file=str(cert)))
        results = await channel.submit([sub(1, "Привет по TLS")])
        assert [r.outcome for r in results] == [Outcome.ACCEPTED]
        assert smsc.accepted()[0].text == "Привет по TLS"
        reports: list[DeliveryReport] = channel.reports  # type: ignore[attr-defined]
        await until(lambda: len(reports) == 1)
        # Without the CA the certificate is refused: never bound, nothing sent.
        untrusting = channel_factory(config(smsc.port, tls=True, submit_timeout=0.3))
        refused = await untrusting.submit([sub(2)])
        assert [r.error for r in refused] == ["smpp:not-bound"]
        assert len(smsc.submits) == 1
    finally:
        await smsc.stop()


async def test_drop_mid_batch_moves_unwritten_messages_to_the_other_connection(
    channel_factory: Callable[..., SmppChannel],
) -> None:
    first, second = Smsc({"clarion": "secret"}), Smsc({"clarion": "secret"})
    await first.start()
    await second.start()
    try:
        cfg = config(first.port, window=5).model_dump()
        cfg["connections"].append(cfg["connections"][0] | {"name": "u", "port": second.port})
        channel = channel_factory(SmppConfig.model_validate(cfg))
        async with asyncio.timeout(LIMIT):
            await channel.wait_bound()
        first.drop_after(10)
        batch = [sub(i) for i in range(200)]
        with pytest.raises(SubmitInDoubt):
            await channel.submit(batch)
        # Every number reached exactly one SMSC exactly once ...
        taken = [s.destination for s in first.accepted() + second.accepted()]
        assert sorted(taken) == sorted(s.phone.lstrip("+") for s in batch)
        assert first.unanswered > 0
        # ... and once the first SMSC's receipts come in after the rebind, the channel
        # knows every one of them was accepted.
        await until(lambda: len(channel._known) == 200)
    finally:
        await first.stop()
        await second.stop()
