"""FastAPI dependencies (``Annotated``): the database, settings and the caller's account."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Row

from clarion.config import Settings
from clarion.services import accounts
from clarion.store.db import Database

_bearer = HTTPBearer(auto_error=False, description="Account API key")


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_account(
    db: Annotated[Database, Depends(get_db)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Row[Any]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    account = await accounts.authenticate(db, credentials.credentials)
    if account is None:
        raise HTTPException(
            401, "invalid API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return account


DB = Annotated[Database, Depends(get_db)]
Config = Annotated[Settings, Depends(get_settings)]
Account = Annotated[Row[Any], Depends(get_account)]


async def get_operator(account: Annotated[Row[Any], Depends(get_account)]) -> Row[Any]:
    if not account.is_operator:
        raise HTTPException(403, "this API key's account is not an operator account")
    return account


Operator = Annotated[Row[Any], Depends(get_operator)]
