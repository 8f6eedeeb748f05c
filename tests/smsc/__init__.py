"""A minimal SMPP 3.4 SMSC for tests and benchmarks, written from the specification.

It shares no code with ``clarion.channels.smpp`` (its own framing, field parsing, GSM
table and receipt format), so a codec bug on one side cannot hide behind the same bug
on the other. See ``server.py``.
"""

from tests.smsc.server import Smsc, SubmitRecord

__all__ = ["Smsc", "SubmitRecord"]
