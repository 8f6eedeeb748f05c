"""Mobile-originated (MO) messages: opt-outs and the inbox.

Every MO message an SMPP bind receives is stored (``mo_messages``) with the account it
belongs to: the account that last sent a message to that number (the person is
answering that sender); none when Clarion never wrote to them. A text that is an
opt-out keyword — STOP, UNSUBSCRIBE, СТОП, and the operator's own list
``CLARION_MO_STOP_KEYWORDS`` — compared as the whole message, case- and
punctuation-insensitive, puts the number on that account's stop-list (the system
stop-list when no account is known), so later sends to it are blocked at claim time.
Each stored message is a ``mo.received`` event for its account's webhooks, and is
listed by ``GET /v1/inbound``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from clarion.domain import recipients
from clarion.store import events as event_store
from clarion.store import inbound as store
from clarion.store import stoplist
from clarion.store.db import Database

DEFAULT_STOP_KEYWORDS = ("STOP", "UNSUBSCRIBE", "СТОП", "STOPALL", "CANCEL", "END", "QUIT")
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Inbound:
    phone: str
    to: str
    text: str
    connection: str = ""


def is_opt_out(text: str, keywords: Iterable[str]) -> bool:
    """Whether the whole message is an opt-out keyword ("Stop!", " stop " count)."""
    word = _NOISE.sub("", text).upper()
    return bool(word) and word in {_NOISE.sub("", k).upper() for k in keywords}


def _e164(raw: str) -> str:
    try:
        return recipients.normalise(raw).e164
    except recipients.PhoneError:
        return raw


async def receive(
    db: Database,
    messages: Sequence[Inbound],
    *,
    extra_keywords: Sequence[str] = (),
    now: datetime,
) -> list[int]:
    """Store MO messages, act on opt-outs, emit events; returns the stored ids."""
    keywords = (*DEFAULT_STOP_KEYWORDS, *extra_keywords)
    ids: list[int] = []
    async with db.begin() as conn:
        for m in messages:
            phone = _e164(m.phone)
            account_id = await store.last_sender(conn, phone)
            action = ""
            if is_opt_out(m.text, keywords):
                action = "stop"
                await stoplist.add(
                    conn,
                    account_id=account_id or 0,
                    phones=[phone],
                    comment=f"MO opt-out: {m.text.strip()[:100]}",
                    now=now,
                )
            mo_id = await store.insert_message(
                conn,
                {
                    "account_id": account_id,
                    "phone": phone,
                    "to": m.to,
                    "text": m.text,
                    "connection": m.connection,
                    "action": action,
                    "received_at": now,
                },
            )
            ids.append(mo_id)
            if account_id is not None:
                await event_store.emit(
                    conn,
                    account_id=account_id,
                    event_type="mo.received",
                    payload={
                        "id": mo_id,
                        "phone": phone,
                        "to": m.to,
                        "text": m.text,
                        "action": action,
                    },
                    now=now,
                )
    return ids


async def page(
    db: Database, *, account_id: int, limit: int = 100, offset: int = 0
) -> tuple[Sequence[Row[Any]], int]:
    async with db.read() as conn:
        return await store.page(conn, account_id=account_id, limit=limit, offset=offset)
