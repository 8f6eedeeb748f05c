"""The Mobizon dialect: Mobizon's HTTP API (``/service/{module}/{method}``) over Clarion.

An application written against Mobizon's API (the official PHP / Python / Java / JS
SDKs, community clients) works against Clarion by changing only the host and the
API key. ``router`` is included by ``create_app``.

Modules, one per Mobizon module, register their methods with
:func:`clarion.dialects.mobizon.wire.register` when imported:

* ``campaign``: Create, AddRecipients, Delete, Get, GetInfo, List, Send
* ``message``: SendSmsMessage, GetSMSStatus, List
* ``taskqueue``: GetStatus; ``user``: GetOwnBalance
* ``contacts``: ContactGroup/* and ContactCard/* (list, create, ...)
* ``link``: Link/* and Campaign/GetLinks (a separate module, imported when present)

Mobizon speaks SMS: voice and RCS campaigns (and an RCS campaign's SMS fallback) are
invisible here, answered exactly as ids that do not exist (``campaign.CHANNELS``; the
choice is written in campaign.py's docstring). See docs/dialects/mobizon.md.
"""

from __future__ import annotations

import importlib

from clarion.dialects.mobizon.wire import router

MODULES = ("campaign", "message", "taskqueue", "user", "contacts", "link")


def _load() -> None:
    for name in MODULES:
        qualified = f"{__name__}.{name}"
        try:
            importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:  # a missing dependency, not a missing module
                raise


_load()

__all__ = ["router"]
