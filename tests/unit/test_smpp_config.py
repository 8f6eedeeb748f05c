"""SMPP connections file, addressing and validity helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clarion.channels import base as channels
from clarion.channels.smpp import ConfigError, SmppChannel, load
from clarion.channels.smpp.channel import relative_validity, source_address
from clarion.channels.smpp.config import BindMode, Connection
from clarion.channels.smpp.text import Concatenation
from clarion.config import Settings

TOML = """
orphan_receipt_grace = 2.5

[[connections]]
name = "a"
host = "smsc.example.net"
system_id = "clarion"
password_env = "CLARION_TEST_SMPP_A"
password = "fallback"
bind = "tx_rx"
window = 40
max_rate = 150
concatenation = "sar"

[[connections]]
name = "b"
host = "10.0.0.7"
port = 3775
system_id = "other"
tls = true
"""


def test_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "smpp.toml"
    path.write_text(TOML)
    config = load(path)
    a, b = config.connections
    assert config.orphan_receipt_grace == 2.5
    assert (a.bind, a.window, a.max_rate, a.concatenation) == (
        BindMode.TX_RX,
        40,
        150,
        Concatenation.SAR,
    )
    assert (b.port, b.tls, b.window, b.concatenation) == (3775, True, 10, Concatenation.UDH8)
    assert a.secret() == "fallback"
    monkeypatch.setenv("CLARION_TEST_SMPP_A", "from-env")
    assert a.secret() == "from-env"


def test_json_file(tmp_path: Path) -> None:
    path = tmp_path / "smpp.json"
    path.write_text(json.dumps({"connections": [{"name": "x", "host": "h", "system_id": "s"}]}))
    assert load(path).connections[0].bind is BindMode.TRANSCEIVER


@pytest.mark.parametrize(
    "content",
    [
        "{",  # not JSON
        json.dumps({"connections": []}),
        json.dumps({"connections": [{"name": "x", "host": "h", "system_id": "s", "windw": 5}]}),
        json.dumps({"connections": [{"name": "x", "host": "h", "system_id": "s", "window": 0}]}),
        json.dumps(
            {"connections": [{"name": "x", "host": "h", "system_id": "s"}] * 2}
        ),  # duplicate names
        json.dumps(
            {"connections": [{"name": "x", "host": "h", "system_id": "s", "concatenation": "udh7"}]}
        ),
    ],
)
def test_bad_files_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "smpp.json"
    path.write_text(content)
    with pytest.raises(ConfigError):
        load(path)


def test_missing_file_and_missing_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError):
        channels.build("smpp", Settings(smpp_config=""), lambda reports: None)


def test_registered_and_built_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "smpp.toml"
    path.write_text(TOML)
    assert "smpp" in channels.names()
    channel = channels.build("smpp", Settings(smpp_config=str(path)), lambda reports: None)
    assert isinstance(channel, SmppChannel)
    assert [link.label for link in channel.links] == ["a/tx", "a/rx", "b"]


def conn(**overrides: object) -> Connection:
    return Connection.model_validate({"name": "c", "host": "h", "system_id": "s"} | overrides)


def test_source_address_rules() -> None:
    assert source_address("Clarion", conn()) == (5, 0, "Clarion")
    assert source_address("+77010000001", conn()) == (1, 1, "77010000001")
    assert source_address("77010000001", conn()) == (1, 1, "77010000001")
    assert source_address("4040", conn()) == (3, 0, "4040")
    assert source_address("", conn()) == (0, 0, "")
    assert source_address("4040", conn(source_ton=0, source_npi=1)) == (0, 1, "4040")


def test_relative_validity() -> None:
    assert relative_validity(None) == ""
    assert relative_validity(10) == "000000001000000R"
    assert relative_validity(90) == "000000013000000R"
    assert relative_validity(3 * 1440 + 61) == "000003010100000R"
    assert relative_validity(120 * 1440) == "000400000000000R"  # 120 days = 4 x 30
