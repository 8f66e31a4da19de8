"""`Ledger`: every submission, its credits, budgets, votes and the account's slots, with pandas
views; stored in one SQLite file (the default) or a PostgreSQL database shared by a team."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..api import LedgerError
from ..api._status import JobStatus
from ._account import balance, reconcile_frame, votes_frame
from ._budgets import check_credits, check_period
from ._owners import Fence, Owner
from ._schema import IN_FLIGHT, RESUMABLE, checked, from_ms, to_ms
from ._slots import check_limit, current_user

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ._cache import Cache
    from ._store import Store

POSTGRES = ("postgresql://", "postgres://")


def is_postgres(target: object) -> bool:
    """Whether a ledger target names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.lower().startswith(POSTGRES)


class Ledger:
    """Every submission as a row: what was asked, what it was estimated to cost, what it cost.

    ``Ledger("seedance-ledger.sqlite")`` keeps one SQLite file (WAL; writes take the file's lock
    with ``BEGIN IMMEDIATE``); ``Ledger("postgresql://user@host/db")`` shares a PostgreSQL
    database with a team (``pip install "seedance-nb[team]"``). Both behave the same: safe to
    share between threads, processes and (PostgreSQL) machines, with the same views.
    """

    def __init__(
        self, path: str | os.PathLike[str] = "seedance-ledger.sqlite", *, durable: bool = True
    ) -> None:
        self._rlock = threading.RLock()  # guards the frame cache
        self._cache: Cache | None = None
        self._store: Store
        if is_postgres(path):
            from ._postgres import PostgresStore, redact

            self.path: Any = redact(str(path))
            self._store = PostgresStore(str(path))
            return
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise ValueError("path: a ledger is a file (use a temporary path for a throwaway one)")
        from ._sql import SchemaError
        from ._sqlite import SQLiteStore, cause

        self.path = Path(path)
        try:
            self._store = SQLiteStore(self.path, durable=durable)
        except (OSError, sqlite3.Error, SchemaError) as exc:
            raise LedgerError(str(self.path), cause(exc, self.path)) from None

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return "sqlite" if isinstance(self.path, Path) else "postgresql"

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    def __len__(self) -> int:
        return self._store.count()

    # ---- writing -------------------------------------------------------------------------------
    def log(self, *, enforce_budget: bool = False, **fields: Any) -> int:
        """Write one submission and return its id once it is committed.

        With `enforce_budget`, the experiment's budget is checked in the same transaction as
        the insert, so two kernels submitting at once cannot overspend it together.
        """
        values = _row(fields)
        row_id, _ = self._store.insert(values, budget=_budget(fields, enforce_budget))
        return row_id

    def _log_many(self, rows: list[dict[str, Any]]) -> None:
        """Insert many rows in one transaction (bulk loads and benchmarks)."""
        self._store.insert_many([checked(fields) for fields in rows])

    def update(self, row_id: int, **fields: Any) -> None:
        """Change fields of one row (committed before returning); KeyError if there is none."""
        if not self._store.update(row_id, checked(fields)):
            raise KeyError(f"no ledger row {row_id}")

    # ---- reading rows --------------------------------------------------------------------------
    def get(self, row_id: int) -> dict[str, Any]:
        """One row as a dict (times as timezone-aware datetimes)."""
        row = self._store.get(row_id)
        if row is None:
            raise KeyError(f"no ledger row {row_id}")
        return row

    def rows(self, **where: Any) -> list[dict[str, Any]]:
        """Rows matching every `column=value` given (a list means any of), oldest first."""
        stored: dict[str, list[Any]] = {}
        for name, wanted in where.items():
            options = list(wanted) if isinstance(wanted, list | tuple | set) else [wanted]
            if name == "id":
                stored[name] = [int(value) for value in options]
            else:
                stored[name] = [checked({name: value})[1][0] for value in options]
        return self._store.rows(stored)

    def latest(self, n: int, experiment: str | None = None) -> list[dict[str, Any]]:
        """The newest `n` rows (of one experiment), oldest first. Reads `n` rows by the primary
        key however long the ledger (what `seedance-nb status -n N` shows)."""
        return self._store.latest(max(0, int(n)), experiment)

    def count(self, experiment: str | None = None) -> int:
        """How many submissions there are, in one experiment or all."""
        return self._store.count(experiment)

    def find(self, fingerprint: str, experiment: str) -> dict[str, Any] | None:
        """The latest reusable row with this request in this experiment (for re-run safety)."""
        return self._store.find(experiment, fingerprint)

    def log_once(
        self, *, force: bool = False, enforce_budget: bool = False, **fields: Any
    ) -> tuple[int, dict[str, Any] | None]:
        """Insert a submission unless a reusable row has the same request: `(id, None)` for
        a new row, `(id, row)` for the earlier one. One write transaction does both, so
        however many processes submit the same request at once, one row is written.

        `fields` must hold `experiment` and `fingerprint`; `force=True` always inserts.
        """
        values = _row(fields)
        dedupe = None
        if not force and fields.get("fingerprint"):
            dedupe = (fields["experiment"], fields["fingerprint"])
        return self._store.insert(values, dedupe=dedupe, budget=_budget(fields, enforce_budget))

    # ---- owners: who moves an unfinished row on ------------------------------------------------
    def register(self, owner: Owner) -> None:
        """Announce a live studio; its rows are its own while it beats."""
        self._store.register(owner)

    def beat(self, owner: Owner) -> None:
        """The owner is still alive (re-registers it if its row was removed meanwhile)."""
        self._store.beat(owner)

    def retire(self, owner: Owner) -> None:
        """The studio closed: its unfinished rows may be taken over at once, its requests for
        slots are withdrawn, and its unsent slots are free."""
        self._store.retire(owner)

    def owner_alive(self, owner_id: str | None) -> bool:
        """Whether the studio that owns a row is still alive."""
        return owner_id is not None and owner_id in self._store.live_owners()

    def claim(self, row_id: int, owner: Owner, *, fetch: bool = False) -> dict[str, Any] | None:
        """Take a row for `owner`; the row as it stands once claimed (with its new owner and
        lease), or None if refused.

        An unfinished row is taken only when unowned, already `owner`'s, or its owner is gone.
        A final row needs nobody, so it is always taken; one whose paid video was not saved
        (DOWNLOAD_FAILED) moves to DOWNLOADING as it is taken, so the next studio that asks
        sees it in hand and follows instead of fetching the same file at the same time. With
        `fetch=True` (the caller is about to download the video) a COMPLETED row, or a
        DOWNLOADING one whose owner is gone, becomes DOWNLOADING too; EXPIRED never does.
        When the row changes hands its `lease` grows by one, so the owner that lost it can no
        longer write it (`write`, `move`). The check and the change are one write transaction,
        so two studios never both win.
        """
        return self._store.claim(row_id, owner.id, fetch)

    def claimable(self, owner: Owner) -> list[dict[str, Any]]:
        """Rows that still need a studio whose owner is gone, and paid videos not yet saved
        (whoever holds them): what `resume()` takes over. Unfinished rows of live studios are
        never listed."""
        alive = self._store.live_owners() - {owner.id}
        rows = self.rows(status=list(RESUMABLE))
        return [
            r for r in rows if r["owner"] not in alive or r["status"] == JobStatus.DOWNLOAD_FAILED
        ]

    def write(self, row_id: int, fence: Fence, **fields: Any) -> bool:
        """Change fields of a row only while its owner and lease are still `fence`'s; False
        (and nothing written) when the row has changed hands since."""
        return self._store.fenced(row_id, fence.owner, int(fence.lease), None, checked(fields))

    def move(self, row_id: int, fence: Fence | Owner, expect: str, **fields: Any) -> bool:
        """As `write`, and only while the row's status is `expect`; False if not.

        A studio moves a queued row to SENDING this way, so a row another studio has taken
        is never sent twice. (An `Owner` in place of a fence checks the owner alone.)
        """
        expected = JobStatus(expect).value
        if isinstance(fence, Owner):
            return self._store.fenced(row_id, fence.id, None, expected, checked(fields))
        return self._store.fenced(row_id, fence.owner, int(fence.lease), expected, checked(fields))

    def clock(self) -> datetime:
        """The database's time now (UTC): the one clock every studio on this ledger shares."""
        now = from_ms(self._store.clock_ms())
        assert now is not None
        return now

    def recent_completions(self, limit: int = 2000) -> list[dict[str, Any]]:
        """The newest `limit` COMPLETED rows, oldest first: a bounded, indexed read of
        history (what the scheduler learns from at start), however long the ledger."""
        return self._store.recent(JobStatus.COMPLETED.value, max(0, int(limit)))

    def unfinished(self) -> list[dict[str, Any]]:
        """Rows queued, being sent or still running: what a new kernel must resume."""
        return self.rows(status=list(IN_FLIGHT))

    # ---- the account's slots, shared by every studio on this ledger ----------------------------
    def acquire_slot(self, account: str, owner: Owner, user: str, job_row: int, limit: int) -> bool:
        """Whether `job_row` may be sent now: True once it holds one of the account's `limit`
        slots. Otherwise its request waits in line (keeping its place) and False is returned:
        call again on a wake-up (`listen`) and every few seconds. `limit` only seeds the
        account's limit when none is stored (`set_account_limit` changes it); the stored one
        is what counts.

        `account` identifies the account without revealing it (`account_id(key, base_url)`).
        However many studios, processes and machines share this ledger, no more than `limit`
        leases count at once. A lease counts while its task may be on the server (the row is
        SENDING, PENDING or PROCESSING), or while its owner lives and the row is not sent yet;
        so a dead owner's unsent leases expire with it. Free slots go round-robin between
        users, first come first served within one user (`_slots.fair_order`).
        """
        check_limit(limit)
        return self._store.acquire_slot(account, owner, user, int(job_row), limit)

    def account_limit(self, account: str) -> int | None:
        """The account's limit of tasks at once as the ledger holds it (None: not set yet)."""
        return self._store.account_limit(account)

    def set_account_limit(self, account: str, limit: int) -> None:
        """Set the account's limit of tasks at once, for every studio on this ledger (a
        studio's own `concurrency` only seeds it when none is set)."""
        self._store.set_account_limit(account, check_limit(limit))

    def release_slot(self, account: str, job_row: int) -> bool:
        """Give back `job_row`'s slot once the server is done with its task (or withdraw its
        request); the freed slot goes to the next in line, and listeners are woken. False if
        it held none."""
        return self._store.release_slot(account, int(job_row))

    def slots(self, account: str) -> dict[str, list[dict[str, Any]]]:
        """The account's slots now: `leases` that count and `waits` in the order they will be
        served, each a dict with job_row, owner and user."""
        return self._store.slots(account)

    def announce(self, account: str) -> None:
        """Wake every studio listening on this ledger for this account (a task finished)."""
        self._store.announce(account)

    def listen(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call `callback(account)` whenever a slot of `account` may have been freed or
        granted, from a thread of the ledger's; returns `stop()`.

        PostgreSQL: LISTEN/NOTIFY, so a studio on another machine wakes within milliseconds
        (after a lost connection, `callback("")` says anything may have changed). SQLite:
        only this process's own releases; other processes must also retry on a timer.
        """
        return self._store.listen(callback)

    # ---- credits and budgets -------------------------------------------------------------------
    def spent(self, experiment: str | None = None, *, base_url: str | None = None) -> int:
        """Credits actually charged (completed tasks), in one experiment or all."""
        return self._store.spent(experiment, base_url)

    def committed(self, experiment: str | None = None, *, base_url: str | None = None) -> int:
        """Credits spent plus the estimates of everything still queued or running.

        A completed row without a charge on record counts its estimate, so a budget is never
        judged on less than it may have cost.
        """
        return self._store.committed(experiment, base_url)

    def set_budget(
        self,
        experiment: str | None = None,
        credits: int | None = None,
        *,
        user: str | None = None,
        period: str | None = None,
    ) -> None:
        """Cap what an experiment (``set_budget("beach", 2000)``) or a user
        (``set_budget(user="alice", credits=5000, period="month")``) may spend; None removes
        the cap. `period` ('month', 'week', 'day' or None for ever) counts only rows submitted
        since the calendar period began (UTC, by the database's clock). The budget records who
        set it (`current_user()`) and when; every change is kept (`budget_history()`)."""
        kind, name = _which(experiment, user)
        self._store.set_budget(
            kind, name, check_credits(credits), check_period(period), current_user()
        )

    def budget(self, experiment: str | None = None, *, user: str | None = None) -> int | None:
        """The experiment's (or user's) budget in credits, or None if it has none."""
        rule = self._store.budget(*_which(experiment, user))
        return None if rule is None else int(rule["credits"])

    def remaining(self, experiment: str | None = None, *, user: str | None = None) -> int | None:
        """Budget left (within its period), counting what is still queued or running; None
        with no budget."""
        return self._store.remaining(*_which(experiment, user))

    def budget_history(self) -> pd.DataFrame:
        """Every budget set or removed, oldest first: kind, name, credits (NA: removed),
        period, set_by, at (UTC)."""
        import pandas as pd

        columns = ["kind", "name", "credits", "period", "set_by", "at"]
        frame = pd.DataFrame(self._store.budget_changes(), columns=columns)
        frame["credits"] = frame["credits"].astype("Int64")
        frame["at"] = pd.to_datetime(frame["at"], unit="ms", utc=True)
        return frame

    def check_budget(self, experiment: str, cost: int, *, user: str | None = None) -> None:
        """Raise BudgetExceededError if `cost` would overspend the experiment's (or the
        user's) budget."""
        self._store.check_budget(experiment, cost, user)

    def account_moves(
        self, account: str, row_id: int, since: int | None = None, lost_within: float = 86_400.0
    ) -> tuple[int, int, dict[int, tuple[str, int, int | None, str | None]]]:
        """What the ledger knows of an account around row `row_id`'s send, in one read: (top
        revision now, highest row id now, the account's other rows that are unfinished, ended
        unclear within `lost_within` seconds (their task may still hold credits), or were
        written since revision `since`, as {id: (status, estimated_credits, credits_used,
        settled)}). Settling an unclear send compares such pictures (runtime/_settle.py)."""
        return self._store.account_moves(account, int(row_id), since, lost_within)

    # ---- reconciling with the account ----------------------------------------------------------
    def set_baseline(self, credits: Any, *, base_url: str | None = None) -> None:
        """Remember the account's balance now, to compare later spending against.

        `credits` is a Credits object (`.credits`, `.available`) or a client (its `.credits()`
        is called, and its `base_url` scopes the ledger's rows to that server).
        """
        now, base_url = balance(credits, base_url)
        self._store.add_baseline(int(now.credits), int(now.available), base_url)

    def reconcile(self, credits_now: Any, *, base_url: str | None = None) -> pd.DataFrame:
        """Compare the ledger's spending since the last baseline with the account's.

        Rows: ``spent`` (ledger: credits charged since the baseline; account: how far its
        `credits` fell) and ``reserved`` (ledger: estimates of tasks sent and not finished;
        account: `credits - available`). Columns: ledger, account, difference (account -
        ledger) and ok. With no baseline yet, one is recorded now and everything reads zero.
        A positive difference is spending this ledger does not know about (another notebook,
        the web app) or rows that explain it: when anything differs, ``attrs["note"]`` names
        the difference and ``attrs["rows"]`` lists the rows that may explain it, each with the
        credits it accounts for (sends settled "charged" whose task id was lost, unclear sends,
        paid videos never saved, charges differing from estimates). `credits_now` is a Credits
        object or a client, as for `set_baseline`.
        """
        balance_now, base_url = balance(credits_now, base_url)
        base = self._store.baseline(base_url)
        if base is None:
            self.set_baseline(balance_now, base_url=base_url)
            base = self._store.baseline(base_url)
            assert base is not None
        frame = reconcile_frame(
            base,
            balance_now,
            self.spent(base_url=base_url),
            self._store.reserved(base_url),
            from_ms(base["at"]),
            base_url,
        )
        if not frame["ok"].all():
            from . import _report

            rows = self.df_full
            if base_url is not None:
                rows = rows[rows["base_url"] == base_url]
            found = _report.explain(rows, from_ms(base["at"]))
            gap = int(frame["difference"].sum())
            frame.attrs["rows"] = found
            frame.attrs["note"] = (
                f"the account has {gap} credits less than the ledger says it should "
                f"({int(found['credits'].sum())} of them explained by {len(found)} rows in "
                "attrs['rows'])"
                if gap > 0
                else f"the account has {-gap} credits more than the ledger says it should"
            )
        return frame

    def report(
        self,
        period: str | None = None,
        by: str | tuple[str, ...] | list[str] = ("user", "experiment"),
        *,
        credits: Any = None,
    ) -> pd.DataFrame:
        """Who spent what, on what, and is the video here: per group (``by``: "user", and any
        ledger column), credits estimated, charged, refused (turned down, nothing charged) and
        lost (paid, no video: a send settled "charged" whose task id never came back, a video
        not saved or expired), and the videos on disk, checked now (missing_videos: completed
        but the file is gone). `period` ('month', 'week', 'day'; None: everything) counts rows
        submitted since the calendar period began (UTC, by the database's clock). With
        `credits` (a client or its Credits), ``attrs["balance"]`` holds `reconcile`'s check:
        the balance the account reports against what the ledger says it should be."""
        from . import _report

        check_period(period)
        table = _report.report(self.df_full, by, period, self.clock())
        if credits is not None:
            table.attrs["balance"] = self.reconcile(credits)
        return table

    def report_html(
        self,
        period: str | None = None,
        by: str | tuple[str, ...] | list[str] = ("user", "experiment"),
        *,
        credits: Any = None,
    ) -> str:
        """`report` as a small HTML page: the table, the balance check, one chart."""
        from . import _report

        table = self.report(period, by, credits=credits)
        return _report.page(table, table.attrs.get("balance"))

    # ---- votes (A/B comparisons) ---------------------------------------------------------------
    def vote(self, experiment: str, winner_row: int, loser_rows: list[int]) -> None:
        """Record one ballot: `winner_row` was preferred over each of `loser_rows`."""
        losers = list(loser_rows)
        if not losers or winner_row in losers:
            raise ValueError("loser_rows: at least one row, and not the winner")
        self._store.vote(experiment, winner_row, losers, to_ms(datetime.now(timezone.utc)))

    def retract_vote(self, ballot: int) -> None:
        """Take back one ballot (every pairwise preference it recorded), e.g. a vote undone."""
        if not self._store.retract_vote(ballot):
            raise KeyError(f"no ballot {ballot}")

    def votes(self, experiment: str | None = None) -> pd.DataFrame:
        """Every pairwise preference: one row per (ballot, winner, loser), oldest first."""
        return votes_frame(self._store.votes(experiment))

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
        """The first read in a process starts from the columnar snapshot kept in the ledger
        (when there is one) and reads only rows written since; later reads fetch only rows
        changed since (by any kernel), so a live view over a long ledger stays cheap.
        """
        from . import _cache, _frame

        with self._rlock:
            old = self._cache
            cache = self._cache = self._store.read_frame(lambda source: _cache.refresh(source, old))
            if cache.unsaved >= _cache.SNAPSHOT_ROWS and _cache.save_snapshot(self._store, cache):
                cache.unsaved = 0
            return _frame.view(cache.frame, full=full)

    def summary(
        self, by: str | list[str] = "experiment", frame: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Per group: count, completed, failed, in_flight, estimated and used credits (sums),
        mean_render_s (seconds from send to completion) and lost (credits paid with no video:
        a send settled "charged" whose task id was lost, a video not saved or expired).
        `frame`: a `df_full` the caller has just read, so one read serves several views."""
        from . import _frame

        return _frame.summary(self.df_full if frame is None else frame, by)

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
        """Close the file or the database connections (idempotent)."""
        with self._rlock:
            self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _row(fields: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """A new row's columns and checked values (submitted now unless given)."""
    fields.setdefault("submitted_at", datetime.now(timezone.utc))
    values = checked(fields)
    if not fields.get("experiment"):
        raise ValueError("experiment: every row needs an experiment")
    return values


def _budget(fields: dict[str, Any], enforce: bool) -> tuple[str, int, str | None] | None:
    """What to check against the budgets (experiment, user) as the row goes in, if anything."""
    if enforce and fields.get("status", JobStatus.QUEUED) in IN_FLIGHT:
        return (
            fields["experiment"],
            int(fields.get("estimated_credits") or 0),
            fields.get("user_name"),
        )
    return None


def _which(experiment: str | None, user: str | None) -> tuple[str, str]:
    """('experiment', name) or ('user', name): exactly one of the two must be given."""
    if (experiment is None) == (user is None):
        raise ValueError("give an experiment or a user (one of the two)")
    if experiment is not None:
        return "experiment", str(experiment)
    return "user", str(user)


__all__ = ["Ledger", "is_postgres"]
