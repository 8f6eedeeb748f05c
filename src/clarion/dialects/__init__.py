"""Vendor dialects: thin facades that let clients written for another SMS platform talk
to Clarion by changing only the host and the key.

Each dialect is a package with a FastAPI ``router`` that parses its vendor's wire
format, calls ``clarion.services`` and renders the vendor's envelope. It translates
and nothing more: rules that two dialects would share belong in ``services/`` or
``domain/``. See ``docs/dialects/``.
"""
