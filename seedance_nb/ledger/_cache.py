"""The frame behind `Ledger.df`: kept in memory, refreshed from changed rows, snapshotted.

Every write bumps a row's `rev`, so a refresh reads only rows with a higher `rev` than the
frame covers. A new kernel starts from a columnar snapshot (Arrow IPC) stored in the file when
one still describes the rows (same `generation`: no row deleted since), and reads only the rows
changed after it; a read that had to fetch many rows one by one stores a fresh snapshot.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _frame
from ._schema import FIELDS, SELECT

if TYPE_CHECKING:
    import pandas as pd

SNAPSHOT_ROWS = 5_000  # rows read one by one since the last snapshot before writing a new one
NAMES = ["id", *FIELDS]
# the rev index, not a rowid scan: SQLite would otherwise scan every row to skip a sort
CHANGED = (
    f"SELECT * FROM (SELECT {SELECT} FROM submissions INDEXED BY by_rev WHERE rev > ?) ORDER BY id"
)
EVERY = f"SELECT {SELECT} FROM submissions ORDER BY id"


@dataclass
class Cache:
    """The last frame built, what it covers (`rev`, `generation`), rows read since a snapshot."""

    frame: pd.DataFrame
    rev: int
    generation: int
    unsaved: int


def refresh(db: sqlite3.Connection, cache: Cache | None) -> Cache:
    """`cache` brought up to date in one consistent read (the caller holds db's lock).

    Nothing changed costs two index lookups: the generation and the highest `rev`.
    """
    db.execute("BEGIN")
    try:
        found = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(found[0]) if found else 0
        top = int(db.execute("SELECT COALESCE(MAX(rev), 0) FROM submissions").fetchone()[0])
        from_snapshot = False
        if cache is None or cache.generation != generation or cache.rev > top:
            cache = load_snapshot(db, generation, top)
            from_snapshot = cache is not None
        if cache is not None and cache.rev == top and not from_snapshot:
            return cache
        if cache is None:
            rows = db.execute(EVERY).fetchall()
        else:
            rows = db.execute(CHANGED, (cache.rev,)).fetchall()
        changed = _frame.build(NAMES, rows)
        frame = _frame.merge(cache.frame if cache is not None else None, changed)
        unsaved = (cache.unsaved if cache is not None else 0) + len(changed)
        if (
            from_snapshot
            and len(frame) != db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        ):
            frame = _frame.build(NAMES, db.execute(EVERY).fetchall())  # start over
            unsaved = len(frame)
        return Cache(frame, top, generation, unsaved)
    finally:
        db.execute("COMMIT")


def load_snapshot(db: sqlite3.Connection, generation: int, top: int) -> Cache | None:
    """The snapshot stored in the file, if it is readable and still describes the rows."""
    row = db.execute(
        "SELECT rev, generation, rows, format, data FROM df_snapshot WHERE id = 1"
    ).fetchone()
    if row is None or row[1] != generation or row[0] > top or row[3] != _frame.FORMAT:
        return None
    frame = _frame.decode(row[4])
    if frame is None or len(frame) != row[2]:
        return None
    return Cache(frame, int(row[0]), generation, 0)


def save_snapshot(db: sqlite3.Connection, cache: Cache, busy_ms: int) -> bool:
    """Store the frame in the file for the next kernel; skipped if another kernel is writing.

    `db` is the write connection, its lock held by the caller; `busy_ms` its usual timeout.
    """
    blob = _frame.encode(cache.frame)
    if blob is None:
        return False
    db.execute("PRAGMA busy_timeout = 0")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False  # busy: a later read will try again
    finally:
        db.execute(f"PRAGMA busy_timeout = {busy_ms}")
    try:
        now = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if now is None or now[0] != cache.generation:  # a row was deleted meanwhile
            db.execute("ROLLBACK")
            return False
        db.execute(
            "INSERT INTO df_snapshot VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
            "SET rev = excluded.rev, generation = excluded.generation, rows = excluded.rows, "
            "format = excluded.format, data = excluded.data "
            "WHERE excluded.rev > df_snapshot.rev OR excluded.generation > df_snapshot.generation",
            (cache.rev, cache.generation, len(cache.frame), _frame.FORMAT, blob),
        )
        db.execute("COMMIT")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return False
    return True
