"""Voice campaigns: the pure rules the call engine and the voice dialects build on.

No I/O and no clock here (``now`` is always passed in), like the rest of
``clarion.domain``. One idea per module:

* :mod:`~clarion.domain.voice.outcomes` - call outcomes (autocall's names) and an attempt record.
* :mod:`~clarion.domain.voice.recall` - the recall policy: validation and the next attempt time.
* :mod:`~clarion.domain.voice.windows` - weekly calling windows (ns since local midnight).
* :mod:`~clarion.domain.voice.quiet_hours` - allowed hours in the recipient's own time zone(s).
* :mod:`~clarion.domain.voice.network` - the ``network`` split: operator buckets and admission.
* :mod:`~clarion.domain.voice.pacing` - preview and predictive pacing (abandon rate <= 3 %).
* :mod:`~clarion.domain.voice.simulation` - a seeded discrete-event simulator of a dialer,
  an agent pool and the people it calls, on a virtual clock.

Every validation error is a :class:`~clarion.domain.voice.errors.InvalidField`
(a ``ValueError``) naming the offending field. docs/voice.md explains the semantics.
"""
