"""Money: the balance, the ledger, what campaigns spent and what messages were charged
always agree, whatever the campaign lifecycle, the carrier and concurrent workers do.

Each test runs on SQLite and (with ``CLARION_TEST_DATABASE_URL``) on PostgreSQL:

* a Hypothesis state machine over one account with a small balance: top-ups, campaigns
  whose recipients are scripted to be accepted, deferred, throttled, rejected or end
  UNDELIVERED, dispatcher passes (two dispatchers, also concurrently and racing a
  lifecycle action), pause / resume / stop / retry, stop-listing, a carrier dropping
  a call and time passing for reconciliation; the money invariants are checked after
  every step against the rows and against what the fake carriers were given;
* three dispatchers draining five campaigns concurrently from a balance that covers
  exactly K messages: exactly K are submitted, and the balance never goes negative;
* two races the state machine found on PostgreSQL, made certain: refunds of one
  worker against claims of others, and a stop landing while a claim is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import BigInteger, func, select, text, type_coerce
from tests.conftest import BACKENDS, PgTestDatabase, make_settings
from tests.helpers import phones

from clarion.channels.base import DeliveryReport, Outcome, ReportSink, Submission, SubmitResult
from clarion.channels.fake import FakeChannel
from clarion.clock import utcnow
from clarion.config import Settings
from clarion.dispatch.engine import Dispatcher
from clarion.domain.lifecycle import CampaignStatus, MessageStatus, PauseReason
from clarion.services import accounts, campaigns, stoplists
from clarion.services.campaigns import CampaignSpec, RecipientInput
from clarion.services.errors import Conflict, InsufficientFunds
from clarion.store import accounts as account_store
from clarion.store import campaigns as campaign_store
from clarion.store import messages as message_store
from clarion.store.db import Database
from clarion.store.schema import campaigns as campaigns_table
from clarion.store.schema import ledger, messages
from clarion.store.types import from_micros

T = TypeVar("T")

SHORT_TEXT = "Hello from Clarion"  # 1 segment
LONG_TEXT = "Spring sale! " * 14  # 182 GSM characters: 2 segments


async def together(*aws: Awaitable[T]) -> list[T]:
    """Run concurrently and let every one finish (no transaction is abandoned half-way);
    then raise the first failure, if any."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


# --- a scripted carrier ----------------------------------------------------------------


@dataclass
class Script:
    """What the carrier does with each phone, shared by every channel of a run."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    undelivered: set[str] = field(default_factory=set)


class ScriptedChannel(FakeChannel):
    """FakeChannel whose submit outcomes and delivery reports follow a shared Script;
    it also keeps the batches of calls that were dropped (``fail_with``): the carrier
    may have them, so they stay charged."""

    def __init__(self, sink: ReportSink, script: Script) -> None:
        super().__init__(self._relay)
        self.outcomes = script.outcomes  # the same dict object (``outcomes or {}`` copies)
        self.script = script
        self.downstream = sink
        self.dropped: list[Submission] = []
        self.phone_of: dict[int, str] = {}

    def _relay(self, reports: Sequence[DeliveryReport]) -> None:
        undelivered = self.script.undelivered
        self.downstream(
            [
                replace(r, status=MessageStatus.UNDELIVERED, error="fake-undelivered")
                if r.message_id is not None and self.phone_of.get(r.message_id) in undelivered
                else r
                for r in reports
            ]
        )

    async def submit(self, batch: Sequence[Submission]) -> list[SubmitResult]:
        if self.fail_with is not None:
            self.dropped.extend(batch)
        self.phone_of.update((s.message_id, s.phone) for s in batch)
        return await super().submit(batch)

    def charged_attempts(self) -> list[Submission]:
        """Attempts that must stay paid: accepted by the carrier, or dropped mid-call."""
        return [s for s in self.submitted if s.reference in self.accepted] + self.dropped


# --- invariants ------------------------------------------------------------------------


@dataclass
class Money:
    balance: Decimal
    ledger_total: Decimal
    charged_total: Decimal
    spent_total: Decimal


async def check_money(db: Database, account_id: int) -> Money:
    """Assert the money invariants of one account and all its campaigns."""
    async with db.read() as conn:
        balance: Decimal = await account_store.balance(conn, account_id)
        ledger_rows = (
            await conn.execute(
                select(
                    ledger.c.id,
                    ledger.c.campaign_id,
                    type_coerce(ledger.c.amount, BigInteger),
                    ledger.c.reason,
                )
                .where(ledger.c.account_id == account_id)
                .order_by(ledger.c.id)
            )
        ).all()
        campaign_rows = (
            await conn.execute(
                select(campaigns_table.c.id, campaigns_table.c.spent)
                .where(campaigns_table.c.account_id == account_id)
                .order_by(campaigns_table.c.id)
            )
        ).all()
        charged: dict[int, Decimal] = {}
        counters: dict[int, dict[str, campaign_store.Counter]] = {}
        grouped: dict[int, dict[str, tuple[int, int, Decimal]]] = {}
        for c in campaign_rows:
            charged[c.id] = await message_store.sum_charged(conn, c.id)
            counters[c.id] = await campaign_store.counters(conn, c.id)
            grouped[c.id] = await message_store.group_by_status(conn, c.id)
        per_message = dict(
            (
                await conn.execute(
                    select(
                        ledger.c.message_id,
                        func.sum(type_coerce(ledger.c.amount, BigInteger)),
                    )
                    .where(ledger.c.account_id == account_id, ledger.c.message_id.is_not(None))
                    .group_by(ledger.c.message_id)
                )
            ).all()
        )
        message_charges = (
            await conn.execute(
                select(messages.c.id, type_coerce(messages.c.charged, BigInteger))
                .join(campaigns_table, campaigns_table.c.id == messages.c.campaign_id)
                .where(campaigns_table.c.account_id == account_id)
            )
        ).all()
        negative = (
            await conn.execute(
                select(func.count())
                .select_from(messages)
                .join(campaigns_table, campaigns_table.c.id == messages.c.campaign_id)
                .where(campaigns_table.c.account_id == account_id, messages.c.charged < 0)
            )
        ).scalar_one()

    assert balance >= 0, f"negative balance {balance}"
    ledger_total = from_micros(sum(r[2] for r in ledger_rows))
    assert balance == ledger_total, f"balance {balance} != ledger sum {ledger_total}"
    # Every ledger write follows an update of the account row in the same transaction,
    # so ledger ids are in commit order: the running balance never went below zero.
    running = 0
    for r in ledger_rows:
        running += r[2]
        assert running >= 0, f"ledger row {r[0]} ({r[3]}) takes the balance below zero"
    assert negative == 0, "a message was charged a negative amount"
    # Every charge and refund is a ledger row of its message: what a message was
    # charged is exactly what its own ledger rows took.
    for mid, micros in message_charges:
        assert -per_message.get(mid, 0) == micros, f"message {mid}: ledger != charged"
    assert all(r[3] not in ("charge", "refund") or r[1] is not None for r in ledger_rows)
    by_campaign: dict[int, int] = {}
    for r in ledger_rows:
        if r[1] is not None:
            by_campaign[r[1]] = by_campaign.get(r[1], 0) + r[2]
    for c in campaign_rows:
        from_ledger = -from_micros(by_campaign.get(c.id, 0))
        assert c.spent == charged[c.id] == from_ledger, (
            f"campaign {c.id}: spent {c.spent}, messages charged {charged[c.id]}, "
            f"ledger {from_ledger}"
        )
        for status in MessageStatus:
            counter = counters[c.id][status.value]
            expected = grouped[c.id].get(status.value, (0, 0, Decimal(0)))
            actual = (counter.messages, counter.segments, counter.cost)
            assert actual == expected, f"campaign {c.id} counters for {status}"
    return Money(
        balance=balance,
        ledger_total=ledger_total,
        charged_total=sum(charged.values(), Decimal(0)),
        spent_total=sum((c.spent for c in campaign_rows), Decimal(0)),
    )


async def prices(db: Database) -> dict[int, Decimal]:
    async with db.read() as conn:
        rows = (await conn.execute(select(messages.c.id, messages.c.price))).all()
    return {r.id: r.price for r in rows}


# --- 1. the state machine ------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Callable[[], str]:
    """A function returning the URL of an empty migrated database, new on each call."""
    if request.param == "sqlite":
        counter = itertools.count()

        def sqlite_copy() -> str:
            path = tmp_path / f"ledger-{next(counter)}.db"
            shutil.copy(sqlite_template, path)
            return f"sqlite:///{path}"

        return sqlite_copy
    pg: PgTestDatabase = request.getfixturevalue("pg_database")

    def emptied() -> str:
        pg.reset()
        return pg.url

    return emptied


CAMPAIGN_ACTIONS = ("pause", "resume", "stop", "retry")
RECIPIENTS_FATES = st.lists(
    st.sampled_from(["ok", "ok", "ok", "ok", "temporary", "throttled", "permanent", "undelivered"]),
    min_size=1,
    max_size=30,
)


class LedgerMachine(RuleBasedStateMachine):
    """One account, a small balance, two dispatchers sharing one database."""

    new_database: Callable[[], str]
    data_dir: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.settings = make_settings(self.new_database(), self.data_dir, batch_size=8)
        self.db = self.run(self._open())
        self.script = Script()
        self.offset = timedelta(0)
        self.dispatchers: list[Dispatcher] = []
        self.fakes: list[ScriptedChannel] = []
        for _ in range(2):
            d = Dispatcher(db=self.db, settings=self.settings, clock=self.clock)
            channel = ScriptedChannel(d.report_sink, self.script)
            d.channels["fake"] = channel
            self.dispatchers.append(d)
            self.fakes.append(channel)
        self.account_id: int | None = None
        self.paid_in = Decimal(0)
        self.campaigns: list[int] = []
        self.phones_of: dict[int, list[str]] = {}
        self.next_phone = 0

    async def _open(self) -> Database:
        return Database(self.settings.database_url)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def clock(self) -> datetime:
        return utcnow() + self.offset

    def teardown(self) -> None:
        async def close() -> None:
            for d in self.dispatchers:
                await d.close()
            await self.db.dispose()

        try:
            self.run(close())
        finally:
            self.loop.close()

    @property
    def account(self) -> int:
        assert self.account_id is not None
        return self.account_id

    def pick(self, index: int) -> int:
        return self.campaigns[index % len(self.campaigns)]

    async def lifecycle(self, action: str, campaign_id: int) -> None:
        """A user action; 409 / 402 answers (conflict, funds) are part of the game."""
        account_id = self.account
        try:
            if action == "pause":
                await campaigns.pause(self.db, account_id=account_id, campaign_id=campaign_id)
            elif action == "resume":
                await campaigns.resume(self.db, account_id=account_id, campaign_id=campaign_id)
            elif action == "stop":
                await campaigns.stop(self.db, account_id=account_id, campaign_id=campaign_id)
            else:
                await campaigns.retry(self.db, account_id=account_id, campaign_id=campaign_id)
        except (Conflict, InsufficientFunds):
            pass

    # --- rules ---
    # Few rules, each with several variants: Hypothesis disables a random subset of
    # the rules in each example (swarm testing), and every example should still send.

    @initialize(cents=st.integers(0, 60), fates=RECIPIENTS_FATES, long_text=st.booleans())
    def open_account(self, cents: int, fates: list[str], long_text: bool) -> None:
        """The account with its opening balance, and a first campaign started."""
        balance = Decimal(cents).scaleb(-2)
        new = self.run(accounts.create(self.db, name="acme", balance=balance, currency="USD"))
        self.account_id = new.account_id
        self.paid_in = balance
        self.start_campaign(fates, long_text)

    @rule(cents=st.integers(1, 150))
    def top_up(self, cents: int) -> None:
        amount = Decimal(cents).scaleb(-2)
        self.run(accounts.topup(self.db, account_id=self.account, amount=amount))
        self.paid_in += amount

    @rule(fates=RECIPIENTS_FATES, long_text=st.booleans())
    def start_campaign(self, fates: list[str], long_text: bool) -> None:
        numbers = phones(len(fates), start=self.next_phone)
        self.next_phone += len(fates)
        for phone, fate in zip(numbers, fates, strict=True):
            if fate in ("temporary", "throttled", "permanent"):
                self.script.outcomes[phone] = Outcome(fate.upper())
            elif fate == "undelivered":
                self.script.undelivered.add(phone)

        async def create() -> int:
            row = await campaigns.create(
                self.db,
                account_id=self.account,
                spec=CampaignSpec(
                    name=f"campaign {len(self.campaigns)}",
                    text=LONG_TEXT if long_text else SHORT_TEXT,
                ),
                default_channel="fake",
                price_per_segment=self.settings.price_per_segment,
            )
            await campaigns.add_recipients(
                self.db,
                account_id=self.account,
                campaign_id=row.id,
                entries=[RecipientInput(p) for p in numbers],
                limit=100,
            )
            await campaigns.start(self.db, account_id=self.account, campaign_id=row.id)
            return int(row.id)

        campaign_id = self.run(create())
        self.campaigns.append(campaign_id)
        self.phones_of[campaign_id] = numbers

    @rule(which=st.sampled_from([0, 1, "both"]), passes=st.integers(1, 6))
    def dispatch(self, which: int | str, passes: int) -> None:
        """Dispatcher passes: of one dispatcher, or of both concurrently."""
        workers = self.dispatchers if which == "both" else [self.dispatchers[int(which)]]

        async def go() -> None:
            for _ in range(passes):
                await together(*(d.tick() for d in workers))

        self.run(go())

    @rule(
        action=st.sampled_from(CAMPAIGN_ACTIONS),
        index=st.integers(0, 1000),
        during_pass=st.sampled_from([None, 0, 1]),
    )
    def campaign_action(self, action: str, index: int, during_pass: int | None) -> None:
        """A user action; ``during_pass``: concurrently with a dispatcher pass, so it
        may land between a claim and the recording of its outcome."""
        campaign_id = self.pick(index)
        if during_pass is None:
            self.run(self.lifecycle(action, campaign_id))
            return

        async def race() -> None:
            await together(
                self.dispatchers[during_pass].tick(), self.lifecycle(action, campaign_id)
            )

        self.run(race())

    @rule(
        event=st.sampled_from(["recovers", "stop-list", "drop", "timeout"]),
        index=st.integers(0, 1000),
        position=st.integers(0, 29),
        which=st.integers(0, 1),
    )
    def carrier_event(self, event: str, index: int, position: int, which: int) -> None:
        """recovers: a campaign's deferred / throttled numbers are accepted from now on;
        stop-list: one of its numbers is stop-listed; drop: a dispatcher's next submit
        call fails with its outcome unknown; timeout: the claim timeout passes, so stale
        SENDING messages get reconciled."""
        numbers = self.phones_of[self.pick(index)]
        if event == "recovers":
            for phone in numbers:
                if self.script.outcomes.get(phone) in (Outcome.TEMPORARY, Outcome.THROTTLED):
                    del self.script.outcomes[phone]
        elif event == "stop-list":
            phone = numbers[position % len(numbers)]
            self.run(stoplists.add(self.db, phones=[phone], account_id=self.account))
        elif event == "drop":
            self.fakes[which].fail_with = ConnectionError("carrier connection dropped")
        else:
            self.offset += timedelta(seconds=self.settings.claim_timeout + 1)

    # --- invariants ---

    @invariant()
    def money_adds_up(self) -> None:
        if self.account_id is None:
            return
        money = self.run(check_money(self.db, self.account_id))
        assert money.balance == self.paid_in - money.spent_total
        assert money.charged_total == money.spent_total
        # Charged for exactly the attempts the carrier took (or may have taken).
        attempts = [s for f in self.fakes for s in f.charged_attempts()]
        price = self.run(prices(self.db))
        assert money.charged_total == sum((price[s.message_id] for s in attempts), Decimal(0))
        # Never resent: one submission per (message, attempt) across both carriers.
        references = [s.reference for f in self.fakes for s in [*f.submitted, *f.dropped]]
        assert len(references) == len(set(references)), "an attempt was submitted twice"


def test_ledger_state_machine(fresh_database: Callable[[], str], tmp_path: Path) -> None:
    class Machine(LedgerMachine):
        new_database = staticmethod(fresh_database)
        data_dir = tmp_path / "data"

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# --- 2. concurrent workers on a tight balance -------------------------------------------

AFFORDABLE = 37
CAMPAIGNS = 5
RECIPIENTS = 20
WORKERS = 3


async def started_campaigns(
    db: Database, account_id: int, *, count: int, recipients: int, price: Decimal
) -> list[int]:
    """``count`` campaigns of ``recipients`` distinct numbers each, started together."""
    campaign_ids: list[int] = []
    for n in range(count):
        row = await campaigns.create(
            db,
            account_id=account_id,
            spec=CampaignSpec(name=f"campaign {n}", text=SHORT_TEXT),
            default_channel="fake",
            price_per_segment=price,
        )
        await campaigns.add_recipients(
            db,
            account_id=account_id,
            campaign_id=row.id,
            entries=[RecipientInput(p) for p in phones(recipients, start=n * recipients)],
            limit=recipients,
        )
        campaign_ids.append(int(row.id))
    await together(
        *(campaigns.start(db, account_id=account_id, campaign_id=c) for c in campaign_ids)
    )
    return campaign_ids


def workers_for(
    db: Database, cfg: Settings, engines: list[Database], outcomes: dict[str, Outcome]
) -> tuple[list[Dispatcher], list[FakeChannel]]:
    """WORKERS dispatchers, each with its own fake carrier (all following ``outcomes``),
    on ``db`` or, if given, on one engine each."""
    workers: list[Dispatcher] = []
    fakes: list[FakeChannel] = []
    for n in range(WORKERS):
        d = Dispatcher(db=engines[n] if engines else db, settings=cfg)
        fake = FakeChannel(d.report_sink)
        fake.outcomes = outcomes  # shared, so the carrier can recover for everyone
        d.channels["fake"] = fake
        workers.append(d)
        fakes.append(fake)
    return workers, fakes


async def run_until_idle(
    workers: Sequence[Dispatcher],
    *,
    on_round: Callable[[int], None] = lambda _round: None,
    max_rounds: int = 1000,
) -> None:
    """Concurrent passes of every worker until a round where none did any work."""
    for n in range(max_rounds):
        on_round(n)
        passes = await together(*(d.tick() for d in workers))
        if not any(busy for busy, _wait in passes):
            return
    raise AssertionError(f"dispatchers still busy after {max_rounds} rounds")


@pytest.mark.parametrize("batch_size", [7, 100])
@pytest.mark.parametrize("separate_engines", [False, True], ids=["one-engine", "engine-each"])
async def test_concurrent_dispatchers_never_overspend(
    settings: Settings, db: Database, batch_size: int, separate_engines: bool
) -> None:
    cfg = settings.model_copy(update={"batch_size": batch_size})
    price = cfg.price_per_segment
    new = await accounts.create(db, name="tight", balance=AFFORDABLE * price, currency="USD")
    account_id = new.account_id
    campaign_ids = await started_campaigns(
        db, account_id, count=CAMPAIGNS, recipients=RECIPIENTS, price=price
    )
    engines = [Database(cfg.database_url) for _ in range(WORKERS)] if separate_engines else []
    workers, fakes = workers_for(db, cfg, engines, {})

    lowest: list[Decimal] = []
    done = asyncio.Event()

    async def watch_balance() -> None:
        while not done.is_set():
            async with db.read() as conn:
                lowest.append(await account_store.balance(conn, account_id))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch_balance())
    try:
        await run_until_idle(workers)
    finally:
        done.set()
        await watcher
        for d in workers:
            await d.close()
        for engine in engines:
            await engine.dispose()

    submitted = [s.message_id for f in fakes for s in f.submitted]
    assert len(submitted) == AFFORDABLE, [len(f.submitted) for f in fakes]
    assert len(set(submitted)) == AFFORDABLE, "a message was submitted twice"
    assert min(lowest) >= 0

    money = await check_money(db, account_id)
    assert money.balance == 0
    assert money.spent_total == money.charged_total == AFFORDABLE * price

    statuses: dict[str, int] = {}
    for cid in campaign_ids:
        row = await campaigns.get(db, account_id=account_id, campaign_id=cid)
        async with db.read() as conn:
            rows = await message_store.group_by_status(conn, cid)
        counts = {s: v[0] for s, v in rows.items()}
        if row.status == CampaignStatus.DONE:
            assert counts == {MessageStatus.DELIVERED.value: RECIPIENTS}
        else:
            assert (row.status, row.pause_reason) == (CampaignStatus.PAUSED, PauseReason.FUNDS)
            assert set(counts) <= {MessageStatus.DELIVERED.value, MessageStatus.NEW.value}
        for status, count in counts.items():
            statuses[status] = statuses.get(status, 0) + count
    assert statuses == {
        MessageStatus.DELIVERED.value: AFFORDABLE,
        MessageStatus.NEW.value: CAMPAIGNS * RECIPIENTS - AFFORDABLE,
    }


# --- 3. refunds and stops while other workers claim ------------------------------------
# Found by the state machine on PostgreSQL (there, two dispatchers ticking together
# deadlock now and then); these two make the races certain.


async def test_concurrent_refunds_and_claims(settings: Settings, db: Database) -> None:
    """Workers claiming (account row, then counters) while others refund deferred and
    rejected messages of the same campaigns (counters, then account row) must not
    deadlock: every pass completes and every refund reaches the ledger."""
    cfg = settings.model_copy(update={"batch_size": 5})
    price = cfg.price_per_segment
    new = await accounts.create(db, name="busy", balance=Decimal(100), currency="USD")
    account_id = new.account_id
    count, recipients = 3, 30
    campaign_ids = await started_campaigns(
        db, account_id, count=count, recipients=recipients, price=price
    )
    numbers = phones(count * recipients)
    deferred = numbers[0::3]  # a third deferred until the carrier recovers
    refused = numbers[1::7]  # rejected for good
    outcomes = {p: Outcome.TEMPORARY for p in deferred} | {p: Outcome.PERMANENT for p in refused}
    workers, fakes = workers_for(db, cfg, [], outcomes)

    def carrier_recovers(round_: int) -> None:
        if round_ == 10:
            for p in deferred:
                if outcomes.get(p) is Outcome.TEMPORARY:
                    del outcomes[p]

    try:
        await run_until_idle(workers, on_round=carrier_recovers)
    finally:
        for d in workers:
            await d.close()

    money = await check_money(db, account_id)
    accepted = [s for f in fakes for s in f.submitted if s.reference in f.accepted]
    assert len(accepted) == len({s.message_id for s in accepted}) == len(numbers) - len(refused)
    assert money.spent_total == money.charged_total == len(accepted) * price
    assert money.balance == Decimal(100) - len(accepted) * price
    for cid in campaign_ids:
        row = await campaigns.get(db, account_id=account_id, campaign_id=cid)
        assert row.status == CampaignStatus.DONE
    async with db.read() as conn:
        refunds = (
            await conn.execute(
                select(func.coalesce(func.sum(ledger.c.messages), 0)).where(
                    ledger.c.reason == "refund"
                )
            )
        ).scalar_one()
    rejected_at_carrier = sum(
        1 for f in fakes for s in f.submitted if s.reference not in f.accepted
    )
    assert refunds == rejected_at_carrier


async def test_stop_while_a_claim_is_in_flight(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that lands while a worker's claim holds its NEW rows waits for that claim
    instead of deadlocking with it (stop: campaign row, then messages; claim: messages,
    then campaign row for ``spent``). The claim is held open just before it adds to
    ``spent`` until the stop is seen waiting on PostgreSQL (briefly on SQLite, whose
    writers queue on one lock)."""
    price = settings.price_per_segment
    new = await accounts.create(db, name="stopper", balance=Decimal(10), currency="USD")
    account_id = new.account_id
    (campaign_id,) = await started_campaigns(db, account_id, count=1, recipients=20, price=price)
    cfg = settings.model_copy(update={"batch_size": 5})
    worker = Dispatcher(db=db, settings=cfg)
    fake = FakeChannel(worker.report_sink)
    worker.channels["fake"] = fake

    claim_open = asyncio.Event()
    add_spent = campaign_store.add_spent

    async def stop_lands_first(conn: Any, *, campaign_id: int, amount: Decimal) -> None:
        if amount > 0 and not claim_open.is_set():
            claim_open.set()
            await wait_for_a_blocked_writer(db)
        await add_spent(conn, campaign_id=campaign_id, amount=amount)

    monkeypatch.setattr(campaign_store, "add_spent", stop_lands_first)

    async def stop() -> Any:
        await claim_open.wait()
        return await campaigns.stop(db, account_id=account_id, campaign_id=campaign_id)

    try:
        await together(worker.tick(), stop())
        await drain_worker(worker)
    finally:
        await worker.close()

    row = await campaigns.get(db, account_id=account_id, campaign_id=campaign_id)
    assert row.status == CampaignStatus.STOPPED
    async with db.read() as conn:
        rows = await message_store.group_by_status(conn, campaign_id)
    counts = {s: v[0] for s, v in rows.items()}
    assert counts == {MessageStatus.DELIVERED.value: 5, MessageStatus.DELETED.value: 15}
    money = await check_money(db, account_id)
    assert money.spent_total == 5 * price
    assert money.balance == Decimal(10) - 5 * price


async def wait_for_a_blocked_writer(db: Database) -> None:
    """PostgreSQL: until some session of this database waits on a lock (5 s at most)."""
    if db.is_sqlite:
        await asyncio.sleep(0.05)
        return
    probe = Database(db.url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while True:
                    async with probe.read() as conn:
                        if (await conn.execute(query)).scalar_one():
                            return
                    await asyncio.sleep(0.01)
    finally:
        await probe.dispose()


async def drain_worker(worker: Dispatcher, max_ticks: int = 100) -> None:
    for _ in range(max_ticks):
        busy, _wait = await worker.tick()
        if not busy:
            return
    raise AssertionError("dispatcher still busy")
