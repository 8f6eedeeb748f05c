"""The server's own secret: ``CLARION_WEB_SECRET``, else a random one created once in
``{data_dir}/web-secret`` (mode 0600) and shared by every process with that data
directory. It signs dashboard sessions and keys the BSG bearer tokens, so a copy of
the database alone (API key hashes) cannot mint either."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "web-secret"  # noqa: S105 - a file name, not a secret


def load_secret(configured: str, data_dir: str) -> bytes:
    """The configured secret, else the one stored under ``data_dir`` (created once)."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: another process sees either no file
        # or the whole secret, and the first link wins.
        draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    stored = path.read_text().strip()
    if len(stored) < 32:
        raise RuntimeError(f"{path} holds no usable secret; delete it to make a new one")
    return stored.encode()
