"""The README documents every setting and every CLI command."""

from __future__ import annotations

from pathlib import Path

from clarion.cli import (
    accounts_app,
    app,
    campaigns_app,
    db_app,
    prices_app,
    recipients_app,
    stoplist_app,
)
from clarion.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [
        f"CLARION_{name.upper()}"
        for name in Settings.model_fields
        if f"`CLARION_{name.upper()}`" not in README
    ]
    assert missing == []


def test_every_cli_command_is_in_the_readme() -> None:
    commands = [f"clarion {c.name or c.callback.__name__}" for c in app.registered_commands]  # type: ignore[union-attr]
    groups = (
        ("db", db_app),
        ("accounts", accounts_app),
        ("campaigns", campaigns_app),
        ("recipients", recipients_app),
        ("stoplist", stoplist_app),
        ("prices", prices_app),
    )
    for group, sub in groups:
        commands += [f"clarion {group} {c.name}" for c in sub.registered_commands]
    missing = [c for c in commands if c not in README]
    assert missing == []
