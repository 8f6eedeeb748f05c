"""API keys from the dashboard: list, create with a label, revoke.

``services.accounts`` has no per-key revoke (only ``rotate_key`` by label), and the
store revokes keys *by label*; so the dashboard keeps labels unique among an
account's live keys (a new key needs a free label) and revokes by the label of the
chosen key. Keys made elsewhere that share a label are revoked together, and the
page says so. The key a session was opened with cannot be revoked from that
session (it would cut the operator off mid-action).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clarion.clock import utcnow
from clarion.services.accounts import hash_key, new_key
from clarion.services.errors import Conflict, InvalidInput, NotFound
from clarion.store import accounts as account_store
from clarion.store import dashboard as store
from clarion.store.db import Database

MAX_LABEL = 200


@dataclass(frozen=True, slots=True)
class Revoked:
    label: str
    count: int


async def listing(db: Database, *, account_id: int) -> Sequence[Any]:
    async with db.read() as conn:
        return await store.keys(conn, account_id=account_id)


async def create(db: Database, *, account_id: int, label: str) -> str:
    """A new key for the account (returned once; only its hash is stored)."""
    label = label.strip()
    if not label:
        raise InvalidInput("give the key a label, e.g. 'crm export'", field="label")
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"the label is longer than {MAX_LABEL} characters", field="label")
    key = new_key()
    async with db.begin() as conn:
        live = [k for k in await store.keys(conn, account_id=account_id) if k.revoked_at is None]
        if any(k.label == label for k in live):
            raise Conflict(f"a live key is already labelled {label!r}; choose another label")
        await account_store.add_key(
            conn, account_id=account_id, key_hash=hash_key(key), now=utcnow(), label=label
        )
    return key


async def revoke(db: Database, *, account_id: int, key_id: int, current_key_id: int) -> Revoked:
    async with db.begin() as conn:
        live = [k for k in await store.keys(conn, account_id=account_id) if k.revoked_at is None]
        chosen = next((k for k in live if k.id == key_id), None)
        if chosen is None:
            raise NotFound(f"API key {key_id} not found or already revoked")
        same_label = [k for k in live if k.label == chosen.label]
        if any(k.id == current_key_id for k in same_label):
            raise Conflict(
                "this session was opened with that key (or one with the same label); sign "
                "in with another key to revoke it"
            )
        await account_store.revoke_keys(
            conn, account_id=account_id, label=chosen.label, now=utcnow()
        )
    return Revoked(chosen.label, len(same_label))
