"""Channels: how messages leave Clarion. See ``base`` for the protocol and registry."""
