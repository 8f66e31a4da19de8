"""What the ledger shows of an account to a studio settling an unclear send (`account_moves`),
on both backends: earlier unclear sends whose task may still run and hold credits are shown for
a day after they were submitted, by the database's clock; older ones, and rows of other
accounts, are not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from seedance_nb.api import JobStatus

ACCOUNT = "acct-a"


def test_recent_unclear_sends_are_in_the_picture_and_old_ones_are_not(ledger):
    now = datetime.now(timezone.utc)

    def row(status: JobStatus, age: timedelta, account: str = ACCOUNT, **more) -> int:
        return ledger.log(
            experiment="e",
            status=status.value,
            estimated_credits=128,
            account=account,
            submitted_at=now - age,
            **more,
        )

    me = row(JobStatus.SENDING, timedelta(0))
    lost = row(JobStatus.SEND_FAILED, timedelta(hours=3), settled="charged")
    unsure = row(JobStatus.SEND_FAILED, timedelta(hours=20), settled="ambiguous")
    unknown = row(JobStatus.UNKNOWN, timedelta(minutes=5))
    running = row(JobStatus.PROCESSING, timedelta(days=3))  # unfinished: always shown
    row(JobStatus.SEND_FAILED, timedelta(hours=30), settled="charged")  # ended by now
    row(JobStatus.COMPLETED, timedelta(minutes=1), credits_used=128)  # charged, holds nothing
    row(JobStatus.FAILED, timedelta(minutes=1), settled="not_charged")  # nothing held
    row(JobStatus.SEND_FAILED, timedelta(minutes=1), account="acct-b")  # another account
    _, newest, rows = ledger.account_moves(ACCOUNT, me)
    assert set(rows) == {lost, unsure, unknown, running}
    assert rows[lost] == ("SEND_FAILED", 128, None, "charged")
    assert newest == me + 8
    # a shorter window leaves out what is older than it
    _, _, rows = ledger.account_moves(ACCOUNT, me, lost_within=3600)
    assert set(rows) == {unknown, running}
