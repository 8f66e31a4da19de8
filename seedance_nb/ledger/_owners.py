"""Who owns an unfinished row: a live studio, known by its heartbeat (stdlib only).

Every studio registers an owner (host, pid, a random tag) and beats every `HEARTBEAT` seconds
from a thread of its own, so a busy cell that holds the kernel's event loop does not make it look
dead. An owner is gone when its last beat is older than `LEASE`, when its row was removed (the
studio closed), or at once when it ran on this host and its process no longer exists (a kernel
killed with -9). Rows of a gone owner may be claimed; rows of a live one never are.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass

HEARTBEAT = 2.0  # seconds between beats
LEASE = 15.0  # seconds without a beat after which an owner on another host counts as gone


@dataclass(frozen=True)
class Owner:
    """One studio's identity in the ledger."""

    id: str
    host: str
    pid: int

    @classmethod
    def new(cls) -> Owner:
        host = socket.gethostname() or "localhost"
        pid = os.getpid()
        return cls(f"{host}/{pid}/{secrets.token_hex(4)}", host, pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def live(rows: Iterable[tuple[str, str, int, int]], now_ms: int) -> set[str]:
    """The owner ids still alive among `(id, host, pid, beat_ms)` rows."""
    here = socket.gethostname() or "localhost"
    alive = set()
    for owner_id, host, pid, beat_ms in rows:
        if now_ms - beat_ms > LEASE * 1000:
            continue
        if host == here and not pid_alive(pid):
            continue
        alive.add(owner_id)
    return alive
