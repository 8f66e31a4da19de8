"""The storage interface under `Ledger`: the few primitives a backend provides (stdlib only).

`Ledger` checks values, builds the pandas views and keeps its public methods; a `Store` only
stores. Values reach a store already checked by `_schema.checked` (times as epoch milliseconds),
and rows come back as dicts with times as timezone-aware datetimes (`_schema.decoded`). Each
method that changes more than one thing does it in one write transaction, so any number of
studios in any number of processes (and, on PostgreSQL, machines) may share one store.

Two backends: `SQLiteStore` (one file, the embedded default) and `PostgresStore` (a team).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ._owners import Owner

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
        budget: tuple[str, int] | None = None,
    ) -> tuple[int, Row | None]:
        """Insert one row: `(id, None)`; or, with `dedupe=(experiment, fingerprint)`, return
        `(id, row)` of the latest reusable row with that request instead. With
        `budget=(experiment, cost)`, raise BudgetExceededError if `cost` would overspend that
        experiment's budget. The check(s) and the insert are one write transaction."""

    @abstractmethod
    def insert_many(self, rows: Sequence[Values]) -> None:
        """Insert many rows in one transaction (bulk loads)."""

    @abstractmethod
    def update(self, row_id: int, values: Values) -> bool:
        """Change fields of one row; False if there is no such row."""

    @abstractmethod
    def move(self, row_id: int, owner_id: str, expect: str, values: Values) -> bool:
        """Change a row only while `owner_id` holds it and its status is `expect`."""

    @abstractmethod
    def claim(self, row_id: int, owner_id: str) -> Row | None:
        """Take a row for an owner (see `Ledger.claim`); KeyError if there is no such row."""

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
    def count(self) -> int:
        """How many submissions there are."""

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
    def set_budget(self, experiment: str, credits: int | None) -> None:
        """Set or (None) remove an experiment's budget."""

    @abstractmethod
    def budget(self, experiment: str) -> int | None:
        """An experiment's budget, or None."""

    @abstractmethod
    def remaining(self, experiment: str) -> int | None:
        """Budget minus committed, read in one snapshot; None with no budget."""

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
    def frame_read(self) -> AbstractContextManager[FrameSource]:
        """One consistent read for `_cache.refresh`."""

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


def where_sql(
    where: dict[str, list[Any]], mark: str, names: Callable[[str], str] = str
) -> tuple[str, list[Any]]:
    """A WHERE clause for `Store.rows` with `mark` as the placeholder ("?" or "%s")."""
    clauses: list[str] = []
    args: list[Any] = []
    for name, stored in where.items():
        column = names(name)
        if not stored:
            clauses.append("FALSE")
        elif len(stored) == 1 and stored[0] is None:
            clauses.append(f"{column} IS NULL")
        elif len(stored) == 1:
            clauses.append(f"{column} = {mark}")
            args.append(stored[0])
        else:
            clauses.append(f"{column} IN ({', '.join([mark] * len(stored))})")
            args.extend(stored)
    return " AND ".join(clauses) or "TRUE", args


__all__ = ["FrameSource", "Row", "Store", "Values", "where_sql"]
