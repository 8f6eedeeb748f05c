"""The simulated SMS carrier's own durable record (channels/sim_sms.py): an SQLite
file apart from Clarion's database, shared by every process that simulates the same
carrier. SQL only, like the rest of store/."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence


class SubmissionLedger:
    """The simulated carrier's durable record: one row per accepted submission, in an
    SQLite file shared by every process (WAL; each batch committed before ``submit``
    returns, so it survives a SIGKILL of the process right after)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS submissions (reference TEXT NOT NULL, "
            "message_id INTEGER NOT NULL, phone TEXT NOT NULL, pid INTEGER NOT NULL, "
            "at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS submissions_ref ON submissions (reference)")

    def record(self, batch: Sequence[tuple[str, int, str]]) -> None:
        """Write (reference, message id, phone) of each accepted submission."""
        pid, now = os.getpid(), time.time()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO submissions VALUES (?, ?, ?, ?, ?)",
                [(ref, message_id, phone, pid, now) for ref, message_id, phone in batch],
            )

    def find(self, references: Sequence[str]) -> list[tuple[str, int]]:
        found: list[tuple[str, int]] = []
        for start in range(0, len(references), 500):
            chunk = list(references[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found += self._db.execute(
                f"SELECT DISTINCT reference, message_id FROM submissions "  # noqa: S608
                f"WHERE reference IN ({marks})",
                chunk,
            ).fetchall()
        return found

    def close(self) -> None:
        self._db.close()
