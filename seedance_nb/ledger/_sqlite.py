"""`SQLiteStore`: the ledger in one SQLite file in WAL mode, the embedded default.

Only connections, transactions, triggers and wake-ups live here; every statement is in `_sql`.
Writes take the file's lock with ``BEGIN IMMEDIATE`` and wait for each other, so every write
transaction sees the rows the others committed, and a `rev` one past the file's highest orders
changes for incremental reads. Reads use a second, read-only connection and never block writes.
A file has no way to reach another process: wake-ups reach this process's listeners only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..api import LedgerError
from ._sql import Busy, Dialect, SQLStore, Tx

NEXT_REV = "(SELECT COALESCE(MAX(rev), 0) + 1 FROM submissions)"  # one past the highest
BUSY_MS = 30_000  # how long a write waits for another kernel's write before giving up
NOW_MS = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
SQLITE = Dialect(
    name="sqlite",
    mark="?",
    types={"KEY": "INTEGER PRIMARY KEY", "INT": "INTEGER", "TIME": "INTEGER", "BLOB": "BLOB"},
    now=NOW_MS,
    now_ms=NOW_MS,
    ms_of="{}",
    update_rev=NEXT_REV,
    insert_rev=NEXT_REV,
    # the rev index, not a rowid scan: SQLite would otherwise scan every row to skip a sort
    by_rev=" INDEXED BY by_rev",
    frame_state=(
        "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
        "(SELECT COALESCE(MAX(rev), 0) FROM submissions)"
    ),
)
# writes made with plain SQL get a rev too, so an incremental read misses nothing
TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS rev_on_insert AFTER INSERT ON submissions WHEN NEW.rev = 0
BEGIN
    UPDATE submissions SET rev = {NEXT_REV} WHERE id = NEW.id;
END""",
    f"""CREATE TRIGGER IF NOT EXISTS rev_on_update AFTER UPDATE ON submissions
WHEN NEW.rev = OLD.rev
BEGIN
    UPDATE submissions SET rev = {NEXT_REV} WHERE id = NEW.id;
END""",
    """CREATE TRIGGER IF NOT EXISTS generation_on_delete AFTER DELETE ON submissions
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    DELETE FROM df_snapshot;
END""",
)


class SQLiteStore(SQLStore):
    """One SQLite file; safe to share between threads and between processes on one machine."""

    d = SQLITE

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.url = str(path)
        self._lock = threading.RLock()  # guards the write connection
        self._rlock = threading.RLock()  # guards the read connection
        self._listeners: list[Callable[[str], Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        try:
            _wal(self._db)
            # FULL syncs the WAL on every commit: a row whose log() returned survives even a
            # power cut; a killed process alone would need only NORMAL
            self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            with self._write() as tx:
                self._migrate(tx)
            self._reader = self._connect()
            self._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            self._db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        return db

    @contextmanager
    def _write(self, quick: bool = False) -> Iterator[Tx]:
        """One write transaction that waits for other kernels instead of failing (`quick`:
        gives up at once)."""
        with self._lock:
            db = self._db
            if quick:
                db.execute("PRAGMA busy_timeout = 0")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if quick:
                    raise Busy() from None
                raise self._error(exc) from None
            finally:
                if quick:
                    db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            tx = Tx(db, self.d)
            try:
                yield tx
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if quick and isinstance(exc, sqlite3.Error):
                    raise Busy() from None
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from None
                raise
        for account in tx.woken:
            self._wake(account)

    def _error(self, exc: sqlite3.Error) -> LedgerError:
        """A driver error as `LedgerError` in words (a full disk, a file made read-only, a lock
        held past the busy timeout), as PostgreSQL's are: callers see one error type."""
        return LedgerError(self.url, cause(exc, self.path))

    @contextmanager
    def _read(self) -> Iterator[Tx]:
        with self._rlock:
            try:
                yield Tx(self._reader, self.d)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    @contextmanager
    def _snapshot(self) -> Iterator[Tx]:
        with self._rlock:
            try:
                self._reader.execute("BEGIN")
                try:
                    yield Tx(self._reader, self.d)
                finally:
                    self._reader.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _columns(self, tx: Tx, table: str) -> set[str]:
        return {row[1] for row in tx.run(f"PRAGMA table_info({table})").fetchall()}

    def _triggers(self, tx: Tx) -> None:
        for trigger in TRIGGERS:
            tx.run(trigger)

    # ---- wake-ups ------------------------------------------------------------------------------
    def announce(self, account: str) -> None:
        self._wake(account)

    def listen(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Same-process wake-ups only: a file has no way to reach another process, whose
        engine wakes on its own timer instead."""
        self._listeners.append(callback)

        def stop() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return stop

    def _wake(self, account: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(account)
            except Exception:  # a listener's bug must not break the ledger write that woke it
                continue

    # ---- closing -----------------------------------------------------------------------------
    def close(self) -> None:
        with self._rlock, self._lock:
            self._reader.close()
            self._db.close()


def cause(exc: BaseException, path: Path) -> str:
    """What went wrong with the file, in words that say what to do."""
    text = str(exc)
    if path.exists() and (not os.access(path, os.W_OK) or os.statvfs(path).f_flag & os.ST_RDONLY):
        text = f"{text}: read-only"
    if "not a database" in text or "malformed" in text:
        return f"is not a seedance_nb ledger (not a readable SQLite database: {text})"
    if "readonly" in text or "read-only" in text:
        return f"is read-only ({text}); give it write permission or pass ledger= another path"
    if "unable to open" in text or isinstance(exc, PermissionError):
        return f"cannot be opened ({text}); check the path and its permissions"
    return text


def _wal(db: sqlite3.Connection) -> None:
    """Switch to WAL; a kernel creating the same new file at the same moment may hold it briefly."""
    deadline = time.monotonic() + BUSY_MS / 1000
    while True:
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise  # only another kernel's brief hold is worth waiting for
            time.sleep(0.01)
            continue
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"{db}: cannot use WAL mode (got {mode})")
        return


__all__ = ["SQLiteStore", "cause"]
