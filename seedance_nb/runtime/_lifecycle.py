"""The job lifecycle as pure decisions: what happened in, a `Step` out. No asyncio, no I/O.

The engine does the I/O (a send, a poll, a fetch, a claim), asks a function here what that
means, writes the step's fields to the ledger in one (fenced) write, and hands the step to
`Job.apply`, the only place a job's status changes. Every transition of a job is therefore
decided in this one module and can be tested as a table (tests/unit/test_lifecycle_rules.py).

The rules that cost money live here:
* createTask is never sent twice: after a timeout, a 5xx, a dropped connection or an answer of
  an odd shape the task may exist, so the job ends SEND_FAILED; only a 429 (refused before any
  work) goes back to the queue.
* A deadline ends waiting, never a paid result: a task the server calls COMPLETED is fetched
  whenever it is seen, and the deadline is only checked after an answer that says it still runs.
* A paid video whose link has expired and whose task the server no longer knows is EXPIRED:
  final, keeps its task id and credits, and nothing retries it.
* A follower (a studio watching a row another live studio owns) only reads and waits: its
  steps carry no fields, so it never writes another owner's row, whatever fails on its side.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..api import (
    APIConnectionError,
    ConcurrencyLimitError,
    JobStatus,
    PermissionDeniedError,
    SeedanceError,
    ServerError,
    Task,
    TaskNotFoundError,
    TaskStatus,
    UnexpectedResponseError,
)
from ..api._status import Settled

MAX_ODD = 5  # answers in a row of an undocumented shape (or unforeseen failures) before giving up
RESUME = "studio.resume() follows it again"
REFETCH = "job.download() (or studio.resume()) fetches it again"


class Next(enum.Enum):
    """What the engine does after a step."""

    SEND = "send"  # send createTask (the row is SENDING)
    POLL = "poll"  # ask the server about the task when the scheduler says
    RETRY = "retry"  # ask again after a short pause (a transient failure)
    FETCH = "fetch"  # fetch the paid video
    FOLLOW = "follow"  # watch the row through the ledger: another studio moves it on
    QUEUE = "queue"  # back to the local queue (at its head)
    END = "end"  # the job has ended
    NOTHING = "nothing"  # carry on as before


@dataclass(frozen=True, eq=False)
class Step:
    """One decision: the job's new status (None: unchanged), the ledger fields to write with
    it (the status included), the error to show, what to do next, whether the account's slot
    is given back, and the exception a failed `result()` raises as its cause."""

    status: JobStatus | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    next: Next = Next.NOTHING
    release: bool = False
    cause: BaseException | None = None
    warning: str | None = None

    @property
    def ends(self) -> bool:
        return self.next is Next.END


def _to(
    status: JobStatus,
    next_: Next,
    *,
    error: str | None = None,
    release: bool = False,
    cause: BaseException | None = None,
    **fields: Any,
) -> Step:
    """A step to `status`, recorded with `fields` and the error (None clears an old one)."""
    record: dict[str, Any] = {"status": status.value, "error": error, **fields}
    return Step(status, record, error, next_, release, cause)


def _end(status: JobStatus, error: str | None, cause: BaseException | None, **f: Any) -> Step:
    return _to(status, Next.END, error=error, release=True, cause=cause, **f)


# ---- sending ------------------------------------------------------------------------------------
def granted(params: str) -> Step:
    """A slot was granted: the row moves QUEUED -> SENDING (only while this studio owns it)."""
    return _to(JobStatus.SENDING, Next.SEND, params=params)


def sending() -> Step:
    """A slot was granted and the job leaves the local queue (the row follows in `granted`)."""
    return Step(JobStatus.SENDING, {}, None, Next.SEND)


def not_sent(exc: BaseException) -> Step:
    """Something failed before createTask went out (an upload, the ledger): nothing was sent."""
    return _end(JobStatus.FAILED, f"not sent: {exc}", exc)


def send_lost() -> Step:
    """The row was no longer ours to send (another studio took it): never send; follow it."""
    return Step(JobStatus.QUEUED, {}, None, Next.FOLLOW)


def after_send(result: str | BaseException, now: datetime) -> Step:
    """createTask answered with a task id, or raised.

    A 429 puts the job back at the head of the queue (nothing was created). No clear answer
    (5xx, a timeout, a dropped connection, an odd shape) ends SEND_FAILED: the task may exist
    and a second send could pay twice. Any other refusal ends FAILED: nothing was created.
    `now` is the ledger's clock (the one clock every studio of the ledger shares).
    """
    if isinstance(result, str):
        return _to(JobStatus.PENDING, Next.POLL, task_id=result, sent_at=now)
    if isinstance(result, ConcurrencyLimitError):
        return _to(JobStatus.QUEUED, Next.QUEUE, release=True)
    if isinstance(result, ServerError | APIConnectionError | UnexpectedResponseError):
        return _end(
            JobStatus.SEND_FAILED,
            f"createTask got no clear answer ({result}); the task may exist, so it was not "
            "sent again. Check your credits (studio.credits()), then resubmit with "
            "force=True if it did not run.",
            result,
        )
    if isinstance(result, SeedanceError):
        return _end(JobStatus.FAILED, str(result), result)
    return _end(
        JobStatus.SEND_FAILED,
        f"createTask failed unexpectedly ({type(result).__name__}: {result}); the task may "
        "exist, so it was not sent again.",
        result,
    )


def cancelled() -> Step:
    """Taken out of the local queue before it was sent."""
    return _end(JobStatus.CANCELLED, "cancelled before it was sent", None)


# ---- polling ------------------------------------------------------------------------------------
def after_poll(
    result: Task | BaseException,
    *,
    task_id: str,
    current: JobStatus,
    odd: int,
    elapsed: float,
    deadline: float,
) -> Step:
    """queryTask answered (or raised). `odd` counts odd answers in a row, this one included
    when it is one; `elapsed` is this process's monotonic seconds since it sent the task or
    began to follow it (never another machine's clock).

    A finished task is acted on whatever the deadline: a deadline ends waiting, not a result.
    """
    if isinstance(result, Task):
        if result.done:
            return finished(result)
        status = JobStatus(result.status.value)
        if elapsed > deadline:
            return past_deadline(task_id, deadline, f"last seen {status.value}")
        if status is current:
            return Step(None, {}, None, Next.POLL)
        return _to(status, Next.POLL)
    if isinstance(result, TaskNotFoundError | PermissionDeniedError):
        return _end(
            JobStatus.UNKNOWN,
            f"the server no longer answers for task {task_id} ({result}); it may have run "
            "and been charged. The task id is kept in the ledger.",
            result,
        )
    if isinstance(result, APIConnectionError | ServerError | ConcurrencyLimitError):
        seen = None  # transient: the task goes on
    elif isinstance(result, UnexpectedResponseError):
        seen = f"queryTask answered in a shape the API does not document ({result.text})"
    else:
        seen = f"polling failed: {type(result).__name__}: {result}"
    return poll_again(task_id, seen, odd=odd, elapsed=elapsed, deadline=deadline)


def odd_after(result: Task | BaseException, odd: int) -> int:
    """Odd answers in a row once this one is counted: an answer resets the count, a transient
    failure keeps it, an undocumented shape or an unforeseen failure adds one."""
    if isinstance(result, Task):
        return 0
    transient = APIConnectionError | ServerError | ConcurrencyLimitError
    if isinstance(result, transient | TaskNotFoundError | PermissionDeniedError):
        return odd
    return odd + 1


def poll_again(
    task_id: str, seen: str | None, *, odd: int, elapsed: float, deadline: float
) -> Step:
    """No usable answer: look again soon; odd answers count toward MAX_ODD, and the deadline
    holds (`seen` None is a transient failure, which does not count)."""
    if seen is not None and odd >= MAX_ODD:
        return _end(
            JobStatus.UNKNOWN,
            f"{seen}, {MAX_ODD} times in a row; gave up following task {task_id}, which may "
            f"still run and be charged. Its id is kept: {RESUME} later.",
            None,
        )
    if elapsed > deadline:
        return past_deadline(task_id, deadline, seen or "no usable answer")
    return Step(None, {}, None, Next.RETRY)


def past_deadline(task_id: str, deadline: float, seen: str) -> Step:
    return _end(
        JobStatus.UNKNOWN,
        f"task {task_id} did not finish within the studio's deadline of {deadline:g} s "
        f"({seen}); it may still finish and be charged. Its id is kept: {RESUME}, "
        "job.download() fetches its video.",
        None,
    )


def finished(task: Task) -> Step:
    """The server says the task is done: FAILED ends it (nothing charged); COMPLETED is paid,
    and the video is fetched before the job is called done. The slot is free either way."""
    fields: dict[str, Any] = {
        "credits_used": task.credits_used,
        "error": task.error,
        "completed_at": task.completed_at,
        "video_url": task.video_url,
    }
    if task.created_at is not None:
        fields["sent_at"] = task.created_at  # the server's clock from here on
    if task.status is TaskStatus.FAILED:
        error = task.error or "the server gave no reason"
        return _to(JobStatus.FAILED, Next.END, release=True, **{**fields, "error": error})
    return _to(JobStatus.DOWNLOADING, Next.FETCH, release=True, **fields)


# ---- fetching -----------------------------------------------------------------------------------
def fetching() -> Step:
    """A paid video is about to be fetched (again)."""
    return _to(JobStatus.DOWNLOADING, Next.FETCH)


def saved(local_path: str, host: str, video_url: str | None) -> Step:
    """A video that decodes to its end is on disk: COMPLETED."""
    # the link that worked is kept (a fresh one after expiry)
    fields = {"local_path": local_path, "file_host": host, "video_url": video_url}
    return _to(JobStatus.COMPLETED, Next.END, release=True, **fields)


def unsaved(why: str, cause: BaseException | None) -> Step:
    """The video could not be saved this time: DOWNLOAD_FAILED, and a later try may work."""
    return _end(
        JobStatus.DOWNLOAD_FAILED,
        f"the task is paid but its video could not be saved: {why}. {REFETCH}.",
        cause,
    )


def expired(task_id: str, why: str) -> Step:
    """The link has expired and the server no longer knows the task: gone for good. Final,
    keeps its task id and credits (it was paid), and nothing retries it."""
    return _end(
        JobStatus.EXPIRED,
        f"the video of task {task_id} was paid for but can no longer be fetched: its link "
        f"has expired and the server no longer knows the task ({why})",
        None,
    )


def fetch_failed(
    task_id: str, why: str, cause: BaseException | None, *, link_expired: bool, record_gone: bool
) -> Step:
    """A fetch failed: gone for good (EXPIRED) only when the link has expired AND the server no
    longer knows the task; otherwise DOWNLOAD_FAILED, and a later try may work."""
    if link_expired and record_gone:
        return expired(task_id, why)
    return unsaved(why, cause)


def adopted_file(local_path: str, host: str) -> Step:
    """A whole video was already at the destination (another process saved it): COMPLETED,
    without a second fetch."""
    return _to(
        JobStatus.COMPLETED,
        Next.END,
        release=True,
        local_path=local_path,
        file_host=host,
        error=None,
    )


# ---- taking rows over ---------------------------------------------------------------------------
def take_over(row: Mapping[str, Any]) -> Step:
    """This studio has just claimed `row` (resume, a re-run, or its owner died): carry it on
    from where it stands. A row caught mid-send is never sent again (it may exist)."""
    status = JobStatus(row["status"])
    if status is JobStatus.QUEUED:
        return Step(JobStatus.QUEUED, {}, None, Next.QUEUE)
    if status is JobStatus.SENDING and not row.get("task_id"):
        if row.get("settled") == Settled.SETTLING:  # its reading before the send died with it
            return _end(
                JobStatus.SEND_FAILED,
                "createTask got no clear answer and was not sent again; the studio settling it "
                "by the account's balance stopped before a verdict, so it is unclear whether it "
                "was charged. Check the account (studio.credits()) before sending again "
                "(job.resend(force=True))",
                None,
                settled=Settled.AMBIGUOUS,
            )
        return _end(
            JobStatus.SEND_FAILED,
            "the studio sending it stopped while createTask was in flight; it may have been "
            "created, so it was not sent again (force=True resubmits)",
            None,
        )
    if status in (JobStatus.DOWNLOADING, JobStatus.DOWNLOAD_FAILED):
        return Step(JobStatus.DOWNLOADING, {}, None, Next.FETCH)
    if status.final:
        return Step(status, {}, row.get("error"), Next.END)
    # on the server (a SENDING row with a task id got its answer): poll it again at once
    return Step(
        status if status is not JobStatus.SENDING else JobStatus.PENDING, {}, None, Next.POLL
    )


def refused() -> Step:
    """A claim was refused: another live studio owns the row. Follow it through the ledger."""
    return Step(None, {}, None, Next.FOLLOW)


# ---- following ----------------------------------------------------------------------------------
def mirror(row: Mapping[str, Any]) -> Step:
    """What a row says, as a step that records nothing (a rebuilt or followed job)."""
    return Step(JobStatus(row["status"]), {}, row.get("error"), Next.NOTHING)


def follower_sees(row: Mapping[str, Any], owner_alive: bool) -> Step:
    """A follower read the row: mirror it; it ends when the row does. While the owner lives
    it only waits; once the owner is gone it may try to claim the row (Next.QUEUE means: try
    `claim`, then `take_over`). Never any fields: a follower writes nothing."""
    status = JobStatus(row["status"])
    if status.final:
        return Step(status, {}, row.get("error"), Next.END)
    if not owner_alive:
        return Step(status, {}, None, Next.QUEUE)
    return Step(status, {}, None, Next.FOLLOW)


def follower_failed(exc: BaseException) -> Step:
    """The follower's own read failed (its database session dropped): look again later.
    Nothing is written: the row is another studio's."""
    return Step(None, {}, None, Next.FOLLOW, warning=f"could not read its row ({exc})")


def lost(owner: str | None) -> Step:
    """A fenced write found the row had changed hands: stop moving it here at once and
    follow it through the ledger instead."""
    who = f"studio {owner}" if owner else "another studio"
    return Step(
        None,
        {},
        None,
        Next.FOLLOW,
        warning=f"{who} took this job over (this studio looked stopped); following its row",
    )


def unforeseen(current: JobStatus, task_id: str | None, exc: BaseException) -> Step:
    """Something unforeseen broke while moving the job: end it visibly, keeping what is known."""
    what = f"{type(exc).__name__}: {exc}"
    if current.charged:
        return unsaved(what, exc)
    if task_id is not None:
        return _end(
            JobStatus.UNKNOWN,
            f"following task {task_id} failed unexpectedly ({what}); it may still run. "
            f"Its id is kept: {RESUME}.",
            exc,
        )
    if current is JobStatus.SENDING:  # createTask may have gone out: never send again
        return _end(
            JobStatus.SEND_FAILED,
            f"sending failed unexpectedly ({what}); the task may exist, so it was not sent "
            "again (force=True resubmits)",
            exc,
        )
    return _end(JobStatus.FAILED, f"not sent: {what}", exc)


def refetchable(status: JobStatus, task_id: str | None) -> bool:
    """Whether `job.download()` may fetch this job's video: paid and not gone for good, or
    UNKNOWN (once the server says it is done)."""
    if task_id is None or status is JobStatus.EXPIRED:
        return False
    return status.charged or status is JobStatus.UNKNOWN
