"""The one job status vocabulary. Every layer uses it: the ledger, the runtime, the widgets and,
as plain fields, the JavaScript.

A job is a submission as this toolkit holds it: it starts in the local queue, becomes a task on
the server, and ends with a video safe on disk or a reason why not. Each status says four
things the rest of the code would otherwise have to know by heart:

* ``final``: the job will not move on by itself;
* ``holds_credits``: counts against a budget (what it cost, or may have cost);
* ``reusable``: a plain re-run of the same request returns this job instead of sending again;
* ``tone``: how a view colours it: ``ok``, ``busy``, ``bad`` or ``muted`` (CSS keys on these four,
  never on the status names).

=================  =====  =======  ========  =====  ========================================
status             final  credits  reusable  tone   meaning
=================  =====  =======  ========  =====  ========================================
QUEUED             no     yes      yes       busy   waiting in the local queue for a free slot
SENDING            no     yes      yes       busy   createTask is on its way
PENDING            no     yes      yes       busy   the server has it, not started
PROCESSING         no     yes      yes       busy   the server is rendering it
DOWNLOADING        no     yes      yes       busy   done on the server; the video is not yet safe
COMPLETED          yes    yes      yes       ok     a video that decodes to its end is on disk
DOWNLOAD_FAILED    yes    yes      yes       bad    paid, but the video could not be saved (yet)
FAILED             yes    no       no        bad    the server refused or failed it: nothing charged
SEND_FAILED        yes    yes      yes       bad    createTask got no clear answer; it may exist
UNKNOWN            yes    yes      yes       bad    the server stopped answering sensibly for it
EXPIRED            yes    yes      yes       bad    paid, but its link and task record are gone
CANCELLED          yes    no       no        muted  taken out of the local queue, never sent
=================  =====  =======  ========  =====  ========================================

``SEND_FAILED`` and ``UNKNOWN`` hold their estimate because the task may have run: a budget is
never judged on less than it may have cost, and a re-run never pays again by accident.
``EXPIRED`` is a paid video that can no longer be fetched (its link expired and the server no
longer knows the task): it keeps its task id and credits, counts as spent, and nothing retries it.
"""

from __future__ import annotations

import enum


class JobStatus(str, enum.Enum):
    """Where a job is, from the local queue to a video on disk (see the module's table)."""

    QUEUED = "QUEUED"
    SENDING = "SENDING"
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    DOWNLOADING = "DOWNLOADING"
    COMPLETED = "COMPLETED"
    DOWNLOAD_FAILED = "DOWNLOAD_FAILED"
    FAILED = "FAILED"
    SEND_FAILED = "SEND_FAILED"
    UNKNOWN = "UNKNOWN"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        """The job will not move on by itself."""
        return self in FINAL

    @property
    def holds_credits(self) -> bool:
        """Counts against a budget: what it cost, or its estimate while that is not known."""
        return self not in (JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def reusable(self) -> bool:
        """A plain re-run of the same request returns this job rather than sending again."""
        return self not in (JobStatus.FAILED, JobStatus.CANCELLED)

    @property
    def charged(self) -> bool:
        """The server has charged for it (its credits_used is what it cost)."""
        return self in CHARGED

    @property
    def sent(self) -> bool:
        """The server may hold a running task (and reserved credits) for it."""
        return self in SENT

    @property
    def tone(self) -> str:
        """How a view colours it: ok, busy, bad or muted."""
        if self is JobStatus.COMPLETED:
            return "ok"
        if self is JobStatus.CANCELLED:
            return "muted"
        return "bad" if self.final else "busy"

    @property
    def is_terminal(self) -> bool:
        """The same as `final` (the name the first stage used)."""
        return self.final

    def __str__(self) -> str:
        return self.value


class Settled:
    """How an unclear send (SEND_FAILED) was settled by the account's balance: a row's
    ``settled`` and a job's ``.settled`` (the rules are in runtime/_settle.py)."""

    NOT_CHARGED = "not_charged"  # nothing held for it: safe to send again (the row is FAILED)
    CHARGED = "charged"  # a task exists whose id was lost: counted as spent, no video
    AMBIGUOUS = "ambiguous"  # nothing concluded: check the account before sending again
    SETTLING = "settling"  # the row is still SENDING while its studio reads the balance


FINAL = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.DOWNLOAD_FAILED,
        JobStatus.FAILED,
        JobStatus.SEND_FAILED,
        JobStatus.UNKNOWN,
        JobStatus.EXPIRED,
        JobStatus.CANCELLED,
    }
)
CHARGED = frozenset(
    {JobStatus.DOWNLOADING, JobStatus.COMPLETED, JobStatus.DOWNLOAD_FAILED, JobStatus.EXPIRED}
)
SENT = frozenset({JobStatus.SENDING, JobStatus.PENDING, JobStatus.PROCESSING})
UNSENT = frozenset({JobStatus.QUEUED})
IN_FLIGHT = frozenset(s for s in JobStatus if not s.final)
# rows a studio takes over once their owner is gone: still moving, or paid and not yet on disk
RESUMABLE = frozenset(IN_FLIGHT | {JobStatus.DOWNLOAD_FAILED})
# rows a live studio adopts on its own from a dead one: on the server, or paid and being saved
ADOPTABLE = frozenset(SENT | {JobStatus.DOWNLOADING})
# ended without a video on disk (what a summary counts as failed)
FAILED = frozenset(FINAL - {JobStatus.COMPLETED, JobStatus.CANCELLED})


def names(
    statuses: frozenset[JobStatus] | set[JobStatus] | tuple[JobStatus, ...],
) -> tuple[str, ...]:
    """Plain status names in declaration order, for SQL and for JavaScript."""
    return tuple(s.value for s in JobStatus if s in statuses)


def as_fields() -> dict[str, dict[str, bool]]:
    """The vocabulary as plain data, for views that cannot import Python (the JavaScript)."""
    return {
        s.value: {
            "final": s.final,
            "holds_credits": s.holds_credits,
            "reusable": s.reusable,
            "tone": s.tone,
        }
        for s in JobStatus
    }
