"""The ledger's tables and the rules for what may go into them (stdlib only).

Times are stored as integer milliseconds since the epoch (UTC): exact, compact and quick to turn
into `datetime64[ns, UTC]`. Every write bumps the row's `rev` to one past the file's highest, so
a reader can fetch just the rows that changed since it last looked (triggers do the same for
writes made with plain SQL, so nothing is missed).
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

from ..api._status import CHARGED as _CHARGED
from ..api._status import RESUMABLE as _RESUMABLE
from ..api._status import SENT as _SENT
from ..api._status import JobStatus, names

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
    "owner": "TEXT",  # the live studio that moves this row on (see _owners.py)
    "account": "TEXT",  # a hash of the API key and server (api.account_id): never the key
    "file_host": "TEXT",  # the machine whose disk holds local_path
    "rev": "INTEGER NOT NULL DEFAULT 0",  # bumped on every write: lets .df reload only changes
}
FIELDS = tuple(name for name in COLUMNS if name != "rev")  # what log()/update() accept
SELECT = ", ".join(("id", *FIELDS))  # a row as the user sees it (no `rev`)
TIMES = ("submitted_at", "sent_at", "completed_at")
INTS = ("estimated_credits", "credits_used")
CATEGORIES = ("experiment", "label", "model", "mode", "status")
STATUSES = tuple(s.value for s in JobStatus)
IN_FLIGHT = names({s for s in JobStatus if not s.final})  # what a new kernel must resume
SENT = names(_SENT)  # what the server may be holding credits for
NOT_REUSABLE = tuple(s.value for s in JobStatus if not s.reusable)
HOLDS_CREDITS = tuple(s.value for s in JobStatus if s.holds_credits)
CHARGED = names(_CHARGED)
RESUMABLE = names(_RESUMABLE)
FAILED = ("FAILED", "SEND_FAILED", "UNKNOWN", "DOWNLOAD_FAILED")  # ended without a video
NEXT_REV = "(SELECT COALESCE(MAX(rev), 0) + 1 FROM submissions)"
# credits an experiment has spent or may have spent: what a budget is judged on (any SQL dialect)
COMMITTED = (
    "COALESCE(SUM(CASE "
    f"WHEN status IN ({', '.join(repr(s) for s in CHARGED)}) "
    "THEN COALESCE(credits_used, estimated_credits) "
    f"WHEN status IN ({', '.join(repr(s) for s in HOLDS_CREDITS)}) THEN estimated_credits "
    "ELSE 0 END), 0)"
)
REUSABLE = f"status NOT IN ({', '.join(repr(s) for s in NOT_REUSABLE)})"
FORBIDDEN = ("key", "authorization", "secret", "token", "password")
ALLOWED = frozenset(FIELDS)

TABLES = f"""
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())}
);
CREATE TABLE IF NOT EXISTS budgets (experiment TEXT PRIMARY KEY, credits INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS baselines (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, credits INTEGER NOT NULL,
    available INTEGER NOT NULL, ledger_spent INTEGER NOT NULL, base_url TEXT
);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, ballot INTEGER NOT NULL,
    winner INTEGER NOT NULL, loser INTEGER NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS owners (
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL, beat_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS df_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), rev INTEGER NOT NULL, generation INTEGER NOT NULL,
    rows INTEGER NOT NULL, format TEXT NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS slot_accounts (account TEXT PRIMARY KEY, slot_limit INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS slot_leases (
    account TEXT NOT NULL, job_row INTEGER NOT NULL, owner TEXT NOT NULL, user_name TEXT NOT NULL,
    granted_at INTEGER NOT NULL, PRIMARY KEY (account, job_row)
);
CREATE TABLE IF NOT EXISTS slot_waits (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, user_name TEXT NOT NULL,
    job_row INTEGER NOT NULL, owner TEXT NOT NULL, enqueued_at INTEGER NOT NULL,
    UNIQUE (account, job_row)
);
CREATE TABLE IF NOT EXISTS slot_users (
    account TEXT NOT NULL, user_name TEXT NOT NULL, turn INTEGER NOT NULL,
    PRIMARY KEY (account, user_name)
);
"""
# after `migrate`, which adds the columns these name to a file from an older version
EXTRAS = f"""
CREATE INDEX IF NOT EXISTS by_fingerprint ON submissions (experiment, fingerprint);
CREATE INDEX IF NOT EXISTS by_task ON submissions (task_id);
CREATE INDEX IF NOT EXISTS by_status ON submissions (status);
CREATE INDEX IF NOT EXISTS by_rev ON submissions (rev);
CREATE INDEX IF NOT EXISTS by_owner ON submissions (owner);
CREATE TRIGGER IF NOT EXISTS rev_on_insert AFTER INSERT ON submissions WHEN NEW.rev = 0
BEGIN
    UPDATE submissions SET rev = {NEXT_REV} WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS rev_on_update AFTER UPDATE ON submissions WHEN NEW.rev = OLD.rev
BEGIN
    UPDATE submissions SET rev = {NEXT_REV} WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS generation_on_delete AFTER DELETE ON submissions
BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'generation';
    DELETE FROM df_snapshot;
END;
"""


def statements(script: str) -> list[str]:
    """Split a schema script into complete statements (trigger bodies kept whole)."""
    out: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if pending.strip(" \n;") and sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out


# 1: the first stage's file; 2: owned rows (owner column, owners table); 3: the account's slots
# (slot_accounts, slot_leases, slot_waits, slot_users); 4: account and file_host columns
SCHEMA_VERSION = 4


def migrate(db: sqlite3.Connection) -> int:
    """Bring a file written by an older version up to this one (inside a write); its version.

    Each step only adds (columns, tables, indexes), so an older file opens and keeps its rows.
    A file from a newer version is refused rather than half-understood.
    """
    found = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    version = int(found[0]) if found else 1
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"it was written by a newer seedance_nb (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}): upgrade seedance_nb"
        )
    wanted = {
        "submissions": {n: k.replace(" NOT NULL", "") for n, k in COLUMNS.items()},
        "baselines": {"base_url": "TEXT"},
    }
    for table, columns in wanted.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return SCHEMA_VERSION


# ---- values going in ----------------------------------------------------------------------------
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


def checked(fields: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Column names and storable values; refuse unknown columns and anything like a secret."""
    key = os.environ.get("SEEDANCE_API_KEY", "")
    key = key if len(key) >= 8 else ""
    names, values = [], []
    for name, value in fields.items():
        if name not in ALLOWED:
            if any(word in name.lower() for word in FORBIDDEN):
                raise ValueError(f"{name}: the ledger never stores credentials")
            raise ValueError(f"{name}: not a ledger column (columns: {', '.join(FIELDS)})")
        names.append(name)
        values.append(storable(name, value, key))
    return names, values


def storable(name: str, value: Any, key: str = "") -> Any:
    """One field's value as SQLite stores it, checked; `key` (the API key) is blanked out."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return None
    if name in TIMES:
        return to_ms(value, name)
    if name == "params":
        return params_text(value, key)
    if name in INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                as_int = int(value)
            except (TypeError, ValueError):
                as_int = None
            if as_int is None or as_int != value:
                raise ValueError(f"{name}: a whole number of credits, not {value!r}")
            value = as_int
        return value
    if name == "status" and value not in STATUSES:
        raise ValueError(f"status: {value!r} is not one of {', '.join(STATUSES)}")
    if not isinstance(value, str):
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        else:
            raise ValueError(f"{name}: text expected, not {type(value).__name__}")
    return value.replace(key, "***") if key and key in value else value


def params_text(value: Any, key: str = "") -> str:
    """The wire request as JSON text; refuse anything carrying a credential."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("params: JSON text of the wire request expected") from None
    else:
        parsed = value
        value = json.dumps(value)
    _no_secret_keys(parsed)
    if key and key in value:
        raise ValueError("params: the ledger never stores credentials")
    return value


def _no_secret_keys(value: Any, where: str = "params") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            squashed = str(key).lower().replace("_", "").replace("-", "")
            if any(word in squashed for word in ("apikey", "authorization", "secret", "password")):
                raise ValueError(f"{where}.{key}: the ledger never stores credentials")
            _no_secret_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _no_secret_keys(item, where)


def to_ms(value: Any, name: str = "time") -> int:
    """A timezone-aware datetime (or ISO-8601 text with an offset) as epoch milliseconds."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: not an ISO-8601 time: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: a timezone-aware datetime expected, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: times must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return (value - EPOCH) // MS


def from_ms(ms: int | None) -> datetime | None:
    """Epoch milliseconds back to a UTC datetime (exactly)."""
    return None if ms is None else EPOCH + ms * MS


def decoded(names: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    """One row as a dict, times as timezone-aware datetimes."""
    out = dict(zip(names, row, strict=True))
    for name in TIMES:
        if name in out:
            out[name] = from_ms(out[name])
    return out
