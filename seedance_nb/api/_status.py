"""The one job status vocabulary. Every layer uses it: the ledger, the runtime, the widgets and,
as plain fields, the JavaScript.

A job is a submission as this toolkit holds it: it starts in the local queue, becomes a task on
the server, and ends with a video safe on disk or a reason why not. Each status says three
things the rest of the code would otherwise have to know by heart:

* ``final``: the job will not move on by itself;
* ``holds_credits``: counts against a budget (what it cost, or may have cost);
* ``reusable``: a plain re-run of the same request returns this job instead of sending again.

=================  =====  =======  ========  =============================================
status             final  credits  reusable  meaning
=================  =====  =======  ========  =============================================
QUEUED             no     yes      yes       waiting in the local queue for a free slot
SENDING            no     yes      yes       createTask is on its way
PENDING            no     yes      yes       the server has it, not started
PROCESSING         no     yes      yes       the server is rendering it
DOWNLOADING        no     yes      yes       done on the server; the video is not yet safe
COMPLETED          yes    yes      yes       a video that decodes to its last frame is on disk
DOWNLOAD_FAILED    yes    yes      yes       paid, but the video could not be saved (yet)
FAILED             yes    no       no        the server refused or failed it: nothing charged
SEND_FAILED        yes    yes      yes       createTask got no clear answer; it may exist
UNKNOWN            yes    yes      yes       the server stopped answering sensibly for it
CANCELLED          yes    no       no        taken out of the local queue, never sent
=================  =====  =======  ========  =============================================

``SEND_FAILED`` and ``UNKNOWN`` hold their estimate because the task may have run: a budget is
never judged on less than it may have cost, and a re-run never pays again by accident.
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
    def is_terminal(self) -> bool:
        """The same as `final` (the name the first stage used)."""
        return self.final

    def __str__(self) -> str:
        return self.value


FINAL = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.DOWNLOAD_FAILED,
        JobStatus.FAILED,
        JobStatus.SEND_FAILED,
        JobStatus.UNKNOWN,
        JobStatus.CANCELLED,
    }
)
CHARGED = frozenset({JobStatus.DOWNLOADING, JobStatus.COMPLETED, JobStatus.DOWNLOAD_FAILED})
SENT = frozenset({JobStatus.SENDING, JobStatus.PENDING, JobStatus.PROCESSING})
# rows a studio takes over once their owner is gone: still moving, or paid and not yet on disk
RESUMABLE = frozenset({s for s in JobStatus if not s.final} | {JobStatus.DOWNLOAD_FAILED})


def names(
    statuses: frozenset[JobStatus] | set[JobStatus] | tuple[JobStatus, ...],
) -> tuple[str, ...]:
    """Plain status names in declaration order, for SQL and for JavaScript."""
    return tuple(s.value for s in JobStatus if s in statuses)


def as_fields() -> dict[str, dict[str, bool]]:
    """The vocabulary as plain data, for views that cannot import Python (the JavaScript)."""
    return {
        s.value: {"final": s.final, "holds_credits": s.holds_credits, "reusable": s.reusable}
        for s in JobStatus
    }
