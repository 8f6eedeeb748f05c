"""Vendor dialects: thin facades that let clients written for another SMS platform talk
to Clarion by changing only the host and the key.

Each dialect is a package with a FastAPI ``router`` that parses its vendor's wire
format, calls ``clarion.services`` and renders the vendor's envelope. It translates
and nothing more: rules that two dialects would share belong in ``services/`` or
``domain/``. See ``docs/dialects/``.
"""

from starlette.convertors import PathConvertor, register_url_convertor


class AnyPathConvertor(PathConvertor):
    """``{rest:anypath}``: like ``path`` but also across a newline (``%0A``), so a
    dialect's catch-all route still matches a path that a parameter route of another
    method half-matches; otherwise Starlette answers that request's 405 itself, in the
    application's problem+json instead of the dialect's envelope."""

    regex = "(?s:.*)"


register_url_convertor("anypath", AnyPathConvertor())
