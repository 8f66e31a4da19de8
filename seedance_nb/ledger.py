"""The ledger: a durable record of every submission and its credits, with pandas views.

One SQLite file in WAL mode (default ``seedance-ledger.sqlite`` beside the notebook). A row is
written, and committed, before its request leaves, and updated as the task moves, so a kernel
that dies loses nothing. Several kernels may share the file: writes take the lock with
``BEGIN IMMEDIATE`` and wait for each other. pandas and matplotlib load only for the views.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .api import BudgetExceededError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

COLUMNS: dict[str, str] = {
    "experiment": "TEXT NOT NULL",
    "label": "TEXT",
    "task_id": "TEXT",
    "model": "TEXT",
    "mode": "TEXT",
    "prompt": "TEXT",
    "params": "TEXT",  # the wire request (model, inputs, callBackUrl) as JSON; never a key
    "estimated_credits": "INTEGER NOT NULL DEFAULT 0",
    "credits_used": "INTEGER",
    "status": "TEXT NOT NULL DEFAULT 'QUEUED'",
    "error": "TEXT",
    "submitted_at": "INTEGER",  # ms since the epoch, UTC
    "sent_at": "INTEGER",
    "completed_at": "INTEGER",
    "video_url": "TEXT",
    "local_path": "TEXT",
    "fingerprint": "TEXT",
    "base_url": "TEXT",
    "rev": "INTEGER NOT NULL DEFAULT 0",  # bumped on every write: lets .df reload only changes
}
TIMES = ("submitted_at", "sent_at", "completed_at")
CATEGORIES = ("experiment", "label", "model", "mode", "status")
IN_FLIGHT = ("QUEUED", "SENDING", "PENDING", "PROCESSING")
NOT_REUSABLE = ("FAILED", "CANCELLED", "SEND_FAILED")
NEXT_REV = "(SELECT COALESCE(MAX(rev), 0) + 1 FROM submissions)"
FORBIDDEN = ("key", "authorization", "secret", "token", "password")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())}
);
CREATE INDEX IF NOT EXISTS by_fingerprint ON submissions (experiment, fingerprint);
CREATE INDEX IF NOT EXISTS by_task ON submissions (task_id);
CREATE INDEX IF NOT EXISTS by_status ON submissions (status);
CREATE INDEX IF NOT EXISTS by_rev ON submissions (rev);
CREATE TABLE IF NOT EXISTS budgets (experiment TEXT PRIMARY KEY, credits INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS baselines (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, credits INTEGER NOT NULL,
    available INTEGER NOT NULL, ledger_spent INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, ballot INTEGER NOT NULL,
    winner INTEGER NOT NULL, loser INTEGER NOT NULL, at INTEGER NOT NULL
);
"""


class Ledger:
    """Every submission as a row: what was asked, what it was estimated to cost, what it cost."""

    def __init__(
        self, path: str | os.PathLike[str] = "seedance-ledger.sqlite", *, durable: bool = True
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._frame: pd.DataFrame | None = None  # cache of .df, refreshed by `rev`
        self._rev = 0
        self._db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        # FULL syncs the WAL on every commit: a row whose log() returned survives a crash
        self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        with self._write() as db:
            for statement in _statements(SCHEMA):
                db.execute(statement)

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that waits for other kernels instead of failing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # ---- writing -------------------------------------------------------------------------------
    def log(self, **fields: Any) -> int:
        """Write one submission and return its id once it is committed to disk."""
        fields.setdefault("submitted_at", datetime.now(timezone.utc))
        names, values = _checked(fields)
        if "experiment" not in names:
            raise ValueError("experiment: every row needs an experiment")
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO submissions ({', '.join(names)}, rev) VALUES ({marks}, {NEXT_REV})"
        with self._write() as db:
            return int(db.execute(sql, values).lastrowid or 0)

    def update(self, row_id: int, **fields: Any) -> None:
        """Change fields of one row (committed before returning)."""
        if not fields:
            return
        names, values = _checked(fields)
        assignments = ", ".join(f"{n} = ?" for n in names)
        sql = f"UPDATE submissions SET {assignments}, rev = {NEXT_REV} WHERE id = ?"
        with self._write() as db:
            if db.execute(sql, (*values, row_id)).rowcount != 1:
                raise KeyError(f"no ledger row {row_id}")

    # ---- reading rows --------------------------------------------------------------------------
    def get(self, row_id: int) -> dict[str, Any]:
        """One row as a dict (times as timezone-aware datetimes)."""
        rows = self._read("SELECT * FROM submissions WHERE id = ?", (row_id,))
        if not rows:
            raise KeyError(f"no ledger row {row_id}")
        return _decoded(rows[0])

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Rows matching every `column=value` given, oldest first."""
        names, values = _checked(where) if where else ([], [])
        clause = " AND ".join(f"{n} IS ?" for n in names) or "1"
        return [
            _decoded(r)
            for r in self._read(
                f"SELECT * FROM submissions WHERE {clause} ORDER BY id", tuple(values)
            )
        ]

    def find(self, fingerprint: str, experiment: str) -> dict[str, Any] | None:
        """The latest reusable row with this request in this experiment (for re-run safety)."""
        rows = self._read(
            "SELECT * FROM submissions WHERE experiment = ? AND fingerprint = ? AND status NOT IN "
            f"({', '.join('?' * len(NOT_REUSABLE))}) ORDER BY id DESC LIMIT 1",
            (experiment, fingerprint, *NOT_REUSABLE),
        )
        return _decoded(rows[0]) if rows else None

    def unfinished(self) -> list[dict[str, Any]]:
        """Rows queued, being sent or still running: what a new kernel must resume."""
        return [
            _decoded(r)
            for r in self._read(
                f"SELECT * FROM submissions WHERE status IN ({', '.join('?' * len(IN_FLIGHT))}) "
                "ORDER BY id",
                IN_FLIGHT,
            )
        ]

    # ---- credits and budgets -------------------------------------------------------------------
    def spent(self, experiment: str | None = None) -> int:
        """Credits actually charged (completed tasks), in one experiment or all."""
        sql = "SELECT COALESCE(SUM(credits_used), 0) AS n FROM submissions WHERE status = ?"
        args: tuple[Any, ...] = ("COMPLETED",)
        if experiment is not None:
            sql, args = sql + " AND experiment = ?", (*args, experiment)
        return int(self._read(sql, args)[0]["n"])

    def committed(self, experiment: str | None = None) -> int:
        """Credits spent plus the estimates of everything still queued or running."""
        sql = (
            "SELECT COALESCE(SUM(CASE WHEN status = 'COMPLETED' THEN credits_used "
            f"WHEN status IN ({', '.join('?' * len(IN_FLIGHT))}) THEN estimated_credits "
            "ELSE 0 END), 0) AS n FROM submissions"
        )
        args: tuple[Any, ...] = IN_FLIGHT
        if experiment is not None:
            sql, args = sql + " WHERE experiment = ?", (*args, experiment)
        return int(self._read(sql, args)[0]["n"])

    def set_budget(self, experiment: str, credits: int | None) -> None:
        """Cap what an experiment may spend (None removes the cap)."""
        with self._write() as db:
            if credits is None:
                db.execute("DELETE FROM budgets WHERE experiment = ?", (experiment,))
                return
            if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
                raise ValueError("credits: a budget is a whole number of credits, at least 0")
            db.execute(
                "INSERT INTO budgets VALUES (?, ?) ON CONFLICT(experiment) "
                "DO UPDATE SET credits = excluded.credits",
                (experiment, credits),
            )

    def budget(self, experiment: str) -> int | None:
        rows = self._read("SELECT credits FROM budgets WHERE experiment = ?", (experiment,))
        return int(rows[0]["credits"]) if rows else None

    def remaining(self, experiment: str) -> int | None:
        """Budget left, counting what is still queued or running; None with no budget."""
        budget = self.budget(experiment)
        return None if budget is None else budget - self.committed(experiment)

    def check_budget(self, experiment: str, cost: int) -> None:
        """Raise BudgetExceededError if `cost` would overspend the experiment's budget."""
        remaining = self.remaining(experiment)
        if remaining is not None and cost > remaining:
            raise BudgetExceededError(experiment, remaining, cost)

    # ---- reconciling with the account ----------------------------------------------------------
    def set_baseline(self, credits: Any) -> None:
        """Remember the account's balance now, to compare later spending against."""
        balance = _balance(credits)
        with self._write() as db:
            db.execute(
                "INSERT INTO baselines (at, credits, available, ledger_spent) VALUES (?, ?, ?, ?)",
                (_ms(datetime.now(timezone.utc)), balance.credits, balance.available, self.spent()),
            )

    def reconcile(self, credits: Any) -> pd.DataFrame:
        """Compare the ledger's spending since the last baseline with the account's.

        `credits` is a Credits object or a client (its `.credits()` is called). With no
        baseline yet, this records one and reports zeros.
        """
        import pandas as pd

        balance = _balance(credits)
        rows = self._read("SELECT * FROM baselines ORDER BY id DESC LIMIT 1")
        if not rows:
            self.set_baseline(balance)
            rows = self._read("SELECT * FROM baselines ORDER BY id DESC LIMIT 1")
        base = rows[0]
        ledger_spent = self.spent() - base["ledger_spent"]
        account_spent = base["credits"] - balance.credits
        in_flight = self.committed() - self.spent()
        reserved = balance.credits - balance.available
        frame = pd.DataFrame(
            {
                "ledger": [ledger_spent, in_flight],
                "account": [account_spent, reserved],
            },
            index=pd.Index(["spent since baseline", "reserved (running)"], name="credits"),
        )
        frame["difference"] = frame["account"] - frame["ledger"]
        frame["ok"] = frame["difference"] == 0
        frame.attrs["baseline_at"] = _dt(base["at"])
        return frame

    # ---- votes (A/B comparisons) ---------------------------------------------------------------
    def vote(self, experiment: str, winner_row: int, loser_rows: list[int]) -> None:
        """Record one ballot: `winner_row` was preferred over each of `loser_rows`."""
        now = _ms(datetime.now(timezone.utc))
        with self._write() as db:
            ballot = db.execute("SELECT COALESCE(MAX(ballot), 0) + 1 FROM votes").fetchone()[0]
            db.executemany(
                "INSERT INTO votes (experiment, ballot, winner, loser, at) VALUES (?, ?, ?, ?, ?)",
                [(experiment, ballot, winner_row, loser, now) for loser in loser_rows],
            )

    def votes(self, experiment: str | None = None) -> pd.DataFrame:
        """Every pairwise preference: one row per (ballot, winner, loser)."""
        import pandas as pd

        sql, args = "SELECT experiment, ballot, winner, loser, at FROM votes", ()
        if experiment is not None:
            sql, args = sql + " WHERE experiment = ?", (experiment,)
        columns = ["experiment", "ballot", "winner", "loser", "at"]
        frame = pd.DataFrame(self._read(sql + " ORDER BY id", args), columns=columns)
        frame["at"] = pd.to_datetime(frame["at"], unit="ms", utc=True)
        return frame

    # ---- pandas views --------------------------------------------------------------------------
    @property
    def df(self) -> pd.DataFrame:
        """One row per submission, indexed by id, with proper dtypes and `render_seconds`.

        The first read loads every row; later reads fetch only rows written since (by any
        kernel), so a live view over a long ledger stays cheap.
        """
        import pandas as pd

        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM submissions WHERE rev > ? ORDER BY id", (self._rev,)
            )
            names = [d[0] for d in cursor.description]
            changed = _frame(names, cursor.fetchall())
            if self._frame is None or not len(changed):
                self._frame = changed if self._frame is None else self._frame
            else:
                old = self._frame.drop(index=changed.index, errors="ignore")
                for name in CATEGORIES:  # align categories so concat keeps the dtype
                    both = old[name].cat.categories.union(changed[name].cat.categories)
                    old[name] = old[name].cat.set_categories(both)
                    changed[name] = changed[name].cat.set_categories(both)
                self._frame = pd.concat([old, changed]).sort_index()
            if len(self._frame):
                self._rev = max(self._rev, int(self._frame["rev"].max()))
            return self._frame.drop(columns="rev")

    def summary(self, by: str = "experiment") -> pd.DataFrame:
        """Per group: submissions, completed, failed, credits estimated and used, mean render."""
        frame = self.df
        grouped = frame.groupby(by, observed=True)
        out = grouped.agg(
            submissions=("status", "size"),
            completed=("status", lambda s: int((s == "COMPLETED").sum())),
            failed=("status", lambda s: int(s.isin(NOT_REUSABLE).sum())),
            estimated=("estimated_credits", "sum"),
            used=("credits_used", "sum"),
            mean_render_s=("render_seconds", "mean"),
        )
        return out

    def plot(self, ax: Any = None) -> Figure:
        """Cumulative credits used over time, one line per experiment."""
        from matplotlib.figure import Figure

        frame = self.df
        done = frame[frame["status"] == "COMPLETED"].sort_values("completed_at")
        if ax is None:
            fig = Figure(figsize=(7, 3.5))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        for name, group in done.groupby("experiment", observed=True):
            ax.step(
                group["completed_at"], group["credits_used"].cumsum(), where="post", label=str(name)
            )
        ax.set_xlabel("completed at (UTC)")
        ax.set_ylabel("credits used (cumulative)")
        ax.set_title("Credits by experiment")
        if len(done):
            ax.legend(loc="upper left")
        fig.autofmt_xdate()
        return fig

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        self.df.to_csv(path)
        return Path(path)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        self.df.to_parquet(path)
        return Path(path)

    # ---- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _frame(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows as a typed DataFrame, built column by column (much faster than record by record)."""
    import numpy as np
    import pandas as pd

    columns = (
        dict(zip(names, zip(*rows, strict=True), strict=True))
        if rows
        else {name: () for name in names}
    )
    data: dict[str, Any] = {}
    for name, values in columns.items():
        if name in TIMES:
            data[name] = pd.to_datetime(np.array(values, dtype="float64"), unit="ms", utc=True)
        elif name in CATEGORIES:
            data[name] = pd.Categorical(values)
        elif name == "credits_used":
            data[name] = pd.array(values, dtype="Int64")
        elif name in ("id", "estimated_credits", "rev"):
            data[name] = np.array(values, dtype="int64")
        else:
            data[name] = pd.array(values, dtype="str")
    frame = pd.DataFrame(data).set_index("id")
    frame["render_seconds"] = (frame["completed_at"] - frame["sent_at"]).dt.total_seconds()
    return frame


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _checked(fields: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Column names and storable values; refuse unknown columns and anything like a secret."""
    names, values = [], []
    for name, value in fields.items():
        if any(word in name.lower() for word in FORBIDDEN):
            raise ValueError(f"{name}: the ledger never stores credentials")
        if name not in COLUMNS or name == "rev":
            raise ValueError(f"{name}: not a ledger column (columns: {', '.join(COLUMNS)})")
        names.append(name)
        values.append(_ms(value) if name in TIMES else value)
    return names, values


def _ms(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        return int(value.timestamp() * 1000)
    if isinstance(value, float):
        return int(value * 1000)  # epoch seconds
    raise ValueError(f"not a time: {value!r}")


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name in TIMES:
        row[name] = _dt(row[name])
    return row


def _balance(credits: Any) -> Any:
    """A Credits-like object from Credits itself or from a client."""
    if hasattr(credits, "credits") and callable(credits.credits):
        credits = credits.credits()
    return credits


__all__ = ["Ledger"]
