"""The ``smpp`` channel: an asyncio SMPP 3.4 ESME client (docs/channels/smpp.md).

Modules: ``pdu`` (codec), ``errors`` (command_status -> Outcome), ``text`` (GSM-7 /
UCS-2 octets and concatenation), ``receipts`` (delivery receipt parsing),
``config`` (the connections file), ``session`` (one bound connection and its
reconnecting link), ``channel`` (the Channel adapter).

Why our own codec and client
----------------------------
Evaluated on PyPI (2026):

* ``smpplib`` 2.2.4: maintained, but blocking sockets with a thread per client;
  inside the dispatcher's event loop it needs threads and locks around every
  call. Rejected: not asyncio.
* ``aiosmpplib`` 0.7.4: asyncio and maintained, but built around its own broker
  queue, correlator, retry timer and hooks: a message is enqueued and its fate comes
  back through callbacks, and it retries on its own. The channel must return one
  outcome per submission from ``submit`` and must know, for a connection that
  dropped, which PDUs were written (never resend those); neither is exposed.
* ``smpp34`` 1.5.0: asyncio-facing, Rust/tokio core with window and TLS. Promising,
  but young, a compiled wheel we cannot audit in review, no throughput limit or
  reconnect, and its exceptions do not say whether a failed ``submit_sm`` reached
  the socket: exactly the distinction that decides between a safe retry and a
  possible double send.
* ``naz`` 0.8.1 (2020), ``aiosmpp`` 1.0.3 (2019), ``python-smpp`` (2016): unmaintained;
  ``smpp.twisted`` needs Twisted.

The protocol subset an ESME needs is small (bind, submit_sm, deliver_sm,
enquire_link, unbind, generic_nack and a few TLVs), so it is written here with unit
tests against byte vectors from the specification, and exercised against an
independent test SMSC (tests/smsc/) that shares no code with it.
"""

from __future__ import annotations

from clarion.channels.base import ReportSink, register
from clarion.channels.smpp.channel import MoHook, MoMessage, SmppChannel, SubmitInDoubt
from clarion.channels.smpp.config import ConfigError, load
from clarion.config import Settings

__all__ = ["ConfigError", "MoHook", "MoMessage", "SmppChannel", "SubmitInDoubt", "build"]


@register("smpp")
def build(settings: Settings, sink: ReportSink) -> SmppChannel:
    if not settings.smpp_config:
        raise ConfigError("the smpp channel needs CLARION_SMPP_CONFIG (a connections file)")
    return SmppChannel(load(settings.smpp_config), sink)
