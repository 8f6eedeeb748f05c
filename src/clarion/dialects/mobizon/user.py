"""Mobizon's User module: GetOwnBalance."""

from __future__ import annotations

from clarion.dialects.mobizon import values
from clarion.dialects.mobizon.wire import Context, register
from clarion.services import accounts


@register("user", "getownbalance")
async def get_own_balance(ctx: Context) -> dict[str, str]:
    account = await accounts.get(ctx.db, ctx.account_id)
    return {"balance": values.money(account.balance), "currency": account.currency}
