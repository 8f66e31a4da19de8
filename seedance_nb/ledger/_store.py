"""The storage interface under `Ledger`: the few primitives a backend provides (stdlib only).

`Ledger` checks values, builds the pandas views and keeps its public methods; a `Store` only
stores. Values reach a store already checked by `_schema.checked` (times as epoch milliseconds),
and rows come back as dicts with times as timezone-aware datetimes (`_schema.decoded`). Each
method that changes more than one thing does it in one write transaction, so any number of
studios in any number of processes (and, on PostgreSQL, machines) may share one store.

Both backends (`SQLiteStore`, one file, the embedded default, and `PostgresStore`, a team)
implement it through `_sql.SQLStore`, which holds every statement once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ._owners import Owner

T = TypeVar("T")
Row = dict[str, Any]
Values = tuple[list[str], list[Any]]  # column names and checked values, as `checked` returns


class FrameSource(Protocol):
    """One consistent read of what `.df` needs (see `_cache.refresh`).

    Rows are tuples in `_cache.NAMES` order with times as epoch milliseconds.
    """

    exact: bool  # True: an unchanged `top` means no row changed (a reader may skip fetching)

    def state(self) -> tuple[int, int]:
        """(generation, top): bumped on every delete; every row with rev <= top is visible."""
        ...

    def changed(self, rev: int) -> list[tuple[Any, ...]]:
        """Rows with a rev above `rev`, by id."""
        ...

    def every(self) -> list[tuple[Any, ...]]:
        """Every row, by id."""
        ...

    def count(self) -> int:
        """How many rows there are."""
        ...

    def snapshot(self) -> tuple[int, int, int, str, bytes] | None:
        """The stored frame snapshot: (rev, generation, rows, format, data), or None."""
        ...


class Store(ABC):
    """What a ledger backend does. `url` names it for people (never a password)."""

    url: str

    # ---- submissions -------------------------------------------------------------------------
    @abstractmethod
    def insert(
        self,
        values: Values,
        *,
        dedupe: tuple[str, str] | None = None,
        budget: tuple[str, int, str | None] | None = None,
    ) -> tuple[int, Row | None]:
        """Insert one row: `(id, None)`; or, with `dedupe=(experiment, fingerprint)`, return
        `(id, row)` of the latest reusable row with that request instead. With
        `budget=(experiment, cost, user)`, raise BudgetExceededError if `cost` would overspend
        the experiment's or the user's budget. Checks and insert: one write transaction."""

    @abstractmethod
    def insert_many(self, rows: Sequence[Values]) -> None:
        """Insert many rows in one transaction (bulk loads)."""

    @abstractmethod
    def update(self, row_id: int, values: Values) -> bool:
        """Change fields of one row; False if there is no such row."""

    @abstractmethod
    def fenced(
        self, row_id: int, owner_id: str, lease: int | None, expect: str | None, values: Values
    ) -> bool:
        """Change a row only while `owner_id` holds it (under `lease`, unless None) and its
        status is `expect` (unless None)."""

    @abstractmethod
    def claim(self, row_id: int, owner_id: str, fetch: bool = False) -> Row | None:
        """Take a row for an owner (see `Ledger.claim`); KeyError if there is no such row."""

    @abstractmethod
    def recent(self, status: str, limit: int) -> list[Row]:
        """The newest `limit` rows in `status` (by an index), oldest first."""

    @abstractmethod
    def clock_ms(self) -> int:
        """The database's time now, as epoch milliseconds."""

    @abstractmethod
    def get(self, row_id: int) -> Row | None:
        """One row, or None."""

    @abstractmethod
    def rows(self, where: dict[str, list[Any]]) -> list[Row]:
        """Rows where every column holds one of its stored values (one value: NULL matches
        None; several: any of them), by id."""

    @abstractmethod
    def find(self, experiment: str, fingerprint: str) -> Row | None:
        """The latest reusable row with this request in this experiment."""

    @abstractmethod
    def count(self, experiment: str | None = None) -> int:
        """How many submissions there are (in one experiment)."""

    @abstractmethod
    def latest(self, limit: int, experiment: str | None) -> list[Row]:
        """The newest `limit` rows (in one experiment), oldest first: an index read of
        `limit` rows, however long the ledger."""

    # ---- owners ------------------------------------------------------------------------------
    @abstractmethod
    def register(self, owner: Owner) -> None:
        """Announce a live owner (its beat is now)."""

    @abstractmethod
    def beat(self, owner: Owner) -> None:
        """The owner is still alive (re-registered if its row was removed)."""

    @abstractmethod
    def retire(self, owner: Owner) -> None:
        """The owner closed: forget it and its requests for slots."""

    @abstractmethod
    def live_owners(self) -> set[str]:
        """Ids of the owners still alive (`_owners.live`)."""

    # ---- credits -----------------------------------------------------------------------------
    @abstractmethod
    def spent(self, experiment: str | None, base_url: str | None) -> int:
        """Credits charged on completed rows."""

    @abstractmethod
    def committed(self, experiment: str | None, base_url: str | None) -> int:
        """Credits charged plus estimates still held (see `Ledger.committed`)."""

    @abstractmethod
    def reserved(self, base_url: str | None) -> int:
        """Estimates of rows the server may be running (SENT)."""

    @abstractmethod
    def set_budget(
        self, kind: str, name: str, credits: int | None, period: str | None, set_by: str
    ) -> None:
        """Set or (None) remove a budget of `kind` ('experiment' or 'user'), and record the
        change (who, when, what) in the budget history, in one write transaction."""

    @abstractmethod
    def budget(self, kind: str, name: str) -> Row | None:
        """A budget as it stands (credits, period, set_by), or None."""

    @abstractmethod
    def budget_changes(self) -> list[Row]:
        """Every budget change, oldest first: kind, name, credits, period, set_by, at (ms)."""

    @abstractmethod
    def remaining(self, kind: str, name: str) -> int | None:
        """Budget minus committed (within its period), read in one snapshot; None without."""

    @abstractmethod
    def check_budget(self, experiment: str, cost: int, user: str | None) -> None:
        """Raise BudgetExceededError if `cost` would overspend the experiment's or the user's
        budget: the rule an insert enforces, read in one snapshot without a lock."""

    @abstractmethod
    def account_moves(
        self, account: str, row_id: int, since: int | None, lost_within: float
    ) -> tuple[int, int, dict[int, tuple[str, int, int | None, str | None]]]:
        """In one snapshot: the top revision, the highest row id, and the account's other rows
        that are unfinished, ended unclear (SEND_FAILED, UNKNOWN) and submitted within
        `lost_within` seconds by the database's clock, or (with `since`) written since
        revision `since`, as {id: (status, estimated_credits, credits_used, settled)}."""

    @abstractmethod
    def add_baseline(self, credits: int, available: int, base_url: str | None) -> None:
        """Record the account's balance now beside what the ledger has seen spent."""

    @abstractmethod
    def baseline(self, base_url: str | None) -> Row | None:
        """The latest baseline for a server: at (ms), credits, available, ledger_spent."""

    # ---- votes -------------------------------------------------------------------------------
    @abstractmethod
    def vote(self, experiment: str, winner: int, losers: list[int], at_ms: int) -> None:
        """One ballot; KeyError naming a row that does not exist."""

    @abstractmethod
    def retract_vote(self, ballot: int) -> bool:
        """Delete a ballot; False if there is none."""

    @abstractmethod
    def votes(self, experiment: str | None) -> list[Row]:
        """Vote rows (experiment, ballot, winner, loser, at as ms), oldest first."""

    # ---- the frame behind .df ----------------------------------------------------------------
    @abstractmethod
    def read_frame(self, read: Callable[[FrameSource], T]) -> T:
        """`read(source)` inside one consistent read (`_cache.refresh`)."""

    @abstractmethod
    def save_snapshot(self, rev: int, generation: int, rows: int, fmt: str, data: bytes) -> bool:
        """Store a frame snapshot unless rows were deleted since; False if skipped."""

    # ---- the account's slots -----------------------------------------------------------------
    @abstractmethod
    def acquire_slot(self, account: str, owner: Owner, user: str, job_row: int, limit: int) -> bool:
        """Whether `job_row` holds one of the account's slots (see `Ledger.acquire_slot`)."""

    @abstractmethod
    def release_slot(self, account: str, job_row: int) -> bool:
        """Give back a slot (or withdraw the request); False if `job_row` held none."""

    @abstractmethod
    def account_limit(self, account: str) -> int | None:
        """The account's stored limit of tasks at once, or None."""

    @abstractmethod
    def set_account_limit(self, account: str, limit: int) -> None:
        """Set the account's limit (and grant any slots it frees)."""

    @abstractmethod
    def slots(self, account: str) -> dict[str, list[Row]]:
        """The account's leases that count and its standing waits, in grant order."""

    @abstractmethod
    def announce(self, account: str) -> None:
        """Wake every listener for this account (a slot freed, a task finished)."""

    @abstractmethod
    def listen(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call `callback(account)` on every announcement; returns a function that stops."""

    # ---- closing -----------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release connections (idempotent)."""


__all__ = ["FrameSource", "Row", "Store", "Values"]
