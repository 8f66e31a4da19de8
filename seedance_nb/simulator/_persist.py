"""The simulator's memory on disk (with `--data-dir`): one SQLite file beside the assets.

Accounts (by a hash of their key, never the key), tasks and a few settings survive a
restart; reservations are not stored but recomputed from the tasks still running. Every
change is written before the answer that reveals it, and a task's charge is written with its
final state in one transaction, so a restart can neither lose nor repeat a charge.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (key_id TEXT PRIMARY KEY, name TEXT NOT NULL,
                                     credits INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


class Saved:
    """The state file: read once at start, then written as things change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def accounts(self) -> dict[str, tuple[str, int]]:
        """key_id -> (name, credits)."""
        rows = self.db.execute("SELECT key_id, name, credits FROM accounts")
        return {key_id: (name, credits) for key_id, name, credits in rows}

    def tasks(self) -> list[dict[str, Any]]:
        return [
            json.loads(r[0]) for r in self.db.execute("SELECT record FROM tasks ORDER BY rowid")
        ]

    def save(
        self, task: dict[str, Any] | None = None, account: tuple[str, str, int] | None = None
    ) -> None:
        """Write a task record and/or an account's (key_id, name, credits), in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            if task is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO tasks (id, record) VALUES (?, ?)",
                    (task["id"], json.dumps(task, sort_keys=True)),
                )
            if account is not None:
                self.db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?, ?)", account)

    def delete_task(self, task_id: str) -> None:
        self.db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def close(self) -> None:
        self.db.close()
