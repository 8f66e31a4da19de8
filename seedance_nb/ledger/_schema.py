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
from datetime import datetime, timedelta, timezone
from typing import Any

from ..api._status import CHARGED as _CHARGED
from ..api._status import FAILED as _FAILED
from ..api._status import IN_FLIGHT as _IN_FLIGHT
from ..api._status import RESUMABLE as _RESUMABLE
from ..api._status import SENT as _SENT
from ..api._status import JobStatus, names

# one schema for both backends: {INT}, {TIME}, {BLOB} and {KEY} are filled in by the dialect
# (`_sql.Dialect.types`); times are epoch ms on SQLite and timestamptz on PostgreSQL
COLUMNS: dict[str, str] = {
    "experiment": "TEXT NOT NULL",
    "label": "TEXT",
    "task_id": "TEXT",
    "model": "TEXT",
    "mode": "TEXT",
    "prompt": "TEXT",
    "params": "TEXT",  # the wire request (model, inputs, callBackUrl) as JSON; never a key
    "estimated_credits": "{INT} NOT NULL DEFAULT 0",
    "credits_used": "{INT}",
    "status": f"TEXT NOT NULL DEFAULT '{JobStatus.QUEUED.value}'",
    "error": "TEXT",
    "submitted_at": "{TIME}",
    "sent_at": "{TIME}",
    "completed_at": "{TIME}",
    "video_url": "TEXT",
    "local_path": "TEXT",
    "fingerprint": "TEXT",
    "base_url": "TEXT",
    "owner": "TEXT",  # the live studio that moves this row on (see _owners.py)
    "account": "TEXT",  # a hash of the API key and server (api.account_id): never the key
    "file_host": "TEXT",  # the machine whose disk holds local_path
    "user_name": "TEXT",  # who submitted it (`current_user()`): per-user budgets, the report
    "settled": "TEXT",  # an unclear send settled by the balance: see runtime/_settle.py
    "lease": "{INT} NOT NULL DEFAULT 1",  # bumped each time the row changes hands (a fence)
    "rev": "{INT} NOT NULL DEFAULT 0",  # bumped on every write: lets .df reload only changes
}
FIELDS = tuple(n for n in COLUMNS if n not in ("rev", "lease"))  # what log()/update() accept
SELECT = ", ".join(("id", *FIELDS))  # a row as `.df` sees it (no `rev`, no `lease`)
TIMES = ("submitted_at", "sent_at", "completed_at")
INTS = ("estimated_credits", "credits_used")
CATEGORIES = ("experiment", "label", "model", "mode", "status")
STATUSES = tuple(s.value for s in JobStatus)
IN_FLIGHT = names(_IN_FLIGHT)  # what a new kernel must resume
SENT = names(_SENT)  # what the server may be holding credits for
NOT_REUSABLE = tuple(s.value for s in JobStatus if not s.reusable)
HOLDS_CREDITS = tuple(s.value for s in JobStatus if s.holds_credits)
CHARGED = names(_CHARGED)
RESUMABLE = names(_RESUMABLE)
FAILED = names(_FAILED)  # ended without a video
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

# every table, for both backends and any earlier version: created when missing, and any column
# missing from an older ledger added (`_sql.migrate`); only ever add to it
TABLES: dict[str, dict[str, str]] = {
    "submissions": {"id": "{KEY}", **COLUMNS},
    "budgets": {
        "experiment": "TEXT PRIMARY KEY",
        "credits": "{INT} NOT NULL",
        "period": "TEXT",
        "set_by": "TEXT",
        "set_at": "{TIME}",
    },
    "user_budgets": {
        "user_name": "TEXT PRIMARY KEY",
        "credits": "{INT} NOT NULL",
        "period": "TEXT",
        "set_by": "TEXT",
        "set_at": "{TIME}",
    },
    "budget_changes": {  # every budget set or removed, append-only: who, when, what
        "id": "{KEY}",
        "kind": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "credits": "{INT}",
        "period": "TEXT",
        "set_by": "TEXT NOT NULL",
        "at": "{TIME} NOT NULL",
    },
    "baselines": {
        "id": "{KEY}",
        "at": "{TIME} NOT NULL",
        "credits": "{INT} NOT NULL",
        "available": "{INT} NOT NULL",
        "ledger_spent": "{INT} NOT NULL",
        "base_url": "TEXT",
    },
    "votes": {
        "id": "{KEY}",
        "experiment": "TEXT NOT NULL",
        "ballot": "{INT} NOT NULL",
        "winner": "{INT} NOT NULL",
        "loser": "{INT} NOT NULL",
        "at": "{TIME} NOT NULL",
    },
    "meta": {"key": "TEXT PRIMARY KEY", "value": "{INT} NOT NULL"},
    "owners": {
        "id": "TEXT PRIMARY KEY",
        "host": "TEXT NOT NULL",
        "pid": "{INT} NOT NULL",
        "started_at": "{TIME} NOT NULL",
        "beat_at": "{TIME} NOT NULL",
        "boot_id": "TEXT NOT NULL DEFAULT ''",
        "pid_ns": "TEXT NOT NULL DEFAULT ''",
    },
    "df_snapshot": {
        "id": "INTEGER PRIMARY KEY CHECK (id = 1)",
        "rev": "{INT} NOT NULL",
        "generation": "{INT} NOT NULL",
        "rows": "{INT} NOT NULL",
        "format": "TEXT NOT NULL",
        "data": "{BLOB} NOT NULL",
    },
    "slot_accounts": {"account": "TEXT PRIMARY KEY", "slot_limit": "{INT} NOT NULL"},
    "slot_leases": {
        "account": "TEXT NOT NULL",
        "job_row": "{INT} NOT NULL",
        "owner": "TEXT NOT NULL",
        "user_name": "TEXT NOT NULL",
        "granted_at": "{TIME} NOT NULL",
        "": "PRIMARY KEY (account, job_row)",
    },
    "slot_waits": {
        "id": "{KEY}",
        "account": "TEXT NOT NULL",
        "user_name": "TEXT NOT NULL",
        "job_row": "{INT} NOT NULL",
        "owner": "TEXT NOT NULL",
        "enqueued_at": "{TIME} NOT NULL",
        "": "UNIQUE (account, job_row)",
    },
    "slot_users": {
        "account": "TEXT NOT NULL",
        "user_name": "TEXT NOT NULL",
        "turn": "{INT} NOT NULL",
        "": "PRIMARY KEY (account, user_name)",
    },
}
INDEXES = {
    "by_fingerprint": "submissions (experiment, fingerprint)",
    "by_task": "submissions (task_id)",
    "by_status": "submissions (status)",
    "by_status_id": "submissions (status, id)",  # the newest rows in one status (at start)
    "by_experiment_id": "submissions (experiment, id)",  # the newest rows of one experiment
    "by_rev": "submissions (rev)",
    "by_owner": "submissions (owner)",
    "by_user_name": "submissions (user_name)",
    "by_account_rev": "submissions (account, rev)",  # what moved in an account (settling)
    "slot_leases_by_owner": "slot_leases (owner)",
    "slot_waits_by_owner": "slot_waits (owner)",
}
# One version for both backends. SQLite files: 1 the first stage's; 2 owned rows; 3 the account's
# slots; 4 account and file_host. PostgreSQL: 1 owned rows; 2 slots; 3 account and file_host.
# 5 (both): fenced rows (submissions.lease), owners' boot_id and pid_ns, one schema.
# 6 (both): per-user budgets and budget history, submissions.user_name and .settled.
SCHEMA_VERSION = 6


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
    if "\x00" in value:  # PostgreSQL cannot store it: neither backend accepts it
        raise ValueError(f"{name}: text must not contain a NUL character")
    return value.replace(key, "***") if key and key in value else value


def params_text(value: Any, key: str = "") -> str:
    """The wire request as JSON text; refuse anything carrying a credential."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("params: text must not contain a NUL character")
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
