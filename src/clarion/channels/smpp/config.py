"""SMPP connection settings, read from the file named by ``CLARION_SMPP_CONFIG``.

The file is TOML (``.toml``) or JSON (anything else) with a list of named
connections; every key but ``name``, ``host`` and ``system_id`` has a default::

    [[connections]]
    name = "main"
    host = "smsc.example.net"
    port = 2775
    system_id = "clarion"
    password_env = "CLARION_SMPP_MAIN_PASSWORD"   # or password = "..." (not in git!)
    bind = "transceiver"                          # or "tx_rx": a transmitter + a receiver
    window = 50
    max_rate = 200                                # submit_sm per second, 0 = unlimited

A password is taken from the environment variable named by ``password_env`` when it is
set, else from ``password``; keep secrets out of committed files.
"""

from __future__ import annotations

import json
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from clarion.channels.smpp.text import Concatenation


class BindMode(StrEnum):
    TRANSCEIVER = "transceiver"
    TX_RX = "tx_rx"


class ConfigError(ValueError):
    """The SMPP configuration file is missing, unreadable or invalid."""


Octet = Annotated[int, Field(ge=0, le=255)]


class Connection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field("", max_length=8)
    password_env: str | None = None
    system_type: str = Field("", max_length=12)
    bind: BindMode = BindMode.TRANSCEIVER
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None  # a private CA bundle (PEM) to verify the SMSC with
    # TON/NPI; None = chosen per address (see ``addressing``).
    source_ton: Octet | None = None
    source_npi: Octet | None = None
    dest_ton: Octet = 1
    dest_npi: Octet = 1
    window: int = Field(10, ge=1, le=1000)
    max_rate: float = Field(0.0, ge=0)
    enquire_link_interval: float = Field(30.0, gt=0)
    response_timeout: float = Field(30.0, gt=0)
    connect_timeout: float = Field(10.0, gt=0)
    reconnect_min: float = Field(1.0, gt=0)
    reconnect_max: float = Field(60.0, gt=0)
    throttle_pause: float = Field(1.0, ge=0)
    submit_timeout: float = Field(30.0, gt=0)
    concatenation: Concatenation = Concatenation.UDH8
    registered_delivery: Octet = 1
    service_type: str = Field("", max_length=5)

    @model_validator(mode="after")
    def _backoff(self) -> Connection:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be >= reconnect_min")
        return self

    def secret(self) -> str:
        """The password: from ``password_env`` when that variable is set."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is not None:
                return value
        return self.password


class SmppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connections: list[Connection] = Field(min_length=1)
    # Seconds an unmatched delivery receipt waits for its submit_sm_resp (which may
    # come later on another connection) before it is handed on by message id alone.
    orphan_receipt_grace: float = Field(5.0, ge=0)

    @model_validator(mode="after")
    def _unique(self) -> SmppConfig:
        names = [c.name for c in self.connections]
        if len(set(names)) != len(names):
            raise ValueError("connection names must be unique")
        return self


def load(path: str | Path) -> SmppConfig:
    """Read and validate the configuration file (TOML by extension, else JSON)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read SMPP config {file}: {exc}") from exc
    try:
        data = tomllib.loads(raw.decode()) if file.suffix == ".toml" else json.loads(raw)
        return SmppConfig.model_validate(data)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"invalid SMPP config {file}: {exc}") from exc
