"""The ledger's SQL, written once for both backends (stdlib only).

`SQLStore` implements every `Store` method with one statement set, written with ``?`` marks.
A `Dialect` holds the little that really differs between SQLite and PostgreSQL: the placeholder,
column types, times (epoch ms in SQLite, timestamptz in PostgreSQL), the database's "now", row
locks (``FOR UPDATE``, ``SKIP LOCKED``), advisory locks, how a write bumps `rev`, and how a
wake-up is sent (``NOTIFY`` inside the transaction, or in-process listeners after commit).
A backend (`_sqlite.SQLiteStore`, `_postgres.PostgresStore`) provides only connections,
transactions, triggers and wake-ups: `_write`, `_read`, `_snapshot`, `_columns`, `_triggers`.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from ..api import BudgetExceededError
from ..api._status import JobStatus
from . import _budgets, _slots
from ._account import scope
from ._owners import Owner, live, take
from ._schema import (
    COMMITTED,
    FIELDS,
    IN_FLIGHT,
    INDEXES,
    REUSABLE,
    SCHEMA_VERSION,
    SENT,
    TABLES,
    TIMES,
    decoded,
    from_ms,
    to_ms,
)
from ._store import FrameSource, Row, Store, Values

T = TypeVar("T")
# ended with no clear word from the server: a task may still be running and holding credits
UNCLEAR = (JobStatus.SEND_FAILED.value, JobStatus.UNKNOWN.value)
BULK = 1000  # rows in one insert_many after which the planner's statistics are refreshed
Conn = Any  # a sqlite3.Connection or a psycopg.Connection: both have .execute() and .cursor()


@dataclass(frozen=True)
class Dialect:
    """What differs between the two SQL dialects, and nothing else."""

    name: str
    mark: str  # the placeholder: "?" or "%s"
    types: dict[str, str]  # {KEY}, {INT}, {TIME}, {BLOB} in `_schema.TABLES`
    now: str  # the database's time now, as a stored time
    now_ms: str  # the same as epoch milliseconds
    ms_of: str  # a stored time column as epoch ms ("{}" is the column)
    update_rev: str  # what an UPDATE sets besides its fields ("" when a trigger stamps rev)
    insert_rev: str  # the value an INSERT gives rev ("" when a trigger stamps it)
    for_update: str = ""  # a row lock taken by a write transaction's read
    for_share: str = ""
    skip_locked: str = ""  # slot waits another grantor holds are skipped, not waited on
    advisory: str = ""  # a transaction-scoped lock on one text key ("" if writes are serial)
    by_rev: str = ""  # an index hint for rows changed since a rev
    same: str = "IS ?"  # equal, NULL to NULL included
    notify: str = ""  # a wake-up sent inside the transaction ("" : in-process, after commit)
    exact_frame: bool = True  # see `FrameSource.exact`
    frame_state: str = ""  # (generation, top) for `FrameSource.state`
    time_args: bool = False  # times go in as datetimes (not epoch ms)
    analyze: str = ""  # refreshes the planner's statistics after a bulk load

    def ms(self, column: str) -> str:
        return self.ms_of.format(column)

    def sql(self, text: str) -> str:
        return _placeholders(text, self.mark)

    def args(self, names: Sequence[str], values: Sequence[Any]) -> list[Any]:
        """Checked values (times as epoch ms) as the driver takes them."""
        if not self.time_args:
            return list(values)
        return [
            from_ms(v) if n in TIMES and v is not None else v
            for n, v in zip(names, values, strict=True)
        ]

    def ddl(self, kind: str) -> str:
        return kind.format(**self.types)


@lru_cache(maxsize=512)
def _placeholders(text: str, mark: str) -> str:
    return text if mark == "?" else text.replace("%", "%%").replace("?", mark)


def row_select(d: Dialect, lease: bool = True) -> str:
    """A row as the store returns it (times as epoch ms), with or without `lease`."""
    names = [d.ms(n) + f" AS {n}" if n in TIMES and d.time_args else n for n in FIELDS]
    return ", ".join(["id", *names, *(["lease"] if lease else [])])


def marks(n: int) -> str:
    return ", ".join("?" * n)


class Tx:
    """One transaction's connection, speaking the statement set's ``?`` SQL."""

    def __init__(self, conn: Conn, d: Dialect) -> None:
        self.conn, self.d = conn, d
        self.woken: list[str] = []

    def run(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self.d.sql(sql), tuple(args))

    def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        rows = self.run(sql, args).fetchall()
        return rows[0] if rows else None

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        found = self.one(sql, args)
        return None if found is None else found[0]

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        cursor = self.run(sql, args)
        names = [c[0] for c in cursor.description or ()]
        return [decoded(names, r) for r in cursor.fetchall()]

    def many(self, sql: str, batch: Sequence[Sequence[Any]]) -> None:
        if not batch:
            return
        cursor = self.conn.cursor()
        try:
            cursor.executemany(self.d.sql(sql), [tuple(b) for b in batch])
        finally:
            cursor.close()

    def lock(self, key: str) -> None:
        """Serialise transactions on `key` (no-op where every write is serial anyway)."""
        if self.d.advisory:
            self.run(self.d.advisory, (key,))

    def wake(self, account: str, owner: str = "") -> None:
        """Wake listeners of `account` once this transaction commits: with `owner`, only the
        studio that owner runs (`_slots.payload`), the one a slot was just granted to."""
        said = _slots.payload(account, owner)
        if self.d.notify:
            self.run(self.d.notify, (_slots.CHANNEL, said))
        else:
            self.woken.append(said)


def retried(method: Callable[..., T]) -> Callable[..., T]:
    """A store method its backend may run once more (see `SQLStore._attempt`)."""

    @functools.wraps(method)
    def run(self: SQLStore, *args: Any, **kwargs: Any) -> T:
        return self._attempt(method, self, *args, **kwargs)  # type: ignore[no-any-return]

    return run


class SQLStore(Store):
    """Every store method, once; a backend subclass gives connections and a `Dialect`."""

    d: Dialect

    def _attempt(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a store method (PostgreSQL: again once if its connection was lost first)."""
        return method(*args, **kwargs)

    # ---- what a backend provides ---------------------------------------------------------------
    @abstractmethod
    def _write(self, quick: bool = False) -> AbstractContextManager[Tx]:
        """One write transaction (`quick`: give up at once if another writer holds the lock)."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Tx]:
        """A connection for reads that each see what was committed before them."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Tx]:
        """A read-only transaction: every read in it sees one snapshot."""

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._read() as tx:
            return tx.rows(sql, args)

    def _value(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._read() as tx:
            return tx.scalar(sql, args)

    # ---- submissions -------------------------------------------------------------------------
    @retried
    def insert(
        self,
        values: Values,
        *,
        dedupe: tuple[str, str] | None = None,
        budget: tuple[str, int, str | None] | None = None,
    ) -> tuple[int, Row | None]:
        names, stored = values
        with self._write() as tx:
            if dedupe is not None:
                experiment, fingerprint = dedupe
                tx.lock(f":once:{len(experiment)}:{experiment}:{fingerprint}")
                found = tx.rows(self._reusable(), dedupe)
                if found:
                    return int(found[0]["id"]), found[0]
            if budget is not None:
                _enforce(tx, *budget)
            return int(tx.one(self._insert(tuple(names)), self.d.args(names, stored))[0]), None

    @retried
    def insert_many(self, rows: Sequence[Values]) -> None:
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for names, stored in rows:
            groups.setdefault(tuple(names), []).append(self.d.args(names, stored))
        with self._write() as tx:
            for names, batch in groups.items():
                tx.many(self._insert(names, returning=False), batch)
            if self.d.analyze and len(rows) >= BULK:  # else the planner keeps guessing "few"
                tx.run(self.d.analyze)

    def _insert(self, names: tuple[str, ...], returning: bool = True) -> str:
        columns, values = list(names), ["?"] * len(names)
        if self.d.insert_rev:
            columns.append("rev")
            values.append(self.d.insert_rev)
        sql = f"INSERT INTO submissions ({', '.join(columns)}) VALUES ({', '.join(values)})"
        return f"{sql} RETURNING id" if returning else sql

    def _reusable(self) -> str:
        return (
            f"SELECT {row_select(self.d)} FROM submissions WHERE experiment = ? "
            f"AND fingerprint = ? AND {REUSABLE} ORDER BY id DESC LIMIT 1"
        )

    def _set(self, names: Sequence[str]) -> str:
        parts = [f"{n} = ?" for n in names]
        if self.d.update_rev:
            parts.append(f"rev = {self.d.update_rev}")
        return ", ".join(parts) or "rev = rev"

    @retried
    def update(self, row_id: int, values: Values) -> bool:
        names, stored = values
        with self._write() as tx:
            cursor = tx.run(
                f"UPDATE submissions SET {self._set(names)} WHERE id = ?",
                (*self.d.args(names, stored), row_id),
            )
            return int(cursor.rowcount) == 1

    @retried
    def fenced(
        self, row_id: int, owner_id: str, lease: int | None, expect: str | None, values: Values
    ) -> bool:
        names, stored = values
        sql = f"UPDATE submissions SET {self._set(names)} WHERE id = ? AND owner = ?"
        args: list[Any] = [*self.d.args(names, stored), row_id, owner_id]
        if lease is not None:
            sql, args = f"{sql} AND lease = ?", [*args, lease]
        if expect is not None:
            sql, args = f"{sql} AND status = ?", [*args, expect]
        with self._write() as tx:
            return int(tx.run(sql, args).rowcount) == 1

    @retried
    def claim(self, row_id: int, owner_id: str, fetch: bool = False) -> Row | None:
        with self._write() as tx:
            found = tx.rows(
                f"SELECT {row_select(self.d)} FROM submissions WHERE id = ?{self.d.for_update}",
                (row_id,),
            )
            if not found:
                raise KeyError(f"no ledger row {row_id}")
            row = found[0]
            taken = take(row, owner_id, _live(tx), fetch)
            if taken is None:
                return None
            status, lease = taken
            tx.run(
                f"UPDATE submissions SET {self._set(['owner', 'status', 'lease'])} WHERE id = ?",
                (owner_id, status, lease, row_id),
            )
            row["owner"], row["status"], row["lease"] = owner_id, status, lease
            return row

    @retried
    def get(self, row_id: int) -> Row | None:
        rows = self._fetch(f"SELECT {row_select(self.d)} FROM submissions WHERE id = ?", (row_id,))
        return rows[0] if rows else None

    @retried
    def rows(self, where: dict[str, list[Any]]) -> list[Row]:
        clauses: list[str] = []
        args: list[Any] = []
        for name, stored in where.items():
            stored = self.d.args([name] * len(stored), stored)
            if not stored:
                clauses.append("FALSE")
            elif len(stored) == 1 and stored[0] is None:
                clauses.append(f"{name} IS NULL")
            else:
                clauses.append(f"{name} IN ({marks(len(stored))})")
                args.extend(stored)
        clause = " AND ".join(clauses) or "TRUE"
        return self._fetch(
            f"SELECT {row_select(self.d)} FROM submissions WHERE {clause} ORDER BY id", args
        )

    @retried
    def recent(self, status: str, limit: int) -> list[Row]:
        rows = self._fetch(
            f"SELECT {row_select(self.d)} FROM submissions WHERE status = ? "
            "ORDER BY id DESC LIMIT ?",
            (status, limit),
        )
        return rows[::-1]

    @retried
    def latest(self, limit: int, experiment: str | None) -> list[Row]:
        where, args = scope(experiment, None)
        rows = self._fetch(
            f"SELECT {row_select(self.d)} FROM submissions WHERE TRUE{where} "
            "ORDER BY id DESC LIMIT ?",
            (*args, limit),
        )
        return rows[::-1]

    @retried
    def find(self, experiment: str, fingerprint: str) -> Row | None:
        rows = self._fetch(self._reusable(), (experiment, fingerprint))
        return rows[0] if rows else None

    @retried
    def count(self, experiment: str | None = None) -> int:
        where, args = scope(experiment, None)
        return int(self._value(f"SELECT COUNT(*) FROM submissions WHERE TRUE{where}", args))

    @retried
    def clock_ms(self) -> int:
        return int(self._value(f"SELECT {self.d.now_ms}"))

    # ---- owners ------------------------------------------------------------------------------
    @retried
    def register(self, owner: Owner) -> None:
        with self._write() as tx:
            tx.run(
                "INSERT INTO owners (id, host, pid, boot_id, pid_ns, started_at, beat_at) "
                f"VALUES (?, ?, ?, ?, ?, {self.d.now}, {self.d.now}) ON CONFLICT (id) DO UPDATE "
                "SET host = excluded.host, pid = excluded.pid, boot_id = excluded.boot_id, "
                "pid_ns = excluded.pid_ns, started_at = excluded.started_at, "
                "beat_at = excluded.beat_at",
                _who(owner),
            )

    @retried
    def beat(self, owner: Owner) -> None:
        with self._write() as tx:
            _beat(tx, owner)

    @retried
    def retire(self, owner: Owner) -> None:
        with self._write() as tx:
            tx.run("DELETE FROM owners WHERE id = ?", (owner.id,))
            tx.run("DELETE FROM slot_waits WHERE owner = ?", (owner.id,))
            held = tx.run(
                "SELECT DISTINCT account FROM slot_leases WHERE owner = ?", (owner.id,)
            ).fetchall()
            for (account,) in held:
                tx.wake(account)

    @retried
    def live_owners(self) -> set[str]:
        with self._read() as tx:
            return _live(tx)

    # ---- credits -----------------------------------------------------------------------------
    @retried
    def spent(self, experiment: str | None, base_url: str | None) -> int:
        where, args = scope(experiment, base_url)
        sql = f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}"
        return int(self._value(sql, (JobStatus.COMPLETED.value, *args)))

    @retried
    def committed(self, experiment: str | None, base_url: str | None) -> int:
        where, args = scope(experiment, base_url)
        return int(self._value(f"SELECT {COMMITTED} FROM submissions WHERE TRUE{where}", args))

    @retried
    def reserved(self, base_url: str | None) -> int:
        where, args = scope(None, base_url)
        return int(
            self._value(
                "SELECT COALESCE(SUM(estimated_credits), 0) FROM submissions "
                f"WHERE status IN ({marks(len(SENT))}){where}",
                (*SENT, *args),
            )
        )

    @retried
    def set_budget(
        self, kind: str, name: str, credits: int | None, period: str | None, set_by: str
    ) -> None:
        table, key = _BUDGETS[kind]
        with self._write() as tx:
            if credits is None:
                tx.run(f"DELETE FROM {table} WHERE {key} = ?", (name,))
            else:
                tx.run(
                    f"INSERT INTO {table} ({key}, credits, period, set_by, set_at) "
                    f"VALUES (?, ?, ?, ?, {self.d.now}) ON CONFLICT ({key}) DO UPDATE SET "
                    "credits = excluded.credits, period = excluded.period, "
                    "set_by = excluded.set_by, set_at = excluded.set_at",
                    (name, credits, period, set_by),
                )
            tx.run(
                "INSERT INTO budget_changes (kind, name, credits, period, set_by, at) "
                f"VALUES (?, ?, ?, ?, ?, {self.d.now})",
                (kind, name, credits, period, set_by),
            )

    @retried
    def budget(self, kind: str, name: str) -> Row | None:
        with self._read() as tx:
            return _rule(tx, kind, name, lock=False)

    @retried
    def budget_changes(self) -> list[Row]:
        return self._fetch(
            f"SELECT kind, name, credits, period, set_by, {self.d.ms('at')} AS at "
            "FROM budget_changes ORDER BY id"
        )

    @retried
    def remaining(self, kind: str, name: str) -> int | None:
        with self._snapshot() as tx:  # one snapshot for both reads
            rule = _rule(tx, kind, name, lock=False)
            return None if rule is None else int(rule["credits"]) - _used(tx, kind, name, rule)

    @retried
    def check_budget(self, experiment: str, cost: int, user: str | None) -> None:
        with self._snapshot() as tx:  # the insert's own rule, read without holding a lock
            _enforce(tx, experiment, cost, user, lock=False)

    @retried
    def account_moves(
        self, account: str, row_id: int, since: int | None, lost_within: float
    ) -> tuple[int, int, dict[int, tuple[str, int, int | None, str | None]]]:
        with self._snapshot() as tx:
            top = int(tx.scalar("SELECT COALESCE(MAX(rev), 0) FROM submissions"))
            newest = int(tx.scalar("SELECT COALESCE(MAX(id), 0) FROM submissions"))
            cols = "id, status, estimated_credits, credits_used, settled"
            # unfinished, or a send that ended unclear lately: its task may still hold credits
            rows = tx.run(
                f"SELECT {cols} FROM submissions WHERE account = ? AND id <> ? "
                f"AND (status IN ({marks(len(IN_FLIGHT))}) OR (status IN (?, ?) "
                f"AND {self.d.ms('submitted_at')} >= {self.d.now_ms} - ?))",
                (account, row_id, *IN_FLIGHT, *UNCLEAR, int(lost_within * 1000)),
            ).fetchall()
            if since is not None:
                rows += tx.run(
                    f"SELECT {cols} FROM submissions WHERE account = ? AND id <> ? AND rev > ?",
                    (account, row_id, since),
                ).fetchall()
        return (
            top,
            newest,
            {
                int(r[0]): (r[1], int(r[2] or 0), None if r[3] is None else int(r[3]), r[4])
                for r in rows
            },
        )

    @retried
    def add_baseline(self, credits: int, available: int, base_url: str | None) -> None:
        where, args = scope(None, base_url)
        with self._write() as tx:
            spent = tx.scalar(
                f"SELECT COALESCE(SUM(credits_used), 0) FROM submissions WHERE status = ?{where}",
                (JobStatus.COMPLETED.value, *args),
            )
            tx.run(
                "INSERT INTO baselines (at, credits, available, ledger_spent, base_url) "
                f"VALUES ({self.d.now}, ?, ?, ?, ?)",
                (credits, available, spent, base_url),
            )

    @retried
    def baseline(self, base_url: str | None) -> Row | None:
        rows = self._fetch(
            f"SELECT {self.d.ms('at')} AS at, credits, available, ledger_spent FROM baselines "
            f"WHERE base_url {self.d.same} ORDER BY id DESC LIMIT 1",
            (base_url,),
        )
        return rows[0] if rows else None

    # ---- votes -------------------------------------------------------------------------------
    @retried
    def vote(self, experiment: str, winner: int, losers: list[int], at_ms: int) -> None:
        ids = sorted({winner, *losers})
        at = self.d.args(["submitted_at"], [at_ms])[0]
        with self._write() as tx:
            found = tx.run(f"SELECT id FROM submissions WHERE id IN ({marks(len(ids))})", ids)
            missing = set(ids) - {int(r[0]) for r in found.fetchall()}
            if missing:
                raise KeyError(f"no ledger row {min(missing)}")
            tx.lock(":seedance:votes")  # ballots are numbered one at a time
            ballot = tx.scalar("SELECT COALESCE(MAX(ballot), 0) + 1 FROM votes")
            tx.many(
                "INSERT INTO votes (experiment, ballot, winner, loser, at) VALUES (?, ?, ?, ?, ?)",
                [(experiment, ballot, winner, loser, at) for loser in losers],
            )

    @retried
    def retract_vote(self, ballot: int) -> bool:
        with self._write() as tx:
            return bool(tx.run("DELETE FROM votes WHERE ballot = ?", (ballot,)).rowcount)

    @retried
    def votes(self, experiment: str | None) -> list[Row]:
        where, args = scope(experiment, None)
        return self._fetch(
            f"SELECT experiment, ballot, winner, loser, {self.d.ms('at')} AS at FROM votes "
            f"WHERE TRUE{where} ORDER BY id",
            args,
        )

    # ---- the frame behind .df ----------------------------------------------------------------
    @retried
    def read_frame(self, read: Callable[[FrameSource], T]) -> T:
        with self._snapshot() as tx:
            return read(_Source(tx))

    @retried
    def save_snapshot(self, rev: int, generation: int, rows: int, fmt: str, data: bytes) -> bool:
        try:
            with self._write(quick=True) as tx:
                now = tx.scalar(
                    f"SELECT value FROM meta WHERE key = 'generation'{self.d.for_share}"
                )
                if now is None or int(now) != generation:  # a row was deleted meanwhile
                    return False
                tx.run(
                    "INSERT INTO df_snapshot VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) "
                    "DO UPDATE SET rev = excluded.rev, generation = excluded.generation, "
                    "rows = excluded.rows, format = excluded.format, data = excluded.data "
                    "WHERE excluded.rev > df_snapshot.rev "
                    "OR excluded.generation > df_snapshot.generation",
                    (rev, generation, rows, fmt, data),
                )
        except Busy:
            return False
        return True

    # ---- the account's slots -----------------------------------------------------------------
    @retried
    def acquire_slot(self, account: str, owner: Owner, user: str, job_row: int, limit: int) -> bool:
        with self._write() as tx:
            _beat(tx, owner)  # a studio asking for a slot is alive, whatever its heartbeat says
            # `limit` only seeds an account that has none: the limit is the account's
            tx.run(
                "INSERT INTO slot_accounts VALUES (?, ?) ON CONFLICT (account) DO NOTHING",
                (account, limit),
            )
            # the account's row, locked until commit: one grant at a time per account
            limit = int(_limit(tx, account) or limit)
            held = tx.one(
                "SELECT 1 FROM slot_leases WHERE account = ? AND job_row = ?", (account, job_row)
            )
            if held is None:
                tx.run(
                    "INSERT INTO slot_waits (account, user_name, job_row, owner, enqueued_at) "
                    f"VALUES (?, ?, ?, ?, {self.d.now}) ON CONFLICT (account, job_row) DO NOTHING",
                    (account, user, job_row, owner.id),
                )
            granted, mine = _grant(tx, account, limit, job_row)
            for owner_id in sorted({o for row, o in granted.items() if row != job_row}):
                tx.wake(account, owner_id)  # a slot freed meanwhile went to another studio
            return mine

    @retried
    def release_slot(self, account: str, job_row: int) -> bool:
        with self._write() as tx:
            limit = _limit(tx, account)
            released = tx.run(
                "DELETE FROM slot_leases WHERE account = ? AND job_row = ?", (account, job_row)
            ).rowcount
            tx.run("DELETE FROM slot_waits WHERE account = ? AND job_row = ?", (account, job_row))
            granted: dict[int, str] = {}
            if limit is not None:  # the freed slot goes to the next in the fair order, now
                granted, _ = _grant(tx, account, int(limit), None)
            for owner_id in sorted(set(granted.values())):
                tx.wake(account, owner_id)  # only the studios granted a slot wake up
            if not granted:
                tx.wake(account)  # nobody was waiting: whoever is about to ask may go
            return bool(released)

    @retried
    def account_limit(self, account: str) -> int | None:
        found = self._value("SELECT slot_limit FROM slot_accounts WHERE account = ?", (account,))
        return None if found is None else int(found)

    @retried
    def set_account_limit(self, account: str, limit: int) -> None:
        with self._write() as tx:
            tx.run(
                "INSERT INTO slot_accounts VALUES (?, ?) ON CONFLICT (account) "
                "DO UPDATE SET slot_limit = excluded.slot_limit",
                (account, limit),
            )
            _grant(tx, account, limit, None)
            tx.wake(account)

    @retried
    def slots(self, account: str) -> dict[str, list[Row]]:
        with self._snapshot() as tx:
            leases, waits, alive, turns = _slot_state(tx, account, lock=False)
        return _slots.view(leases, waits, alive, turns)

    # ---- the schema ----------------------------------------------------------------------------
    @abstractmethod
    def _columns(self, tx: Tx, table: str) -> set[str]:
        """The columns a table has now (empty if it does not exist)."""

    @abstractmethod
    def _triggers(self, tx: Tx) -> None:
        """Create the backend's triggers (rev stamps, the generation on delete) if missing."""

    def _migrate(self, tx: Tx) -> int:
        """Bring a ledger of any earlier version (or none) to `SCHEMA_VERSION`, inside one
        write transaction; refuse one from a newer seedance_nb rather than half-understand it.
        Each version only added tables, columns and indexes, so this adds whatever is missing.
        """
        tx.lock(":seedance:migrate")
        meta = self.d.ddl("key TEXT PRIMARY KEY, value {INT} NOT NULL")
        tx.run(f"CREATE TABLE IF NOT EXISTS meta ({meta})")
        found = tx.scalar("SELECT value FROM meta WHERE key = 'schema'")
        version = int(found) if found is not None else 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"it was written by a newer seedance_nb (schema {version}, this one reads up to "
                f"{SCHEMA_VERSION}): upgrade seedance_nb"
            )
        if version == SCHEMA_VERSION:
            return version
        for table, columns in TABLES.items():
            have = self._columns(tx, table)
            if not have:
                body = ", ".join(f"{n} {self.d.ddl(k)}".strip() for n, k in columns.items())
                tx.run(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
                continue
            for name, kind in columns.items():
                if name and name not in have:
                    kind = self.d.ddl(kind)
                    if "DEFAULT" not in kind:  # rows already there have none
                        kind = kind.replace(" NOT NULL", "")
                    tx.run(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        for name, on in INDEXES.items():
            tx.run(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")
        tx.run("INSERT INTO meta VALUES ('generation', 0) ON CONFLICT (key) DO NOTHING")
        self._triggers(tx)
        tx.run(
            "INSERT INTO meta VALUES ('schema', ?) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value",
            (SCHEMA_VERSION,),
        )
        return SCHEMA_VERSION


class Busy(Exception):
    """A quick write found the lock taken (a later read will try again)."""


class SchemaError(Exception):
    """The ledger's schema cannot be used by this version."""


class _Source:
    """`FrameSource` inside one read-only snapshot."""

    def __init__(self, tx: Tx) -> None:
        self.tx, self.d = tx, tx.d
        self.exact = tx.d.exact_frame

    def state(self) -> tuple[int, int]:
        generation, top = self.tx.one(self.d.frame_state)  # the first statement: fixes the snapshot
        return int(generation or 0), int(top or 0)

    def changed(self, rev: int) -> list[tuple[Any, ...]]:
        return self.tx.run(
            f"SELECT * FROM (SELECT {row_select(self.d, lease=False)} FROM submissions"
            f"{self.d.by_rev} WHERE rev > ?) AS changed ORDER BY id",
            (rev,),
        ).fetchall()

    def every(self) -> list[tuple[Any, ...]]:
        return self.tx.run(
            f"SELECT {row_select(self.d, lease=False)} FROM submissions ORDER BY id"
        ).fetchall()

    def count(self) -> int:
        return int(self.tx.scalar("SELECT COUNT(*) FROM submissions"))

    def snapshot(self) -> tuple[int, int, int, str, bytes] | None:
        found = self.tx.one(
            "SELECT rev, generation, rows, format, data FROM df_snapshot WHERE id = 1"
        )
        return None if found is None else tuple(found)  # type: ignore[return-value]


# ---- helpers that run inside a transaction ------------------------------------------------------
def _who(owner: Owner) -> tuple[Any, ...]:
    return owner.id, owner.host, owner.pid, owner.boot_id, owner.pid_ns


def _live(tx: Tx) -> set[str]:
    d = tx.d
    rows = tx.run(
        f"SELECT id, host, pid, boot_id, pid_ns, {d.ms('beat_at')}, {d.now_ms} FROM owners"
    ).fetchall()
    return live([r[:6] for r in rows], int(rows[0][6])) if rows else set()


def _beat(tx: Tx, owner: Owner) -> None:
    now = tx.d.now
    tx.run(
        "INSERT INTO owners (id, host, pid, boot_id, pid_ns, started_at, beat_at) "
        f"VALUES (?, ?, ?, ?, ?, {now}, {now}) ON CONFLICT (id) DO UPDATE "
        "SET beat_at = excluded.beat_at",
        _who(owner),
    )


def _limit(tx: Tx, account: str) -> int | None:
    found = tx.scalar(
        f"SELECT slot_limit FROM slot_accounts WHERE account = ?{tx.d.for_update}", (account,)
    )
    return None if found is None else int(found)


_BUDGETS = {"experiment": ("budgets", "experiment"), "user": ("user_budgets", "user_name")}


def _rule(tx: Tx, kind: str, name: str, *, lock: bool) -> Row | None:
    """A budget row (credits, period, set_by), locked until commit when `lock` (PostgreSQL)."""
    table, key = _BUDGETS[kind]
    found = tx.rows(
        f"SELECT credits, period, set_by FROM {table} WHERE {key} = ?"
        + (tx.d.for_update if lock else ""),
        (name,),
    )
    return found[0] if found else None


def _used(tx: Tx, kind: str, name: str, rule: Row) -> int:
    """Credits committed under a budget: its experiment's or user's rows, within its calendar
    period (UTC, by the database's clock) when it has one."""
    column = _BUDGETS[kind][1]
    sql, args = f"SELECT {COMMITTED} FROM submissions WHERE {column} = ?", [name]
    start = _budgets.period_start(from_ms(int(tx.scalar(f"SELECT {tx.d.now_ms}"))), rule["period"])
    if start is not None:
        sql += " AND submitted_at >= ?"
        args += tx.d.args(["submitted_at"], [to_ms(start)])
    return int(tx.scalar(sql, args))


def _enforce(
    tx: Tx, experiment: str, cost: int, user: str | None = None, *, lock: bool = True
) -> None:
    """Raise BudgetExceededError if `cost` would overspend any budget the row falls under (its
    experiment's, its user's). With `lock` (an insert), holds each budget row until commit
    (PostgreSQL; SQLite's writes are serial), so another insert under it waits and counts this
    one. Always experiment first, then user: one lock order, no deadlock."""
    for kind, name in (("experiment", experiment), ("user", user)):
        rule = None if name is None else _rule(tx, kind, name, lock=lock)
        if rule is None or name is None:
            continue
        label, left = _budgets.refusal(kind, name, rule, _used(tx, kind, name, rule))
        if cost > left:
            raise BudgetExceededError(experiment, left, cost, budget=label, set_by=rule["set_by"])


def _slot_state(
    tx: Tx, account: str, *, lock: bool = True
) -> tuple[list[_slots.Lease], list[_slots.Wait], set[str], dict[str, int]]:
    leases = [
        _slots.Lease(int(r[0]), r[1], r[2], r[3])
        for r in tx.run(
            "SELECT l.job_row, l.owner, l.user_name, s.status FROM slot_leases l "
            "LEFT JOIN submissions s ON s.id = l.job_row WHERE l.account = ? "
            "ORDER BY l.granted_at, l.job_row",
            (account,),
        ).fetchall()
    ]
    waits = [
        _slots.Wait(int(r[0]), int(r[1]), r[2], int(r[3]), r[4], r[5])
        for r in tx.run(
            f"SELECT {tx.d.ms('w.enqueued_at')}, w.id, w.user_name, w.job_row, w.owner, s.status "
            "FROM slot_waits w LEFT JOIN submissions s ON s.id = w.job_row "
            "WHERE w.account = ? ORDER BY w.enqueued_at, w.id" + (tx.d.skip_locked if lock else ""),
            (account,),
        ).fetchall()
    ]
    turns = {
        r[0]: int(r[1])
        for r in tx.run(
            "SELECT user_name, turn FROM slot_users WHERE account = ?", (account,)
        ).fetchall()
    }
    return leases, waits, _live(tx), turns


def _grant(tx: Tx, account: str, limit: int, mine: int | None) -> tuple[dict[int, str], bool]:
    """Expire, drop and grant per `_slots.plan` (the caller holds the account's row);
    (rows granted now with their owners, whether `mine` holds a slot)."""
    leases, waits, alive, turns = _slot_state(tx, account)
    decided = _slots.plan(leases, waits, alive, limit, turns)
    expired = [lease.row for lease in decided.expired]
    if expired:
        tx.run(
            f"DELETE FROM slot_leases WHERE account = ? AND job_row IN ({marks(len(expired))})",
            (account, *expired),
        )
    gone = [w.seq for w in (*decided.dropped, *decided.granted)]
    if gone:
        tx.run(f"DELETE FROM slot_waits WHERE id IN ({marks(len(gone))})", gone)
    if decided.granted:
        turn = max(turns.values(), default=0)
        for w in decided.granted:  # one at a time: granted_at orders them
            tx.run(
                "INSERT INTO slot_leases (account, job_row, owner, user_name, granted_at) "
                f"VALUES (?, ?, ?, ?, {tx.d.now})",
                (account, w.row, w.owner, w.user),
            )
        tx.many(
            "INSERT INTO slot_users VALUES (?, ?, ?) ON CONFLICT (account, user_name) "
            "DO UPDATE SET turn = excluded.turn",
            [(account, w.user, turn + i) for i, w in enumerate(decided.granted, start=1)],
        )
    granted = {w.row: w.owner for w in decided.granted}
    holding = set(granted) | {lease.row for lease in decided.held}
    return granted, mine in holding


__all__ = ["Busy", "Dialect", "SQLStore", "SchemaError", "Tx", "marks", "row_select"]
