"""Who owns an unfinished row: a live studio, known by its heartbeat (stdlib only).

Every studio registers an owner (a random id, with its host, pid, boot id and PID namespace) and
beats every `HEARTBEAT` seconds from a thread of its own, so a busy cell that holds the kernel's
event loop does not make it look dead. An owner is gone when its last beat is older than `LEASE`
by the database's clock, or when its row was removed (the studio closed). A missing process ends
the lease early only when it is provably this machine's and this PID namespace's (same host,
boot id and PID namespace): a shared hostname alone proves nothing (containers, `localhost`).
Rows of a gone owner may be claimed; rows of a live one never are.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from ..api._status import JobStatus

HEARTBEAT = 2.0  # seconds between beats
LEASE = 15.0  # seconds without a beat after which an owner counts as gone


@cache
def boot_id() -> str:
    """This machine's boot id (changes on every boot), or "" where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            return file.read().strip()
    except OSError:
        return ""


@cache
def pid_ns() -> str:
    """This process's PID namespace (e.g. "pid:[4026531836]"), or "" where there is none."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def hostname() -> str:
    return socket.gethostname() or "localhost"


@dataclass(frozen=True)
class Owner:
    """One studio's identity in the ledger: `id` is random, the rest only describes it."""

    id: str
    host: str
    pid: int
    boot_id: str = ""
    pid_ns: str = ""

    @classmethod
    def new(cls) -> Owner:
        return cls(secrets.token_hex(8), hostname(), os.getpid(), boot_id(), pid_ns())

    def beside(self, host: str, boot: str, ns: str) -> bool:
        """Whether an owner described so runs on this machine in this PID namespace (so its
        pid means the same process here)."""
        return bool(boot and ns) and (host, boot, ns) == (self.host, self.boot_id, self.pid_ns)


class Fence(NamedTuple):
    """Who may write a row: its owner, and the lease it holds (bumped when the row changes
    hands, so an owner that lost the row and came back writes nothing)."""

    owner: str
    lease: int


def row_fence(row: dict[str, Any]) -> Fence:
    """The fence of a row dict as `claim`, `get` or `log_once` return it."""
    return Fence(str(row["owner"]), int(row["lease"]))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists here (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def live(rows: Iterable[tuple[Any, ...]], now_ms: int) -> set[str]:
    """The owner ids still alive among `(id, host, pid, boot_id, pid_ns, beat_ms)` rows, judged
    against `now_ms` from the database's clock."""
    here = Owner("", hostname(), os.getpid(), boot_id(), pid_ns())
    alive = set()
    for owner_id, host, pid, boot, ns, beat_ms in rows:
        if now_ms - int(beat_ms) > LEASE * 1000:
            continue
        if here.beside(host, boot or "", ns or "") and not pid_alive(int(pid)):
            continue
        alive.add(owner_id)
    return alive


# what a fetch may take over: paid, and the video not (yet) safe; EXPIRED is gone for good
FETCHABLE = frozenset({JobStatus.COMPLETED, JobStatus.DOWNLOAD_FAILED, JobStatus.DOWNLOADING})


def take(
    row: dict[str, Any], owner_id: str, alive: set[str], fetch: bool
) -> tuple[str, int] | None:
    """The rule of `claim`, for both stores: (status, lease) the row gets when `owner_id` takes
    it, or None when it may not.

    An unfinished row is taken only when unowned, already ours, or its owner is gone; a final
    row needs nobody, so it is always taken. DOWNLOAD_FAILED becomes DOWNLOADING as it is taken,
    and with `fetch` so do COMPLETED and a gone owner's DOWNLOADING: whoever asks next sees the
    video in hand. The lease grows by one when the row changes hands.
    """
    status = JobStatus(row["status"])
    holder = row["owner"]
    if not status.final and holder not in (None, owner_id) and holder in alive:
        return None
    if status is JobStatus.DOWNLOAD_FAILED or (fetch and status in FETCHABLE):
        status = JobStatus.DOWNLOADING
    lease = int(row.get("lease") or 1) + (holder != owner_id)
    return status.value, lease
