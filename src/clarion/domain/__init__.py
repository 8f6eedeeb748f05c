"""Clarion domain core: pure rules, no I/O, no clock."""
