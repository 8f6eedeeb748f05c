"""The wolkvox dialect: wolkvox's dialer API v2 over Clarion's voice campaigns.

A client written against wolkvox's campaign APIs (``/api/v2/campaign.php?api=start``
and its siblings, the ``wolkvox-token`` header, the ``{code, error, msg}`` envelope)
works against Clarion by changing only the host. ``router`` is included by
``create_app``. See ``campaign.py`` for the endpoints, ``wire.py`` for the token, the
envelope and the per-token limits, docs/dialects/wolkvox.md.
"""

from __future__ import annotations

from clarion.dialects.wolkvox.campaign import router

__all__ = ["router"]
