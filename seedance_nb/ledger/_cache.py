"""The frame behind `Ledger.df`: kept in memory, refreshed from changed rows, snapshotted.

Every write gives a row a `rev` above the ones a reader has seen, so a refresh reads only rows
with a higher `rev` than the frame covers. A new kernel starts from a columnar snapshot (Arrow
IPC) stored in the ledger when one still describes the rows (same `generation`: no row deleted
since), and reads only the rows changed after it; a read that had to fetch many rows one by one
stores a fresh snapshot. None of this knows which backend it reads: a `FrameSource` gives one
consistent read, whatever the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _frame
from ._schema import FIELDS

if TYPE_CHECKING:
    import pandas as pd

    from ._store import FrameSource, Store

SNAPSHOT_ROWS = 5_000  # rows read one by one since the last snapshot before writing a new one
NAMES = ["id", *FIELDS]


@dataclass
class Cache:
    """The last frame built, what it covers (`rev`, `generation`), rows read since a snapshot."""

    frame: pd.DataFrame
    rev: int
    generation: int
    unsaved: int


def refresh(source: FrameSource, cache: Cache | None) -> Cache:
    """`cache` brought up to date from one consistent read.

    Nothing changed costs two index lookups on SQLite (the generation and the highest `rev`),
    one more indexed query on PostgreSQL.
    """
    generation, top = source.state()
    from_snapshot = False
    if cache is None or cache.generation != generation or cache.rev > top:
        cache = load_snapshot(source, generation, top)
        from_snapshot = cache is not None
    if cache is not None and cache.rev == top and source.exact and not from_snapshot:
        return cache
    rows = source.every() if cache is None else source.changed(cache.rev)
    if cache is not None and not rows and not from_snapshot:
        return Cache(cache.frame, top, generation, cache.unsaved)
    changed = _frame.build(NAMES, rows)
    frame = _frame.merge(cache.frame if cache is not None else None, changed)
    unsaved = (cache.unsaved if cache is not None else 0) + len(changed)
    if from_snapshot and len(frame) != source.count():
        frame = _frame.build(NAMES, source.every())  # start over
        unsaved = len(frame)
    return Cache(frame, top, generation, unsaved)


def load_snapshot(source: FrameSource, generation: int, top: int) -> Cache | None:
    """The snapshot stored in the ledger, if it is readable and still describes the rows."""
    row = source.snapshot()
    if row is None or row[1] != generation or row[0] > top or row[3] != _frame.FORMAT:
        return None
    frame = _frame.decode(row[4])
    if frame is None or len(frame) != row[2]:
        return None
    return Cache(frame, int(row[0]), generation, 0)


def save_snapshot(store: Store, cache: Cache) -> bool:
    """Store the frame for the next kernel; skipped if another kernel is writing."""
    blob = _frame.encode(cache.frame)
    if blob is None:
        return False
    return store.save_snapshot(cache.rev, cache.generation, len(cache.frame), _frame.FORMAT, blob)
