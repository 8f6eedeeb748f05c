"""A list bound as ONE parameter, so a statement's text (and SQLAlchemy's compiled
cache entry) does not depend on the list's length: ``json_each(:name)`` on SQLite,
``= ANY(:name)`` on PostgreSQL. Used wherever a batch of ids or phones is matched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection


def in_list(
    conn: AsyncConnection, column: Any, name: str, *, text: bool = False
) -> ColumnElement[bool]:
    """``column`` IN the list bound as ``:name`` (integers, or strings with ``text``)."""
    if conn.dialect.name == "postgresql":
        item = String if text else BigInteger
        result: ColumnElement[bool] = column == any_(bindparam(name, type_=postgresql.ARRAY(item)))
        return result
    values = func.json_each(bindparam(name, type_=String)).table_valued("value")
    found: ColumnElement[bool] = column.in_(select(values.c.value))
    return found


def list_value(conn: AsyncConnection, values: Sequence[int] | Sequence[str]) -> object:
    """The parameter value for :func:`in_list`."""
    return list(values) if conn.dialect.name == "postgresql" else json.dumps(list(values))
