"""The Huawei CC-iSales dialect: the outbound campaign open API over Clarion's voice
campaigns.

A client written for CC-iSales (``/rest/isales/v1/openapi/campaigns/{vdnId}/...``,
AK/SK-signed ``Authorization``, the ``resultCode``/``returnCode`` envelope) works
against Clarion by changing only the host. ``router`` is included by ``create_app``;
``credentials(db, settings, api_key)`` gives an API key's AK/SK pair. See
``campaigns.py`` for the interfaces, ``wire.py`` for codes and signatures,
docs/dialects/isales.md.
"""

from __future__ import annotations

from clarion.dialects.isales.campaigns import router
from clarion.dialects.isales.wire import credentials

__all__ = ["credentials", "router"]
