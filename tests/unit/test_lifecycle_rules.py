"""The job lifecycle's rules as tables: what happened in, the step out. No server, no loop."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from seedance_nb.api import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConcurrencyLimitError,
    InsufficientCreditsError,
    JobStatus,
    Output,
    PermissionDeniedError,
    ServerError,
    Task,
    TaskNotFoundError,
    TaskStatus,
    UnexpectedResponseError,
)
from seedance_nb.runtime import _lifecycle as life
from seedance_nb.runtime._lifecycle import MAX_ODD, Next

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
S = JobStatus


def task(status: TaskStatus, **kw: object) -> Task:
    return Task(id="t1", model="seedance2", status=status, **kw)  # type: ignore[arg-type]


DONE = task(
    TaskStatus.COMPLETED,
    credits_used=40,
    outputs=(Output(url="http://cdn/v.mp4"),),
    created_at=NOW,
    completed_at=NOW,
)


# ---- after a send -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("result", "status", "next_", "release"),
    [
        ("t1", S.PENDING, Next.POLL, False),
        (ConcurrencyLimitError(429, "busy"), S.QUEUED, Next.QUEUE, True),
        (BadRequestError(400, "bad prompt"), S.FAILED, Next.END, True),
        (InsufficientCreditsError(402, "no credits"), S.FAILED, Next.END, True),
        (ServerError(502, "bad gateway"), S.SEND_FAILED, Next.END, True),
        (APITimeoutError("timed out"), S.SEND_FAILED, Next.END, True),
        (APIConnectionError("refused"), S.SEND_FAILED, Next.END, True),
        (UnexpectedResponseError("createTask", "<html>"), S.SEND_FAILED, Next.END, True),
        (RuntimeError("a bug"), S.SEND_FAILED, Next.END, True),
    ],
)
def test_after_a_send(result, status, next_, release):
    step = life.after_send(result, NOW)
    assert (step.status, step.next, step.release) == (status, next_, release)
    assert step.fields["status"] == status.value
    if status is S.PENDING:
        assert step.fields["task_id"] == "t1" and step.fields["sent_at"] == NOW
    if status is S.SEND_FAILED:  # never sent again: the task may exist
        assert "not sent again" in step.error and step.cause is result


def test_a_row_no_longer_ours_to_send_is_followed_and_never_written():
    step = life.send_lost()
    assert step.next is Next.FOLLOW and not step.fields


# ---- after a poll -------------------------------------------------------------------------------
def poll(result, current=S.PENDING, odd=0, elapsed=1.0, deadline=100.0):
    odd = life.odd_after(result, odd)
    return life.after_poll(
        result, task_id="t1", current=current, odd=odd, elapsed=elapsed, deadline=deadline
    )


@pytest.mark.parametrize(
    ("result", "current", "status", "next_"),
    [
        (task(TaskStatus.PENDING), S.PENDING, None, Next.POLL),  # nothing new: no write
        (task(TaskStatus.PROCESSING), S.PENDING, S.PROCESSING, Next.POLL),
        (task(TaskStatus.FAILED, error="nsfw"), S.PROCESSING, S.FAILED, Next.END),
        (DONE, S.PROCESSING, S.DOWNLOADING, Next.FETCH),
        (TaskNotFoundError(404, "no such task"), S.PENDING, S.UNKNOWN, Next.END),
        (PermissionDeniedError(403, "not yours"), S.PENDING, S.UNKNOWN, Next.END),
        (APIConnectionError("reset"), S.PENDING, None, Next.RETRY),
        (ServerError(503, "busy"), S.PROCESSING, None, Next.RETRY),
        (UnexpectedResponseError("queryTask", "{}"), S.PENDING, None, Next.RETRY),
        (RuntimeError("a bug below"), S.PENDING, None, Next.RETRY),
    ],
)
def test_after_a_poll(result, current, status, next_):
    step = poll(result, current)
    assert (step.status, step.next) == (status, next_)
    assert bool(step.fields) == (status is not None)


def test_a_finished_task_frees_the_slot_and_keeps_the_servers_times():
    step = poll(DONE)
    assert step.release and step.fields["credits_used"] == 40
    assert step.fields["sent_at"] == NOW  # the server's createTime, one clock for every studio
    assert step.fields["video_url"] == "http://cdn/v.mp4"
    failed = poll(task(TaskStatus.FAILED))
    assert failed.release and failed.error == "the server gave no reason"


def test_odd_answers_end_the_job_unknown_after_max_odd_in_a_row():
    odd = UnexpectedResponseError("queryTask", "<html>")
    assert poll(odd, odd=MAX_ODD - 2).next is Next.RETRY
    step = poll(odd, odd=MAX_ODD - 1)
    assert step.status is S.UNKNOWN and step.ends and f"{MAX_ODD} times" in step.error
    assert life.odd_after(task(TaskStatus.PENDING), 4) == 0  # an answer resets the count
    assert life.odd_after(ServerError(500, "x"), 3) == 3  # transient: neither counts nor resets


@pytest.mark.parametrize(
    "result",
    [task(TaskStatus.PENDING), APIConnectionError("reset"), ServerError(500, "x")],
)
def test_the_deadline_ends_waiting(result):
    step = poll(result, elapsed=101.0, deadline=100.0)
    assert step.status is S.UNKNOWN and step.ends and "deadline" in step.error


def test_a_deadline_never_ends_a_paid_result():
    assert poll(DONE, elapsed=10_000.0, deadline=100.0).next is Next.FETCH
    assert poll(task(TaskStatus.FAILED), elapsed=10_000.0).status is S.FAILED


# ---- after a fetch ------------------------------------------------------------------------------
def test_saved_is_completed_with_the_file_and_the_link_that_worked():
    step = life.saved("/out/t1.mp4", "alpha", "http://cdn/fresh.mp4")
    assert step.status is S.COMPLETED and step.ends and step.release
    assert step.fields["local_path"] == "/out/t1.mp4" and step.fields["file_host"] == "alpha"
    assert step.fields["error"] is None


@pytest.mark.parametrize(
    ("link_expired", "record_gone", "status"),
    [
        (False, False, S.DOWNLOAD_FAILED),
        (True, False, S.DOWNLOAD_FAILED),  # a fresh link may be asked for
        (False, True, S.DOWNLOAD_FAILED),  # the link we hold may still work
        (True, True, S.EXPIRED),  # gone for good
    ],
)
def test_after_a_failed_fetch(link_expired, record_gone, status):
    step = life.fetch_failed(
        "t1", "HTTP 404", None, link_expired=link_expired, record_gone=record_gone
    )
    assert step.status is status and step.ends
    assert "task_id" not in step.fields and "credits_used" not in step.fields  # both kept


def test_expired_is_final_paid_and_never_refetched():
    assert S.EXPIRED.final and S.EXPIRED.charged and S.EXPIRED.holds_credits
    assert not life.refetchable(S.EXPIRED, "t1")
    assert life.refetchable(S.DOWNLOAD_FAILED, "t1") and life.refetchable(S.COMPLETED, "t1")
    assert life.refetchable(S.UNKNOWN, "t1") and not life.refetchable(S.FAILED, "t1")
    assert life.take_over({"status": "EXPIRED", "task_id": "t1"}).next is Next.END


def test_a_file_another_process_saved_is_adopted_without_a_fetch():
    step = life.adopted_file("/out/t1.mp4", "beta")
    assert step.status is S.COMPLETED and step.fields["local_path"] == "/out/t1.mp4"


# ---- claiming a dead owner's row, and resuming --------------------------------------------------
@pytest.mark.parametrize(
    ("row", "status", "next_", "writes"),
    [
        ({"status": "QUEUED"}, S.QUEUED, Next.QUEUE, False),
        ({"status": "SENDING"}, S.SEND_FAILED, Next.END, True),  # never sent twice
        ({"status": "SENDING", "task_id": "t1"}, S.PENDING, Next.POLL, False),
        ({"status": "PENDING", "task_id": "t1"}, S.PENDING, Next.POLL, False),
        ({"status": "PROCESSING", "task_id": "t1"}, S.PROCESSING, Next.POLL, False),
        ({"status": "DOWNLOADING", "task_id": "t1"}, S.DOWNLOADING, Next.FETCH, False),
        ({"status": "DOWNLOAD_FAILED", "task_id": "t1"}, S.DOWNLOADING, Next.FETCH, False),
        ({"status": "COMPLETED", "task_id": "t1"}, S.COMPLETED, Next.END, False),
        ({"status": "UNKNOWN", "task_id": "t1"}, S.UNKNOWN, Next.END, False),
    ],
)
def test_on_taking_a_row_over(row, status, next_, writes):
    step = life.take_over(row)
    assert (step.status, step.next, bool(step.fields)) == (status, next_, writes)


def test_a_row_taken_over_mid_settle_ends_ambiguous_never_resent():
    """Its studio died reading the balance: the reading before the send died with it."""
    step = life.take_over({"status": "SENDING", "settled": "settling"})
    assert (step.status, step.next) == (S.SEND_FAILED, Next.END)
    assert step.fields["settled"] == "ambiguous" and "before a verdict" in step.error
    assert "settled" not in life.take_over({"status": "SENDING"}).fields


def test_a_refused_claim_is_followed():
    assert life.refused().next is Next.FOLLOW and not life.refused().fields


# ---- what a follower may do ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "alive", "next_"),
    [
        ("QUEUED", True, Next.FOLLOW),
        ("PROCESSING", True, Next.FOLLOW),
        ("PROCESSING", False, Next.QUEUE),  # its owner is gone: it may claim the row
        ("COMPLETED", True, Next.END),
        ("FAILED", False, Next.END),
    ],
)
def test_a_follower_reads_and_waits_and_never_writes(status, alive, next_):
    step = life.follower_sees({"status": status, "error": None}, alive)
    assert step.next is next_ and not step.fields


def test_a_followers_own_failure_writes_nothing_into_the_owners_row():
    step = life.follower_failed(APIConnectionError("session terminated"))
    assert step.status is None and not step.fields and step.next is Next.FOLLOW


def test_a_lost_row_is_followed_with_a_one_line_warning():
    step = life.lost("beta")
    assert step.status is None and not step.fields and step.next is Next.FOLLOW
    assert "\n" not in step.warning and "beta" in step.warning


# ---- anything unforeseen ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("current", "task_id", "status"),
    [
        (S.DOWNLOADING, "t1", S.DOWNLOAD_FAILED),
        (S.PROCESSING, "t1", S.UNKNOWN),
        (S.SENDING, None, S.SEND_FAILED),
        (S.QUEUED, None, S.FAILED),
    ],
)
def test_an_unforeseen_failure_ends_the_job_keeping_what_is_known(current, task_id, status):
    step = life.unforeseen(current, task_id, RuntimeError("boom"))
    assert step.status is status and step.ends and "boom" in step.error


def test_every_step_that_ends_a_sent_job_gives_back_its_slot():
    ends = [
        life.after_send(ServerError(500, "x"), NOW),
        poll(TaskNotFoundError(404, "gone")),
        poll(task(TaskStatus.FAILED)),
        life.unsaved("disk", None),
        life.expired("t1", "gone"),
        life.cancelled(),
    ]
    assert all(step.release and step.ends for step in ends)
