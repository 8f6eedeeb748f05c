"""Request spacing (``services.voice.take_turn``, one ``api_spacing`` row per key): the
iSales rule of one call-data request a second per campaign, held in the database so
several API processes share it. Each "process" here is its own ``Database`` (its own
engine and connections); the clock is the ``now`` passed in, never slept on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clarion.config import Settings
from clarion.services import voice
from clarion.store.db import Database
from clarion.store.schema import api_spacing

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GAP = timedelta(seconds=1)


@pytest.fixture
async def processes(settings: Settings, db: Database) -> AsyncIterator[list[Database]]:
    made = [Database(settings.database_url) for _ in range(6)]
    yield made
    for one in made:
        await one.dispose()


async def test_one_of_many_simultaneous_first_requests_gets_the_turn(
    processes: list[Database], db: Database
) -> None:
    taken = await asyncio.gather(
        *(voice.take_turn(p, key="isales:calldata:1", now=T0, gap=GAP) for p in processes)
    )
    assert sorted(taken) == [False] * 5 + [True]
    async with db.read() as conn:
        rows = (await conn.execute(select(api_spacing))).all()
    assert [(r.key, r.last_at) for r in rows] == [("isales:calldata:1", T0)]


async def test_one_of_many_simultaneous_later_requests_gets_the_turn(
    processes: list[Database],
) -> None:
    assert await voice.take_turn(processes[0], key="k", now=T0, gap=GAP)
    later = T0 + timedelta(seconds=3)
    taken = await asyncio.gather(
        *(voice.take_turn(p, key="k", now=later, gap=GAP) for p in processes)
    )
    assert sorted(taken) == [False] * 5 + [True]


async def test_turns_are_a_gap_apart_and_per_key(db: Database) -> None:
    assert await voice.take_turn(db, key="a", now=T0, gap=GAP)
    assert not await voice.take_turn(db, key="a", now=T0 + timedelta(microseconds=999_999), gap=GAP)
    assert await voice.take_turn(db, key="b", now=T0, gap=GAP)  # another key: its own turn
    # a refused request does not move the turn: a second after the last one let through
    assert await voice.take_turn(db, key="a", now=T0 + GAP, gap=GAP)
    assert not await voice.take_turn(db, key="a", now=T0 + GAP, gap=GAP)
    # a clock behind the last turn (another process's) waits for it
    assert not await voice.take_turn(db, key="a", now=T0, gap=GAP)
    assert await voice.take_turn(db, key="a", now=T0 + 2 * GAP, gap=GAP)
