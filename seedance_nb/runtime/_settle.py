"""Settling an unclear send by the account's own balance: pure decisions, no I/O, no clock.

The seed API has no list endpoint and no idempotency key, so when createTask ends with no clear
answer (a timeout, a cut connection, a 5xx) nobody can ask the server whether the task exists.
But ``/account/credits`` reports ``credits`` and ``availableCredits``, and the server reserves a
task's estimate the moment it creates it (``available`` falls; ``credits`` does not), charges it
at completion (``credits`` falls by the charge, the reservation goes) and gives it back when the
task fails. So two readings, one just before the send and one after it, tell whether this send
holds or spent its estimate, once every other move of the account in between is accounted for.

The other moves are the account's other rows in the shared ledger, earlier unclear sends
among them (their task may still run; the ledger never learns how it ends). The ledger lags the
server (a row it calls PROCESSING may have ended there), so each `Reading` is the balance
between two ledger pictures, ``first`` (just before) and ``last`` (just after), and each other
row is given every story its pictures allow: created before the first reading or after it,
ended before it, between the two readings or not yet, completed (charged) or failed (given
back), each story with what it moves (available, credits, reserved at the first reading). The
stories that hold exactly what the account held at the first reading (``credits - available``)
are weighed first: they assume nothing outside the ledger. Only if none fits are stories that
leave part of it to a task outside the ledger (one holding its reservation throughout) weighed.
A verdict needs every combination of stories that matches the balance to say the same about
this send:

* ``NOT_CHARGED``: nothing holds credits for this send (never created, or created and failed):
  safe to send again. It needs a reading taken `grace` seconds after the send ended, since a
  slow server may still create a task for a request whose connection it lost;
* ``CHARGED``: a task exists whose id we never got, holding (or charged) the estimate;
* ``AMBIGUOUS``: nothing concluded, because no combination matches (something outside this
  ledger moved the balance), or the answer still depends on rows whose outcome will not become
  known, or the deadline passed.

While the answer depends on other rows that are still moving (sent, being sent, or settling an
unclear send of their own), `decide` says `Wait`: the engine takes another reading when those
rows move in the ledger, so a busy account is settled as soon as its other tasks end, not
declared ambiguous at once. The engine takes the readings and keeps the time (seconds since the
send ended); this module only decides and words it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..api import _status
from ..api._status import JobStatus, Settled
from ._lifecycle import Next, Step

NOT_CHARGED = Settled.NOT_CHARGED
CHARGED = Settled.CHARGED
AMBIGUOUS = Settled.AMBIGUOUS
SETTLING = Settled.SETTLING

GRACE = 10.0  # seconds after an unclear send before "not charged" may be concluded
LIMIT = 900.0  # seconds of waiting for the account's other rows, after which: ambiguous
# an earlier unclear send (SEND_FAILED, UNKNOWN) may have a task still holding credits: the
# ledger shows it for this long after it was submitted (a day: any task has ended by then, and
# a writer's clock hours off is still covered)
LOST = 86_400.0
MAX_STORIES = 20_000  # combinations of other rows' stories kept, beyond which: ambiguous

_S = JobStatus
# a task exists on the server (created before the ledger wrote this status)
EXISTS = frozenset(
    {
        _S.PENDING,
        _S.PROCESSING,
        _S.DOWNLOADING,
        _S.COMPLETED,
        _S.DOWNLOAD_FAILED,
        _S.EXPIRED,
        _S.UNKNOWN,
    }
)
# the server is done with it (or never had it): its outcome will not change
ENDED = frozenset(
    {_S.DOWNLOADING, _S.COMPLETED, _S.DOWNLOAD_FAILED, _S.EXPIRED, _S.FAILED, _S.CANCELLED}
)
PAID = _status.CHARGED  # a task that was charged (its video may still be fetched)
NO_TASK = frozenset({_S.FAILED, _S.CANCELLED})  # nothing held: never created, or given back
# the ledger will say nothing more about it
QUIET = frozenset(ENDED | {_S.UNKNOWN, _S.SEND_FAILED})


@dataclass(frozen=True)
class Row:
    """Another row of the account as the ledger has it: status, estimate, what the server
    charged (None: not known), and, for an unclear send of its own, how it was settled."""

    status: str
    estimate: int = 0
    charge: int | None = None
    settled: str | None = None


@dataclass(frozen=True)
class Reading:
    """One look at the account: the balance (None: it could not be read) between two ledger
    pictures of its other rows that are unfinished or were written since the first reading
    (`first` just before the balance was read, `last` just after); the ledger's top revision
    at `first`, the account's highest row id at `last` (higher ids came later), and `at`, the
    seconds since the send ended (negative: before it)."""

    available: int | None
    credits: int | None
    first: Mapping[int, Row] = field(default_factory=dict)
    last: Mapping[int, Row] = field(default_factory=dict)
    top: int = 0
    newest: int = 0
    at: float = 0.0


@dataclass(frozen=True)
class Settlement:
    """What the balance says about one unclear send: `kind` is NOT_CHARGED, CHARGED or
    AMBIGUOUS; `text` is the evidence, for the job, its card and its row."""

    kind: str
    text: str
    credits: int = 0  # what the lost task holds (CHARGED), else 0

    @property
    def safe_to_resend(self) -> bool:
        return self.kind == NOT_CHARGED


@dataclass(frozen=True)
class Wait:
    """No verdict yet: read again once one of `rows` moves in the ledger, or at `at` seconds
    after the send (None: only when a row moves), whichever comes first."""

    why: str
    rows: tuple[int, ...] = ()
    at: float | None = None


Story = tuple[int, int, int]  # (change in available, change in credits, reserved at `before`)


def stories(rid: int, before: Reading, after: Reading, latest: Row | None) -> set[Story]:
    """Every story of another row between `before` and `after` that its ledger pictures allow,
    as what it moves; `latest` is the row as the ledger has it now (its outcome, if known)."""
    b1, b2 = before.first.get(rid), before.last.get(rid)
    a1, a2 = after.first.get(rid), after.last.get(rid)
    row = latest or a2 or a1 or b2 or b1
    assert row is not None
    r = row.estimate
    c = row.charge if row.charge is not None else r
    outcome = _outcome(row)
    made_before = _made_before(rid, b1, b2, before.newest)
    made_by = _made_by(a1, a2)
    ended = a1 is not None and _ended(a1)
    out: set[Story] = set()
    if True in made_before:
        sending = b2 is not None and _status(b2) not in EXISTS
        if not (sending and _answered(row)):
            # ended before `before` (the ledger had not seen it yet). Not for a row being sent
            # at `before` whose createTask answered: a task is not rendered and ended before
            # its own createTask has answered
            out.add((0, 0, 0))
        if "paid" in outcome:
            out.add((r - c, -c, r))  # ended in between, charged
        if "failed" in outcome:
            out.add((r, 0, r))  # ended in between, given back
        if not ended:
            out.add((0, 0, r))  # still running at `after`
    if False in made_before:
        if True in made_by:
            if "paid" in outcome:
                out.add((-c, -c, 0))
            if "failed" in outcome:
                out.add((0, 0, 0))
            if not ended:
                out.add((-r, 0, 0))  # created in between, still running
        if False in made_by:
            out.add((0, 0, 0))  # not created by `after`
    return out


def _answered(row: Row) -> bool:
    """Its createTask answered with a task id (a task exists, and its send was clear)."""
    return _status(row) in EXISTS


def _made_before(rid: int, b1: Row | None, b2: Row | None, newest: int) -> set[bool]:
    """Whether the row's task was created before the balance was read (one or both)."""
    if b1 is not None and (_status(b1) in EXISTS or _status(b1) is _S.SEND_FAILED):
        return {True}  # (a send that had ended unclear: created then, or never, which moves
        # nothing, the same as a task that ended before the reading)
    if b2 is not None and _status(b2) is _S.QUEUED:
        return {False}
    if b1 is None and b2 is None and rid > newest:
        return {False}  # a row written after the reading
    return {True, False}


def _made_by(a1: Row | None, a2: Row | None) -> set[bool]:
    """Whether the row's task was created before the later balance was read."""
    if a1 is not None and (_status(a1) in EXISTS or a1.settled == CHARGED):
        return {True}
    if a2 is not None and _status(a2) in (_S.QUEUED, _S.CANCELLED):
        return {False}
    if a1 is not None and a1.settled == NOT_CHARGED:
        return {False}  # (settled at the reading; a verdict written later says nothing of it)
    return {True, False}


def _ended(row: Row) -> bool:
    return _status(row) in ENDED or row.settled == NOT_CHARGED


def _outcome(row: Row) -> set[str]:
    """How the task ends, as far as the ledger knows: paid, failed (nothing held) or either."""
    status = _status(row)
    if status in PAID:
        return {"paid"}
    if status in NO_TASK or row.settled == NOT_CHARGED:
        return {"failed"}
    return {"paid", "failed"}


def _status(row: Row) -> JobStatus:
    return JobStatus(row.status)


def _combined(parts: Iterable[set[Story]]) -> set[Story] | None:
    """Every sum of one story per row, as (available, credits, reserved at `before`); None if
    there are too many to keep."""
    sums: set[Story] = {(0, 0, 0)}
    for part in parts:
        sums = {(da + pa, dc + pc, rb + pr) for da, dc, rb in sums for pa, pc, pr in part}
        if len(sums) > MAX_STORIES:
            return None
    return sums


def _read(
    before: Reading, after: Reading, latest: Mapping[int, Row], estimate: int
) -> tuple[str | None, list[int]]:
    """What one later reading says: CHARGED, NOT_CHARGED, "outside" (no story matches),
    "too many", or None (both match), with the rows that have more than one story.

    The stories that hold exactly what the account held at `before` (`credits - available`)
    come first: they assume nothing outside this ledger. Only when none of them fits does a
    story that leaves part of it to something outside (a task of another client that holds
    its reservation throughout) count."""
    assert before.available is not None and before.credits is not None
    assert after.available is not None and after.credits is not None
    rows = sorted({*before.first, *before.last, *after.first, *after.last})
    parts = {rid: stories(rid, before, after, latest.get(rid)) for rid in rows}
    sums = _combined(parts.values())
    open_ = [rid for rid, part in parts.items() if len(part) > 1]
    if sums is None:
        return "too many", open_
    da, dc = after.available - before.available, after.credits - before.credits
    reserved = before.credits - before.available
    charged_keys = ((da + estimate, dc), (da + estimate, dc + estimate))
    for fits in (
        lambda key: (*key, reserved) in sums,
        lambda key: any(s[:2] == key and s[2] <= reserved for s in sums),
    ):
        charged = any(fits(key) for key in charged_keys)
        clear = fits((da, dc))
        if charged and clear:
            return None, open_
        if charged:
            return CHARGED, open_
        if clear:
            return NOT_CHARGED, open_
    return "outside", open_


def decide(
    before: Reading,
    afters: list[Reading],
    estimate: int,
    now: float,
    *,
    grace: float = GRACE,
    limit: float = LIMIT,
    me: int = 0,
) -> Settlement | Wait:
    """Settle an unclear send (row `me`) from the reading `before` it and the readings after
    it (oldest first; the last one's `last` picture is the ledger as it is now), at `now`
    seconds after the send ended: a `Settlement`, or `Wait` while other rows may still tell.
    Two unclear sends never wait for each other: a row settling its own waits only for those
    settling with a lower id, which wait for none higher."""
    if before.available is None or before.credits is None:
        return _ambiguous("the balance could not be read before the send")
    latest = afters[-1].last if afters else {}
    said: dict[str, Reading] = {}
    open_: set[int] = set()
    for after in afters:
        if after.available is None or after.credits is None:
            continue
        found, rows = _read(before, after, latest, estimate)
        open_.update(rows)
        if found == NOT_CHARGED and after.at < grace:
            found = None  # too soon: the server may still create it
        if found is not None:
            said.setdefault(found, after)
    seen = _seen(before, said.get(CHARGED) or said.get(NOT_CHARGED) or _last_read(afters))
    if "outside" in said:
        return _ambiguous(
            f"{seen}; no account of this ledger's rows matches that, so something outside this "
            "ledger spends on the account"
        )
    if CHARGED in said and NOT_CHARGED in said:
        return _ambiguous(f"{seen}; readings disagree, so something outside this ledger moved it")
    others = _others(before, said.get(CHARGED) or said.get(NOT_CHARGED))
    if CHARGED in said:
        return Settlement(
            CHARGED,
            f"charged {estimate} credits: a task exists whose id we never got ({seen}{others}). "
            "It is counted as spent, with no video",
            estimate,
        )
    if NOT_CHARGED in said:
        return Settlement(NOT_CHARGED, f"not charged: safe to send again ({seen}{others})")
    # rows whose next move a fresh reading would see: not yet quiet when the last was taken
    last_first = afters[-1].first if afters else {}
    moving = sorted(
        r
        for r in open_
        if not _quiet(last_first.get(r)) and not _settling_after(last_first.get(r), r, me)
    )
    if "too many" in said:
        why = "too many of this account's rows moved in between"
    elif open_:
        why = f"it depends on how rows {_ids(sorted(open_))} of this account ran"
    else:
        why = "the balance could not be read after the send"
    if now >= limit:
        return _ambiguous(f"{seen}; {why}, and {limit:.0f} s passed")
    if afters and afters[-1].at < grace:
        return Wait(why, tuple(moving), grace)
    if moving or "too many" in said or not open_:
        return Wait(why, tuple(moving), None if moving else now + max(1.0, grace))
    return _ambiguous(f"{seen}; {why}, which the ledger cannot tell")


def settled(step: Step, found: Settlement) -> Step:
    """The SEND_FAILED step of an unclear send, with what the balance said: "not charged" ends
    the job FAILED (nothing held, its budget freed, safe to send again); "charged" and
    "ambiguous" stay SEND_FAILED (counted as spent), the evidence in the error and the row."""
    error = f"createTask got no clear answer ({step.cause}) and was not sent again; {found.text}"
    fields = {**step.fields, "error": error, "settled": found.kind}
    if found.kind == NOT_CHARGED:
        fields["status"] = JobStatus.FAILED.value
        return Step(JobStatus.FAILED, fields, error, Next.END, True, step.cause)
    return dataclasses.replace(step, fields=fields, error=error)


def settling(cause: BaseException | None, wait: Wait) -> Step:
    """A warning on the job while its unclear send waits for the account's other rows."""
    return Step(
        None,
        warning=f"createTask got no clear answer ({cause}); not sent again. Settling it by the "
        f"account's balance: {wait.why}, so waiting for them",
    )


def _settling_after(row: Row | None, rid: int, me: int) -> bool:
    return row is not None and row.settled == SETTLING and rid > me


def _quiet(row: Row | None) -> bool:
    return row is not None and _status(row) in QUIET


def _last_read(afters: list[Reading]) -> Reading | None:
    return next((a for a in reversed(afters) if a.available is not None), None)


def _seen(before: Reading, after: Reading | None) -> str:
    if after is None:
        return f"availableCredits {before.available} before the send"
    return (
        f"availableCredits {before.available} before the send, {after.available} after; "
        f"credits {before.credits}, then {after.credits}"
    )


def _others(before: Reading, after: Reading | None) -> str:
    rows = sorted({*before.first, *before.last, *(after.first if after else {})})
    if not rows:
        return "; nothing else in flight on this account"
    return f"; rows {_ids(rows)} of this account accounted for"


def _ambiguous(why: str) -> Settlement:
    return Settlement(
        AMBIGUOUS,
        f"unclear whether it was charged: {why}; nothing concluded. Check the account "
        "(studio.credits()) before sending again (job.resend(force=True))",
    )


def _ids(rows: list[int]) -> str:
    shown = ", ".join(f"#{r}" for r in rows[:5])
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


__all__ = [
    "AMBIGUOUS",
    "CHARGED",
    "GRACE",
    "LIMIT",
    "LOST",
    "NOT_CHARGED",
    "SETTLING",
    "Reading",
    "Row",
    "Settlement",
    "Wait",
    "decide",
    "settled",
    "settling",
    "stories",
]
