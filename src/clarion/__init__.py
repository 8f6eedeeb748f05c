"""Clarion: self-hosted outbound campaign manager."""

__version__ = "0.1.0"
