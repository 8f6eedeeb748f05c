"""The BSG dialect: BSG's One-API (v2) RCS endpoints over Clarion.

A client written against BSG's RCS REST API (``/api/campaigns/rcs/send`` and its
siblings, ``X-API-KEY`` or bearer-token auth, Laravel-style errors) works against
Clarion by changing only the host. ``router`` is included by ``create_app``. See
``rcs.py`` for the endpoints, ``wire.py`` for auth and errors, docs/dialects/bsg.md.
"""

from __future__ import annotations

from clarion.dialects.bsg.rcs import router

__all__ = ["router"]
