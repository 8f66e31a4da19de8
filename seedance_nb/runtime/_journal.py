"""Task ids the ledger could not take (a full disk at close), kept in a small journal file.

A studio that closes with row writes still unrecorded keeps retrying for a bounded time; what
still fails is appended here, beside the outputs, one JSON line per row, and the next studio
replays it into the ledger. A task id is money: it must outlive the kernel that got it.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..api import JobStatus
from ..ledger import Fence, Ledger

log = logging.getLogger("seedance_nb")
NAME = ".seedance-journal.jsonl"


def path(outputs: Path) -> Path:
    return outputs / NAME


def write(outputs: Path, entries: list[tuple[int, Fence | None, dict[str, Any]]]) -> Path:
    """Append the unrecorded writes (row id, fence, fields) and sync them to the disk."""
    file = path(outputs)
    file.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for row_id, fence, fields in entries:
        entry = {
            "row": row_id,
            "fence": list(fence) if fence is not None else None,
            "fields": {k: _plain(v) for k, v in fields.items()},
        }
        lines.append(json.dumps(entry) + "\n")
    with open(file, "a", encoding="utf-8") as out:
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    return file


def replay(outputs: Path, ledger: Ledger) -> list[str]:
    """Write the journal's entries into the ledger; the task ids recorded. Entries that still
    cannot be written stay in the journal for the next studio.

    An entry is written with its fence while that still holds; otherwise only a task id the
    row lacks is filled in (with its send time), and a row left SENDING or SEND_FAILED becomes
    PENDING, so `resume()` follows the task instead of treating it as never answered.
    """
    file = path(outputs)
    if not file.is_file():
        return []
    done: list[str] = []
    left: list[str] = []
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            recorded = _apply(ledger, entry)
        except Exception as exc:  # still failing (or unreadable): keep it for the next studio
            log.warning("journal entry not replayed yet: %s", exc)
            left.append(line + "\n")
            continue
        if recorded:
            done.append(recorded)
    if left:
        file.write_text("".join(left), encoding="utf-8")
    else:
        file.unlink()
    return done


def _apply(ledger: Ledger, entry: dict[str, Any]) -> str | None:
    row_id = int(entry["row"])
    fields = {k: _parsed(k, v) for k, v in entry["fields"].items()}
    fence = Fence(*entry["fence"]) if entry.get("fence") else None
    if fence is not None and ledger.write(row_id, fence, **fields):
        return fields.get("task_id")
    task_id = fields.get("task_id")
    row = ledger.get(row_id)
    if task_id and not row.get("task_id"):
        repair: dict[str, Any] = {"task_id": task_id, "sent_at": fields.get("sent_at")}
        if JobStatus(row["status"]) in (JobStatus.SENDING, JobStatus.SEND_FAILED):
            repair.update(status=JobStatus.PENDING.value, error=None)
        ledger.update(row_id, **repair)
        return str(task_id)
    return None


def _plain(value: Any) -> Any:
    return {"datetime": value.isoformat()} if isinstance(value, datetime) else value


def _parsed(name: str, value: Any) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return datetime.fromisoformat(value["datetime"])
    return value
