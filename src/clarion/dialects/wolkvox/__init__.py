"""The wolkvox voice dialect (being built: see issue 7). ``router`` is included by create_app."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

__all__ = ["router"]
