"""`Ledger`: one SQLite file in WAL mode holding every submission, its credits, budgets, votes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..api import BudgetExceededError, LedgerError
from ._account import balance, reconcile_frame, scope, votes_frame
from ._owners import Owner, live
from ._schema import (
    CHARGED,
    EXTRAS,
    HOLDS_CREDITS,
    IN_FLIGHT,
    NEXT_REV,
    NOT_REUSABLE,
    RESUMABLE,
    SELECT,
    SENT,
    TABLES,
    checked,
    decoded,
    from_ms,
    migrate,
    statements,
    to_ms,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ._cache import Cache

BUSY_MS = 30_000  # how long a write waits for another kernel's write before giving up
COMMITTED = (
    "COALESCE(SUM(CASE "
    f"WHEN status IN ({', '.join(repr(s) for s in CHARGED)}) "
    "THEN COALESCE(credits_used, estimated_credits) "
    f"WHEN status IN ({', '.join(repr(s) for s in HOLDS_CREDITS)}) THEN estimated_credits "
    "ELSE 0 END), 0)"
)
REUSABLE_ROW = (
    f"SELECT {SELECT} FROM submissions WHERE experiment = ? AND fingerprint = ? "
    f"AND status NOT IN ({', '.join(repr(s) for s in NOT_REUSABLE)}) ORDER BY id DESC LIMIT 1"
)


class Ledger:
    """Every submission as a row: what was asked, what it was estimated to cost, what it cost.

    Safe to share between threads (each connection has its own lock) and between processes
    (writes take the file's lock with ``BEGIN IMMEDIATE`` and wait for each other).
    """

    def __init__(
        self, path: str | os.PathLike[str] = "seedance-ledger.sqlite", *, durable: bool = True
    ) -> None:
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise ValueError("path: a ledger is a file (use a temporary path for a throwaway one)")
        self.path = Path(path)
        self._lock = threading.RLock()  # guards the write connection
        self._rlock = threading.RLock()  # guards the read connection and the frame cache
        self._cache: Cache | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(str(self.path), _cause(exc, self.path)) from None
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
        except sqlite3.Error as exc:
            self._db.close()
            raise LedgerError(str(self.path), _cause(exc, self.path)) from None
        except BaseException:
            self._db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False
        )
        db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        return db

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def __len__(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM submissions"))

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

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._rlock:
            cursor = self._reader.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [decoded(names, row) for row in cursor.fetchall()]

    def _scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._rlock:
            return self._reader.execute(sql, args).fetchone()[0]

    # ---- writing -------------------------------------------------------------------------------
    def log(self, *, enforce_budget: bool = False, **fields: Any) -> int:
        """Write one submission and return its id once it is committed to disk.

        With `enforce_budget`, the experiment's budget is checked in the same transaction as
        the insert, so two kernels submitting at once cannot overspend it together.
        """
        fields.setdefault("submitted_at", datetime.now(timezone.utc))
        names, values = checked(fields)
        if not fields.get("experiment"):
            raise ValueError("experiment: every row needs an experiment")
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO submissions ({', '.join(names)}, rev) VALUES ({marks}, {NEXT_REV})"
        with self._write() as db:
            if enforce_budget and fields.get("status", "QUEUED") in IN_FLIGHT:
                self._enforce(db, fields["experiment"], int(fields.get("estimated_credits") or 0))
            return int(db.execute(sql, values).lastrowid or 0)

    def _log_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert many rows in one transaction (bulk loads and benchmarks)."""
        with self._write() as db:
            for fields in rows:
                names, values = checked(fields)
                marks = ", ".join("?" * len(names))
                db.execute(
                    f"INSERT INTO submissions ({', '.join(names)}, rev) "
                    f"VALUES ({marks}, {NEXT_REV})",
                    values,
                )

    def update(self, row_id: int, **fields: Any) -> None:
        """Change fields of one row (committed before returning); KeyError if there is none."""
        names, values = checked(fields)
        assignments = "".join(f"{n} = ?, " for n in names)
        sql = f"UPDATE submissions SET {assignments}rev = {NEXT_REV} WHERE id = ?"
        with self._write() as db:
            if db.execute(sql, (*values, row_id)).rowcount != 1:
                raise KeyError(f"no ledger row {row_id}")

    # ---- reading rows --------------------------------------------------------------------------
    def get(self, row_id: int) -> dict[str, Any]:
        """One row as a dict (times as timezone-aware datetimes)."""
        rows = self._read(f"SELECT {SELECT} FROM submissions WHERE id = ?", (row_id,))
        if not rows:
            raise KeyError(f"no ledger row {row_id}")
        return rows[0]

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Rows matching every `column=value` given (a list means any of), oldest first."""
        clauses, args = [], []
        for name, wanted in where.items():
            options = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
            if name == "id":
                stored = [int(value) for value in options]
            else:
                stored = [checked({name: value})[1][0] for value in options]
            if len(stored) == 1:
                clauses.append(f"{name} IS ?")
            else:
                clauses.append(f"{name} IN ({', '.join('?' * len(stored))})")
            args.extend(stored)
        clause = " AND ".join(clauses) or "1"
        return self._read(f"SELECT {SELECT} FROM submissions WHERE {clause} ORDER BY id", (*args,))

    def find(self, fingerprint: str, experiment: str) -> dict[str, Any] | None:
        """The latest reusable row with this request in this experiment (for re-run safety)."""
        rows = self._read(REUSABLE_ROW, (experiment, fingerprint))
        return rows[0] if rows else None

    def log_once(
        self, *, force: bool = False, enforce_budget: bool = False, **fields: Any
    ) -> tuple[int, dict[str, Any] | None]:
        """Insert a submission unless a reusable row has the same request: `(id, None)` for
        a new row, `(id, row)` for the earlier one. One write transaction does both, so
        however many processes submit the same request at once, one row is written.

        `fields` must hold `experiment` and `fingerprint`; `force=True` always inserts.
        """
        fields.setdefault("submitted_at", datetime.now(timezone.utc))
        names, values = checked(fields)
        if not fields.get("experiment"):
            raise ValueError("experiment: every row needs an experiment")
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO submissions ({', '.join(names)}, rev) VALUES ({marks}, {NEXT_REV})"
        with self._write() as db:
            if not force and fields.get("fingerprint"):
                cursor = db.execute(REUSABLE_ROW, (fields["experiment"], fields["fingerprint"]))
                found = cursor.fetchone()
                if found is not None:
                    row = decoded([d[0] for d in cursor.description], found)
                    return int(row["id"]), row
            if enforce_budget and fields.get("status", "QUEUED") in IN_FLIGHT:
                self._enforce(db, fields["experiment"], int(fields.get("estimated_credits") or 0))
            return int(db.execute(sql, values).lastrowid or 0), None

    # ---- owners: who moves an unfinished row on ------------------------------------------------
    def register(self, owner: Owner) -> None:
        """Announce a live studio; its rows are its own while it beats."""
        now = to_ms(datetime.now(timezone.utc))
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO owners VALUES (?, ?, ?, ?, ?)",
                (owner.id, owner.host, owner.pid, now, now),
            )

    def beat(self, owner: Owner) -> None:
        """The owner is still alive (re-registers it if its row was removed meanwhile)."""
        now = to_ms(datetime.now(timezone.utc))
        with self._write() as db:
            if db.execute("UPDATE owners SET beat_at = ? WHERE id = ?", (now, owner.id)).rowcount:
                return
            db.execute(
                "INSERT INTO owners VALUES (?, ?, ?, ?, ?)",
                (owner.id, owner.host, owner.pid, now, now),
            )

    def retire(self, owner: Owner) -> None:
        """The studio closed: its unfinished rows may be taken over at once."""
        with self._write() as db:
            db.execute("DELETE FROM owners WHERE id = ?", (owner.id,))

    def _live(self, db: sqlite3.Connection) -> set[str]:
        rows = db.execute("SELECT id, host, pid, beat_at FROM owners").fetchall()
        return live(rows, to_ms(datetime.now(timezone.utc)))

    def owner_alive(self, owner_id: str | None) -> bool:
        """Whether the studio that owns a row is still alive."""
        if owner_id is None:
            return False
        with self._lock:
            return owner_id in self._live(self._db)

    def claim(self, row_id: int, owner: Owner) -> dict[str, Any] | None:
        """Take a row for `owner`; the row as it stands once claimed, or None if refused.

        An unfinished row is taken only when unowned, already `owner`'s, or its owner is gone.
        A final row needs nobody, so it is always taken; one whose paid video was not saved
        (DOWNLOAD_FAILED) moves to DOWNLOADING as it is taken, so the next studio that asks
        sees it in hand and follows instead of fetching the same file at the same time.
        The check and the change are one write transaction, so two studios never both win.
        """
        with self._write() as db:
            cursor = db.execute(f"SELECT {SELECT} FROM submissions WHERE id = ?", (row_id,))
            found = cursor.fetchone()
            if found is None:
                raise KeyError(f"no ledger row {row_id}")
            row = decoded([d[0] for d in cursor.description], found)
            final = row["status"] not in IN_FLIGHT
            taken = not final and row["owner"] not in (None, owner.id)
            if taken and row["owner"] in self._live(db):
                return None
            status = "DOWNLOADING" if row["status"] == "DOWNLOAD_FAILED" else row["status"]
            db.execute(
                f"UPDATE submissions SET owner = ?, status = ?, rev = {NEXT_REV} WHERE id = ?",
                (owner.id, status, row_id),
            )
            row["owner"], row["status"] = owner.id, status
            return row

    def claimable(self, owner: Owner) -> list[dict[str, Any]]:
        """Rows that still need a studio whose owner is gone, and paid videos not yet saved
        (whoever holds them): what `resume()` takes over. Unfinished rows of live studios are
        never listed."""
        with self._lock:
            alive = self._live(self._db) - {owner.id}
        rows = self.rows(status=list(RESUMABLE))
        return [r for r in rows if r["owner"] not in alive or r["status"] == "DOWNLOAD_FAILED"]

    def move(self, row_id: int, owner: Owner, expect: str, **fields: Any) -> bool:
        """Change a row only while `owner` holds it and its status is `expect`; False if not.

        A studio moves a queued row to SENDING this way, so a row another studio has taken
        is never sent twice.
        """
        names, values = checked(fields)
        assignments = "".join(f"{n} = ?, " for n in names)
        sql = (
            f"UPDATE submissions SET {assignments}rev = {NEXT_REV} "
            "WHERE id = ? AND owner = ? AND status = ?"
        )
        with self._write() as db:
            return db.execute(sql, (*values, row_id, owner.id, expect)).rowcount == 1

    def unfinished(self) -> list[dict[str, Any]]:
        """Rows queued, being sent or still running: what a new kernel must resume."""
        return self.rows(status=list(IN_FLIGHT))

    # ---- credits and budgets -------------------------------------------------------------------
    def spent(self, experiment: str | None = None, *, base_url: str | None = None) -> int:
        """Credits actually charged (completed tasks), in one experiment or all."""
        where, args = scope(experiment, base_url)
        sql = f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}"
        return int(self._scalar(sql, ("COMPLETED", *args)))

    def committed(self, experiment: str | None = None, *, base_url: str | None = None) -> int:
        """Credits spent plus the estimates of everything still queued or running.

        A completed row without a charge on record counts its estimate, so a budget is never
        judged on less than it may have cost.
        """
        where, args = scope(experiment, base_url)
        sql = f"SELECT {COMMITTED} FROM submissions WHERE 1{where}"
        return int(self._scalar(sql, args))

    def set_budget(self, experiment: str, credits: int | None) -> None:
        """Cap what an experiment may spend (None removes the cap)."""
        if credits is not None and (
            isinstance(credits, bool) or not isinstance(credits, int) or credits < 0
        ):
            raise ValueError("credits: a budget is a whole number of credits, at least 0")
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
        """The experiment's budget, or None if it has none."""
        rows = self._read("SELECT credits FROM budgets WHERE experiment = ?", (experiment,))
        return int(rows[0]["credits"]) if rows else None

    def remaining(self, experiment: str) -> int | None:
        """Budget left, counting what is still queued or running; None with no budget."""
        with self._rlock:  # one snapshot for both reads
            self._reader.execute("BEGIN")
            try:
                budget = self.budget(experiment)
                return None if budget is None else budget - self.committed(experiment)
            finally:
                self._reader.execute("COMMIT")

    def check_budget(self, experiment: str, cost: int) -> None:
        """Raise BudgetExceededError if `cost` would overspend the experiment's budget."""
        remaining = self.remaining(experiment)
        if remaining is not None and cost > remaining:
            raise BudgetExceededError(experiment, remaining, cost)

    def _enforce(self, db: sqlite3.Connection, experiment: str, cost: int) -> None:
        row = db.execute("SELECT credits FROM budgets WHERE experiment = ?", (experiment,))
        budget = row.fetchone()
        if budget is not None:
            used = db.execute(
                f"SELECT {COMMITTED} FROM submissions WHERE experiment = ?", (experiment,)
            ).fetchone()[0]
            if cost > budget[0] - used:
                raise BudgetExceededError(experiment, budget[0] - used, cost)

    # ---- reconciling with the account ----------------------------------------------------------
    def set_baseline(self, credits: Any, *, base_url: str | None = None) -> None:
        """Remember the account's balance now, to compare later spending against.

        `credits` is a Credits object (`.credits`, `.available`) or a client (its `.credits()`
        is called, and its `base_url` scopes the ledger's rows to that server).
        """
        now, base_url = balance(credits, base_url)
        where, args = scope(None, base_url)
        with self._write() as db:
            spent = db.execute(
                f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}",
                ("COMPLETED", *args),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO baselines (at, credits, available, ledger_spent, base_url) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    to_ms(datetime.now(timezone.utc)),
                    int(now.credits),
                    int(now.available),
                    spent,
                    base_url,
                ),
            )

    def reconcile(self, credits_now: Any, *, base_url: str | None = None) -> pd.DataFrame:
        """Compare the ledger's spending since the last baseline with the account's.

        Rows: ``spent`` (ledger: credits charged since the baseline; account: how far its
        `credits` fell) and ``reserved`` (ledger: estimates of tasks sent and not finished;
        account: `credits - available`). Columns: ledger, account, difference (account -
        ledger) and ok. With no baseline yet, one is recorded now and everything reads zero.
        A positive difference is spending this ledger does not know about (another notebook,
        the web app). `credits_now` is a Credits object or a client, as for `set_baseline`.
        """
        balance_now, base_url = balance(credits_now, base_url)
        latest = "SELECT * FROM baselines WHERE base_url IS ? ORDER BY id DESC LIMIT 1"
        rows = self._read(latest, (base_url,))
        if not rows:
            self.set_baseline(balance_now, base_url=base_url)
            rows = self._read(latest, (base_url,))
        base = rows[0]
        where, args = scope(None, base_url)
        in_flight = self._scalar(
            "SELECT COALESCE(SUM(estimated_credits), 0) FROM submissions "
            f"WHERE status IN ({', '.join('?' * len(SENT))}){where}",
            (*SENT, *args),
        )
        return reconcile_frame(
            base,
            balance_now,
            self.spent(base_url=base_url),
            int(in_flight),
            from_ms(base["at"]),
            base_url,
        )

    # ---- votes (A/B comparisons) ---------------------------------------------------------------
    def vote(self, experiment: str, winner_row: int, loser_rows: list[int]) -> None:
        """Record one ballot: `winner_row` was preferred over each of `loser_rows`."""
        losers = list(loser_rows)
        if not losers or winner_row in losers:
            raise ValueError("loser_rows: at least one row, and not the winner")
        now = to_ms(datetime.now(timezone.utc))
        with self._write() as db:
            ids = {winner_row, *losers}
            marks = ", ".join("?" * len(ids))
            found = db.execute(f"SELECT id FROM submissions WHERE id IN ({marks})", (*ids,))
            missing = ids - {r[0] for r in found}
            if missing:
                raise KeyError(f"no ledger row {min(missing)}")
            ballot = db.execute("SELECT COALESCE(MAX(ballot), 0) + 1 FROM votes").fetchone()[0]
            db.executemany(
                "INSERT INTO votes (experiment, ballot, winner, loser, at) VALUES (?, ?, ?, ?, ?)",
                [(experiment, ballot, winner_row, loser, now) for loser in losers],
            )

    def retract_vote(self, ballot: int) -> None:
        """Take back one ballot (every pairwise preference it recorded), e.g. a vote undone."""
        with self._write() as db:
            if not db.execute("DELETE FROM votes WHERE ballot = ?", (ballot,)).rowcount:
                raise KeyError(f"no ballot {ballot}")

    def votes(self, experiment: str | None = None) -> pd.DataFrame:
        """Every pairwise preference: one row per (ballot, winner, loser), oldest first."""
        where, args = scope(experiment, None)
        rows = self._read(
            f"SELECT experiment, ballot, winner, loser, at FROM votes WHERE 1{where} ORDER BY id",
            args,
        )
        return votes_frame(rows)

    # ---- pandas views --------------------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """One row per submission, indexed by id, with the columns people read first: experiment,
        label, status, mode, model, prompt, estimated_credits, credits_used, render_seconds,
        submitted_at, local_path (every column, same dtypes: `df_full`)."""
        return self._view(full=False)

    @property
    def df_full(self) -> pd.DataFrame:
        """One row per submission, indexed by id, every column with proper dtypes (the request
        JSON, task id, times, fingerprint, owner...) and `render_seconds`."""
        return self._view(full=True)

    def _view(self, full: bool) -> pd.DataFrame:
        """The first read in a process starts from the columnar snapshot kept in the file (when
        there is one) and reads only rows written since; later reads fetch only rows changed
        since (by any kernel), so a live view over a long ledger stays cheap.
        """
        from . import _cache, _frame

        with self._rlock:
            cache = self._cache = _cache.refresh(self._reader, self._cache)
            if cache.unsaved >= _cache.SNAPSHOT_ROWS:
                with self._lock:
                    if _cache.save_snapshot(self._db, cache, BUSY_MS):
                        cache.unsaved = 0
            return _frame.view(cache.frame, full=full)

    def summary(self, by: str | list[str] = "experiment") -> pd.DataFrame:
        """Per group: count, completed, failed, in_flight, estimated and used credits (sums),
        mean_render_s (seconds from send to completion)."""
        from . import _frame

        return _frame.summary(self.df_full, by)

    def plot(self, ax: Any = None) -> Figure:
        """Cumulative credits used over time, one line per experiment: a matplotlib Figure that
        shows itself as a PNG when it is a cell's value (or drawn into `ax`)."""
        from . import _frame

        return _frame.plot(self.df_full, ax)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write `.df_full` as CSV (times in ISO-8601 with their UTC offset); returns the path."""
        self.df_full.to_csv(path)
        return Path(path)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write `.df_full` as Parquet (dtypes and categories kept); returns the path."""
        self.df_full.to_parquet(path)
        return Path(path)

    # ---- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._rlock, self._lock:
            self._reader.close()
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _cause(exc: BaseException, path: Path) -> str:
    """What went wrong with the file, in words that say what to do."""
    text = str(exc)
    if path.exists() and (
        not os.access(path, os.W_OK) or os.statvfs(path).f_flag & os.ST_RDONLY
    ):
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


__all__ = ["Ledger"]
