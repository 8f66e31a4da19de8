"""`SQLiteStore`: the ledger in one SQLite file in WAL mode, the embedded default.

Writes take the file's lock with ``BEGIN IMMEDIATE`` and wait for each other, so every write
transaction sees the rows the others committed, and a `rev` one past the file's highest orders
changes for incremental reads. Reads use a second, read-only connection and never block writes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..api import BudgetExceededError
from . import _slots
from ._account import scope
from ._owners import Owner, live
from ._schema import (
    COMMITTED,
    EXTRAS,
    IN_FLIGHT,
    NEXT_REV,
    REUSABLE,
    SELECT,
    SENT,
    TABLES,
    decoded,
    migrate,
    statements,
    to_ms,
)
from ._store import FrameSource, Row, Store, Values, where_sql

BUSY_MS = 30_000  # how long a write waits for another kernel's write before giving up
REUSABLE_ROW = (
    f"SELECT {SELECT} FROM submissions WHERE experiment = ? AND fingerprint = ? "
    f"AND {REUSABLE} ORDER BY id DESC LIMIT 1"
)
# the rev index, not a rowid scan: SQLite would otherwise scan every row to skip a sort
CHANGED = (
    f"SELECT * FROM (SELECT {SELECT} FROM submissions INDEXED BY by_rev WHERE rev > ?) ORDER BY id"
)
EVERY = f"SELECT {SELECT} FROM submissions ORDER BY id"


def _now_ms() -> int:
    return to_ms(datetime.now(timezone.utc))


class SQLiteStore(Store):
    """One SQLite file; safe to share between threads and between processes on one machine."""

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
            with self._write() as db:
                for statement in statements(TABLES):
                    db.execute(statement)
                migrate(db)
                for statement in statements(EXTRAS):
                    db.execute(statement)
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that waits for other kernels instead of failing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._rlock:
            cursor = self._reader.execute(sql, tuple(args))
            names = [d[0] for d in cursor.description]
            return [decoded(names, row) for row in cursor.fetchall()]

    def _scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._rlock:
            return self._reader.execute(sql, tuple(args)).fetchone()[0]

    # ---- submissions -------------------------------------------------------------------------
    def insert(
        self,
        values: Values,
        *,
        dedupe: tuple[str, str] | None = None,
        budget: tuple[str, int] | None = None,
    ) -> tuple[int, Row | None]:
        names, stored = values
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO submissions ({', '.join(names)}, rev) VALUES ({marks}, {NEXT_REV})"
        with self._write() as db:
            if dedupe is not None:
                cursor = db.execute(REUSABLE_ROW, dedupe)
                found = cursor.fetchone()
                if found is not None:
                    row = decoded([d[0] for d in cursor.description], found)
                    return int(row["id"]), row
            if budget is not None:
                _enforce(db, *budget)
            return int(db.execute(sql, stored).lastrowid or 0), None

    def insert_many(self, rows: Sequence[Values]) -> None:
        with self._write() as db:
            for names, stored in rows:
                marks = ", ".join("?" * len(names))
                db.execute(
                    f"INSERT INTO submissions ({', '.join(names)}, rev) "
                    f"VALUES ({marks}, {NEXT_REV})",
                    stored,
                )

    def update(self, row_id: int, values: Values) -> bool:
        names, stored = values
        assignments = "".join(f"{n} = ?, " for n in names)
        sql = f"UPDATE submissions SET {assignments}rev = {NEXT_REV} WHERE id = ?"
        with self._write() as db:
            return db.execute(sql, (*stored, row_id)).rowcount == 1

    def move(self, row_id: int, owner_id: str, expect: str, values: Values) -> bool:
        names, stored = values
        assignments = "".join(f"{n} = ?, " for n in names)
        sql = (
            f"UPDATE submissions SET {assignments}rev = {NEXT_REV} "
            "WHERE id = ? AND owner = ? AND status = ?"
        )
        with self._write() as db:
            return db.execute(sql, (*stored, row_id, owner_id, expect)).rowcount == 1

    def claim(self, row_id: int, owner_id: str) -> Row | None:
        with self._write() as db:
            cursor = db.execute(f"SELECT {SELECT} FROM submissions WHERE id = ?", (row_id,))
            found = cursor.fetchone()
            if found is None:
                raise KeyError(f"no ledger row {row_id}")
            row = decoded([d[0] for d in cursor.description], found)
            final = row["status"] not in IN_FLIGHT
            taken = not final and row["owner"] not in (None, owner_id)
            if taken and row["owner"] in _live(db):
                return None
            status = "DOWNLOADING" if row["status"] == "DOWNLOAD_FAILED" else row["status"]
            db.execute(
                f"UPDATE submissions SET owner = ?, status = ?, rev = {NEXT_REV} WHERE id = ?",
                (owner_id, status, row_id),
            )
            row["owner"], row["status"] = owner_id, status
            return row

    def get(self, row_id: int) -> Row | None:
        rows = self._read(f"SELECT {SELECT} FROM submissions WHERE id = ?", (row_id,))
        return rows[0] if rows else None

    def rows(self, where: dict[str, list[Any]]) -> list[Row]:
        clause, args = where_sql(where, "?")
        return self._read(f"SELECT {SELECT} FROM submissions WHERE {clause} ORDER BY id", args)

    def find(self, experiment: str, fingerprint: str) -> Row | None:
        rows = self._read(REUSABLE_ROW, (experiment, fingerprint))
        return rows[0] if rows else None

    def count(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM submissions"))

    # ---- owners ------------------------------------------------------------------------------
    def register(self, owner: Owner) -> None:
        now = _now_ms()
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO owners VALUES (?, ?, ?, ?, ?)",
                (owner.id, owner.host, owner.pid, now, now),
            )

    def beat(self, owner: Owner) -> None:
        with self._write() as db:
            _beat(db, owner)

    def retire(self, owner: Owner) -> None:
        with self._write() as db:
            db.execute("DELETE FROM owners WHERE id = ?", (owner.id,))
            db.execute("DELETE FROM slot_waits WHERE owner = ?", (owner.id,))
            accounts = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT account FROM slot_leases WHERE owner = ?", (owner.id,)
                )
            ]
        for account in accounts:
            self._wake(account)

    def live_owners(self) -> set[str]:
        with self._lock:
            return _live(self._db)

    # ---- credits -----------------------------------------------------------------------------
    def spent(self, experiment: str | None, base_url: str | None) -> int:
        where, args = scope(experiment, base_url)
        sql = f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}"
        return int(self._scalar(sql, ("COMPLETED", *args)))

    def committed(self, experiment: str | None, base_url: str | None) -> int:
        where, args = scope(experiment, base_url)
        return int(self._scalar(f"SELECT {COMMITTED} FROM submissions WHERE 1{where}", args))

    def reserved(self, base_url: str | None) -> int:
        where, args = scope(None, base_url)
        return int(
            self._scalar(
                "SELECT COALESCE(SUM(estimated_credits), 0) FROM submissions "
                f"WHERE status IN ({', '.join('?' * len(SENT))}){where}",
                (*SENT, *args),
            )
        )

    def set_budget(self, experiment: str, credits: int | None) -> None:
        with self._write() as db:
            if credits is None:
                db.execute("DELETE FROM budgets WHERE experiment = ?", (experiment,))
            else:
                db.execute(
                    "INSERT INTO budgets VALUES (?, ?) ON CONFLICT(experiment) "
                    "DO UPDATE SET credits = excluded.credits",
                    (experiment, credits),
                )

    def budget(self, experiment: str) -> int | None:
        rows = self._read("SELECT credits FROM budgets WHERE experiment = ?", (experiment,))
        return int(rows[0]["credits"]) if rows else None

    def remaining(self, experiment: str) -> int | None:
        with self._rlock:  # one snapshot for both reads
            self._reader.execute("BEGIN")
            try:
                budget = self.budget(experiment)
                return None if budget is None else budget - self.committed(experiment, None)
            finally:
                self._reader.execute("COMMIT")

    def add_baseline(self, credits: int, available: int, base_url: str | None) -> None:
        where, args = scope(None, base_url)
        with self._write() as db:
            spent = db.execute(
                f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}",
                ("COMPLETED", *args),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO baselines (at, credits, available, ledger_spent, base_url) "
                "VALUES (?, ?, ?, ?, ?)",
                (_now_ms(), credits, available, spent, base_url),
            )

    def baseline(self, base_url: str | None) -> Row | None:
        rows = self._read(
            "SELECT at, credits, available, ledger_spent FROM baselines WHERE base_url IS ? "
            "ORDER BY id DESC LIMIT 1",
            (base_url,),
        )
        return rows[0] if rows else None

    # ---- votes -------------------------------------------------------------------------------
    def vote(self, experiment: str, winner: int, losers: list[int], at_ms: int) -> None:
        with self._write() as db:
            ids = {winner, *losers}
            marks = ", ".join("?" * len(ids))
            found = db.execute(f"SELECT id FROM submissions WHERE id IN ({marks})", (*ids,))
            missing = ids - {r[0] for r in found}
            if missing:
                raise KeyError(f"no ledger row {min(missing)}")
            ballot = db.execute("SELECT COALESCE(MAX(ballot), 0) + 1 FROM votes").fetchone()[0]
            db.executemany(
                "INSERT INTO votes (experiment, ballot, winner, loser, at) VALUES (?, ?, ?, ?, ?)",
                [(experiment, ballot, winner, loser, at_ms) for loser in losers],
            )

    def retract_vote(self, ballot: int) -> bool:
        with self._write() as db:
            return bool(db.execute("DELETE FROM votes WHERE ballot = ?", (ballot,)).rowcount)

    def votes(self, experiment: str | None) -> list[Row]:
        where, args = scope(experiment, None)
        return self._read(
            f"SELECT experiment, ballot, winner, loser, at FROM votes WHERE 1{where} ORDER BY id",
            args,
        )

    # ---- the frame behind .df ----------------------------------------------------------------
    @contextmanager
    def frame_read(self) -> Iterator[FrameSource]:
        with self._rlock:
            self._reader.execute("BEGIN")
            try:
                yield _Source(self._reader)
            finally:
                self._reader.execute("COMMIT")

    def save_snapshot(self, rev: int, generation: int, rows: int, fmt: str, data: bytes) -> bool:
        with self._lock:
            db = self._db
            db.execute("PRAGMA busy_timeout = 0")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return False  # busy: a later read will try again
            finally:
                db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            try:
                now = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                if now is None or now[0] != generation:  # a row was deleted meanwhile
                    db.execute("ROLLBACK")
                    return False
                db.execute(
                    "INSERT INTO df_snapshot VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                    "SET rev = excluded.rev, generation = excluded.generation, "
                    "rows = excluded.rows, format = excluded.format, data = excluded.data "
                    "WHERE excluded.rev > df_snapshot.rev "
                    "OR excluded.generation > df_snapshot.generation",
                    (rev, generation, rows, fmt, data),
                )
                db.execute("COMMIT")
            except sqlite3.Error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                return False
            return True

    # ---- the account's slots -----------------------------------------------------------------
    def acquire_slot(self, account: str, owner: Owner, user: str, job_row: int, limit: int) -> bool:
        now = _now_ms()
        with self._write() as db:
            _beat(db, owner)  # a studio asking for a slot is alive, whatever its heartbeat says
            db.execute(
                "INSERT INTO slot_accounts VALUES (?, ?) ON CONFLICT(account) "
                "DO UPDATE SET slot_limit = excluded.slot_limit",
                (account, limit),
            )
            held = db.execute(
                "SELECT 1 FROM slot_leases WHERE account = ? AND job_row = ?", (account, job_row)
            ).fetchone()
            if held is None:
                db.execute(
                    "INSERT OR IGNORE INTO slot_waits "
                    "(account, user_name, job_row, owner, enqueued_at) VALUES (?, ?, ?, ?, ?)",
                    (account, user, job_row, owner.id, now),
                )
            granted, mine = _grant(db, account, limit, job_row, now)
        if granted - {job_row}:
            self._wake(account)
        return mine

    def release_slot(self, account: str, job_row: int) -> bool:
        now = _now_ms()
        with self._write() as db:
            released = db.execute(
                "DELETE FROM slot_leases WHERE account = ? AND job_row = ?", (account, job_row)
            ).rowcount
            db.execute(
                "DELETE FROM slot_waits WHERE account = ? AND job_row = ?", (account, job_row)
            )
            found = db.execute(
                "SELECT slot_limit FROM slot_accounts WHERE account = ?", (account,)
            ).fetchone()
            if found is not None:
                _grant(db, account, int(found[0]), None, now)
        self._wake(account)
        return bool(released)

    def slots(self, account: str) -> dict[str, list[Row]]:
        with self._write() as db:
            leases, waits, alive, turns = _slot_state(db, account)
        return _slots.view(leases, waits, alive, turns)

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


class _Source:
    """`FrameSource` over the read connection inside one read transaction."""

    exact = True

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def state(self) -> tuple[int, int]:
        found = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        top = self.db.execute("SELECT COALESCE(MAX(rev), 0) FROM submissions").fetchone()[0]
        return (int(found[0]) if found else 0), int(top)

    def changed(self, rev: int) -> list[tuple[Any, ...]]:
        return self.db.execute(CHANGED, (rev,)).fetchall()

    def every(self) -> list[tuple[Any, ...]]:
        return self.db.execute(EVERY).fetchall()

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])

    def snapshot(self) -> tuple[int, int, int, str, bytes] | None:
        return self.db.execute(
            "SELECT rev, generation, rows, format, data FROM df_snapshot WHERE id = 1"
        ).fetchone()


# ---- helpers that run inside a write transaction ----------------------------------------------
def _live(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT id, host, pid, beat_at FROM owners").fetchall()
    return live(rows, _now_ms())


def _beat(db: sqlite3.Connection, owner: Owner) -> None:
    now = _now_ms()
    if db.execute("UPDATE owners SET beat_at = ? WHERE id = ?", (now, owner.id)).rowcount:
        return
    db.execute(
        "INSERT INTO owners VALUES (?, ?, ?, ?, ?)", (owner.id, owner.host, owner.pid, now, now)
    )


def _enforce(db: sqlite3.Connection, experiment: str, cost: int) -> None:
    row = db.execute("SELECT credits FROM budgets WHERE experiment = ?", (experiment,))
    budget = row.fetchone()
    if budget is not None:
        used = db.execute(
            f"SELECT {COMMITTED} FROM submissions WHERE experiment = ?", (experiment,)
        ).fetchone()[0]
        if cost > budget[0] - used:
            raise BudgetExceededError(experiment, budget[0] - used, cost)


def _slot_state(
    db: sqlite3.Connection, account: str
) -> tuple[list[_slots.Lease], list[_slots.Wait], set[str], dict[str, int]]:
    leases = [
        _slots.Lease(int(r[0]), r[1], r[2], r[3])
        for r in db.execute(
            "SELECT l.job_row, l.owner, l.user_name, s.status FROM slot_leases l "
            "LEFT JOIN submissions s ON s.id = l.job_row WHERE l.account = ? "
            "ORDER BY l.granted_at, l.job_row",
            (account,),
        )
    ]
    waits = [
        _slots.Wait(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5])
        for r in db.execute(
            "SELECT w.enqueued_at, w.id, w.user_name, w.job_row, w.owner, s.status "
            "FROM slot_waits w LEFT JOIN submissions s ON s.id = w.job_row "
            "WHERE w.account = ? ORDER BY w.enqueued_at, w.id",
            (account,),
        )
    ]
    turns = dict(db.execute("SELECT user_name, turn FROM slot_users WHERE account = ?", (account,)))
    return leases, waits, _live(db), turns


def _grant(
    db: sqlite3.Connection, account: str, limit: int, mine: int | None, now: int
) -> tuple[set[int], bool]:
    """Expire, drop and grant per `_slots.plan`; (rows granted now, whether `mine` holds one)."""
    leases, waits, alive, turns = _slot_state(db, account)
    decided = _slots.plan(leases, waits, alive, limit, turns)
    for lease in decided.expired:
        db.execute(
            "DELETE FROM slot_leases WHERE account = ? AND job_row = ?", (account, lease.row)
        )
    for wait in (*decided.dropped, *decided.granted):
        db.execute("DELETE FROM slot_waits WHERE id = ?", (wait.seq,))
    turn = max(turns.values(), default=0)
    for wait in decided.granted:
        turn += 1
        db.execute(
            "INSERT INTO slot_leases VALUES (?, ?, ?, ?, ?)",
            (account, wait.row, wait.owner, wait.user, now),
        )
        db.execute(
            "INSERT INTO slot_users VALUES (?, ?, ?) ON CONFLICT(account, user_name) "
            "DO UPDATE SET turn = excluded.turn",
            (account, wait.user, turn),
        )
    granted = {w.row for w in decided.granted}
    holding = granted | {lease.row for lease in decided.held}
    return granted, mine in holding


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
