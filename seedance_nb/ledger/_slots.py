"""The account's slots shared by a team: which leases still count, and who is served next.

Pure functions (stdlib only); both backends call them inside one write transaction per account,
so the decision and its effect are atomic however many studios ask at once.

A **lease** is one task the account may be running: granted to a job row, held by an owner (a
studio with a heartbeat). It counts against the account's limit while the server may hold the
task (its row is SENDING, PENDING or PROCESSING: the server counts it whoever owns the row), or
while its owner lives and the row has not been sent yet (QUEUED, or no ledger row). Anything else
(the task finished on the server, the row was cancelled, or a queued row's owner died) has
expired and frees the slot.

A **wait** is a request for a slot. When slots are scarce they go round-robin between users: the
user holding the fewest counting leases goes first, ties go to the user served longest ago (its
`turn`), then to the oldest request; within one user requests are served first in, first out.
"""

from __future__ import annotations

import getpass
import heapq
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api._client import account_id  # noqa: F401  (re-exported: one definition)
from ..api._status import UNSENT as _UNSENT
from ..api._status import names
from ._schema import SENT

CHANNEL = "seedance_slots"  # PostgreSQL NOTIFY channel; the payload: see `payload`
UNSENT = names(_UNSENT)  # a row granted a slot but not sent yet


@dataclass(frozen=True)
class Lease:
    """One slot held for `row` by `owner` on behalf of `user`; `status` is the row's, if any."""

    row: int
    owner: str
    user: str
    status: str | None = None


@dataclass(frozen=True, order=True)
class Wait:
    """One request for a slot, ordered by when it was made (`enqueued`, then `seq`)."""

    enqueued: int
    seq: int
    user: str = field(compare=False)
    row: int = field(compare=False)
    owner: str = field(default="", compare=False)
    status: str | None = field(default=None, compare=False)


@dataclass
class Plan:
    """What one transaction does: leases to drop, waits to drop, waits to turn into leases."""

    expired: list[Lease]
    dropped: list[Wait]
    granted: list[Wait]
    held: list[Lease]  # the leases that still count, before the grants


def payload(account: str, owner: str = "") -> str:
    """A wake-up's words: `<account>:<owner id>` when a slot was granted to that owner's
    studio (only it need wake), `<account>` when any of the account's studios may go."""
    return f"{account}:{owner}" if owner else account


def wakes(said: str, account: str, owner: str) -> bool:
    """Whether a wake-up `said` concerns the studio of `owner` on `account`; "" (the listener
    reconnected: anything may have changed) concerns every studio."""
    if not said:
        return True
    to_account, _, to_owner = said.partition(":")
    return to_account == account and (not to_owner or to_owner == owner)


def counts(lease: Lease, alive: set[str]) -> bool:
    """Whether a lease still takes one of the account's slots."""
    if lease.status in SENT:
        return True  # the server may be running it, whoever owns the row now
    return lease.owner in alive and (lease.status is None or lease.status in UNSENT)


def stands(wait: Wait, alive: set[str]) -> bool:
    """Whether a request for a slot is still wanted (its owner lives, its row is still queued)."""
    return wait.owner in alive and (wait.status is None or wait.status in UNSENT)


def fair_order(
    waits: Iterable[Wait],
    held: Mapping[str, int] | None = None,
    turns: Mapping[str, int] | None = None,
) -> list[Wait]:
    """Every wait in the order slots should be granted: round-robin between users, FIFO within.

    `held` is how many counting leases each user has now, `turns` when each user was last served
    (a higher number is more recent). The next slot goes to the user with the fewest leases
    (held plus those granted earlier in this order), then the one served longest ago, then the one
    whose oldest request is oldest. So one user's 100-job sweep never starves another's single job.
    """
    held = held or {}
    turns = turns or {}
    queues: dict[str, list[Wait]] = {}
    for wait in sorted(waits):
        queues.setdefault(wait.user, []).append(wait)
    if not queues:
        return []
    clock = max(turns.values(), default=0)
    # a user's key: (slots held, last served, its oldest request, name); never-served users first
    heap = [
        (held.get(user, 0), turns.get(user, -1), queue[0], user) for user, queue in queues.items()
    ]
    heapq.heapify(heap)
    position = dict.fromkeys(queues, 0)
    order: list[Wait] = []
    while heap:
        count, _, _, user = heapq.heappop(heap)
        queue = queues[user]
        order.append(queue[position[user]])
        position[user] += 1
        clock += 1
        if position[user] < len(queue):
            heapq.heappush(heap, (count + 1, clock, queue[position[user]], user))
    return order


def plan(
    leases: Sequence[Lease],
    waits: Sequence[Wait],
    alive: set[str],
    limit: int,
    turns: Mapping[str, int] | None = None,
) -> Plan:
    """Which leases expire, which waits are dropped, and which waits get the free slots."""
    held = [lease for lease in leases if counts(lease, alive)]
    expired = [lease for lease in leases if not counts(lease, alive)]
    holding = {lease.row for lease in held}
    standing = [w for w in waits if stands(w, alive) and w.row not in holding]
    dropped = [w for w in waits if not stands(w, alive) or w.row in holding]
    per_user: dict[str, int] = {}
    for lease in held:
        per_user[lease.user] = per_user.get(lease.user, 0) + 1
    free = max(0, limit - len(held))
    granted = fair_order(standing, per_user, turns)[:free]
    return Plan(expired, dropped, granted, held)


def view(
    leases: Sequence[Lease],
    waits: Sequence[Wait],
    alive: set[str],
    turns: Mapping[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Leases that count, and standing waits in the order they would be served."""
    held = [lease for lease in leases if counts(lease, alive)]
    per_user: dict[str, int] = {}
    for lease in held:
        per_user[lease.user] = per_user.get(lease.user, 0) + 1
    holding = {lease.row for lease in held}
    standing = [w for w in waits if stands(w, alive) and w.row not in holding]
    return {
        "leases": [{"job_row": x.row, "owner": x.owner, "user": x.user} for x in held],
        "waits": [
            {"job_row": w.row, "owner": w.owner, "user": w.user}
            for w in fair_order(standing, per_user, turns)
        ],
    }


def current_user() -> str:
    """Who is asking for slots, for fair share: SEEDANCE_USER, else the OS user."""
    name = os.environ.get("SEEDANCE_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def check_limit(limit: int) -> int:
    """The account's limit of tasks at once, checked (a positive whole number)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit: the account's tasks at once, a whole number of at least 1")
    return limit


__all__ = [
    "CHANNEL",
    "Lease",
    "Plan",
    "Wait",
    "check_limit",
    "counts",
    "fair_order",
    "payload",
    "plan",
    "view",
    "wakes",
]
