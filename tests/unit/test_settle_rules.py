"""The rules that settle an unclear send (runtime/_settle.py), as a table of pure cases: the
account's balance before and after the send, the ledger's pictures of its other rows, and the
seconds since the send ended. The simulator's model: a task reserves its estimate at create
(`available` falls), is charged at completion (`credits` falls, the reservation goes) and gives
the reservation back when it fails."""

from __future__ import annotations

from seedance_nb.runtime._settle import (
    AMBIGUOUS,
    CHARGED,
    NOT_CHARGED,
    Reading,
    Row,
    Settlement,
    Wait,
    decide,
    stories,
)

E = 128  # this send's estimate
R = 128  # the other row's, the same price: the hardest case (a sweep)
GRACE = 1.0


def reading(available, credits, first=None, last=None, *, newest=10, at=0.0) -> Reading:
    first = first or {}
    return Reading(available, credits, first, first if last is None else last, 5, newest, at)


def rows(status: str, estimate: int = R, **more) -> dict[int, Row]:
    return {7: Row(status, estimate, **more)}


def kind(found: Settlement | Wait) -> str:
    return found.kind if isinstance(found, Settlement) else "wait"


def test_a_quiet_account_lost_answer_is_charged_at_once():
    before = reading(5000, 5000)
    found = decide(before, [reading(5000 - E, 5000, at=0.01)], E, 0.01, grace=GRACE)
    assert kind(found) == CHARGED and f"charged {E} credits" in found.text
    # and if the lost task completed before the reading
    assert kind(decide(before, [reading(5000 - E, 5000 - E, at=0.01)], E, 0.01)) == CHARGED


def test_not_charged_waits_for_the_grace_a_slow_server_may_still_create_in():
    before = reading(5000, 5000)
    early = decide(before, [reading(5000, 5000, at=0.1)], E, 0.1, grace=GRACE)
    assert isinstance(early, Wait) and early.at == GRACE
    late = decide(
        before, [reading(5000, 5000, at=0.1), reading(5000, 5000, at=1.2)], E, 1.2, grace=GRACE
    )
    assert kind(late) == NOT_CHARGED and "safe to send again" in late.text


def test_a_task_already_on_the_server_is_waited_for_then_accounted_for():
    """Another row of the account is PROCESSING on both sides of the send: its failure (given
    back, +R) would look like this send's charge (-E) undone. Once it is COMPLETED in the
    ledger before a reading, its story is known and the verdict is clear either way."""
    before = reading(5000 - R, 5000, rows("PROCESSING"))
    # "cut": available unchanged; row 7 failing (+R) would fit a charge (-E) too
    first = reading(5000 - R, 5000, rows("PROCESSING"), at=2.0)
    waiting = decide(before, [first], E, 2.0, grace=GRACE)
    assert isinstance(waiting, Wait) and waiting.rows == (7,) and "#7" in waiting.why
    # it completes on the server: credits fall by R, its reservation goes (available stays)
    done = reading(5000 - R, 5000 - R, rows("COMPLETED", charge=R), at=3.0)
    found = decide(before, [first, done], E, 3.0, grace=GRACE)
    assert kind(found) == NOT_CHARGED and "#7 of this account accounted for" in found.text
    # "lose": available fell by E, which no story of row 7 explains: charged, without waiting
    lost = reading(5000 - R - E, 5000, rows("PROCESSING"), at=0.1)
    assert kind(decide(before, [lost], E, 0.1, grace=GRACE)) == CHARGED


def test_a_row_sent_meanwhile_by_another_studio_is_accounted_for_once_it_ends():
    """The dangerous case: nothing was created ("cut"), but another studio's task of the same
    price makes `available` fall by exactly this send's estimate."""
    before = reading(5000, 5000, newest=10)  # row 11 did not exist yet
    running = {11: Row("PROCESSING", R)}
    during = reading(5000 - R, 5000, running, at=2.0)
    assert kind(decide(before, [during], E, 2.0, grace=GRACE)) == "wait"
    done = {11: Row("COMPLETED", R, R)}
    after = reading(5000 - R, 5000 - R, done, at=3.0)
    assert kind(decide(before, [during, after], E, 3.0, grace=GRACE)) == NOT_CHARGED
    # the same with this send's task created ("lose") and still running
    during = reading(5000 - R - E, 5000, running, at=2.0)
    assert kind(decide(before, [during], E, 2.0, grace=GRACE)) == CHARGED  # only both explain -2E
    after = reading(5000 - R - E, 5000 - R, done, at=3.0)
    assert kind(decide(before, [during, after], E, 3.0, grace=GRACE)) == CHARGED
    # a row that was only QUEUED before the send counts the same as a new one
    queued = reading(5000, 5000, {11: Row("QUEUED", R)}, newest=11)
    assert kind(decide(queued, [after], E, 3.0, grace=GRACE)) == CHARGED


def test_what_was_held_before_the_send_tells_when_a_failed_row_ended():
    """A row on the server before the send that FAILED: by the ledger's pictures alone it may
    have failed before the first reading or after it, and R == E makes either story fit. But
    the account held R at the first reading, and nothing else in the ledger can hold it: the
    row failed after it (+R), so this send's task holds E."""
    before = reading(5000 - R, 5000, rows("PROCESSING"))
    after = reading(5000 - R, 5000, rows("FAILED"), at=2.0)
    found = decide(before, [after], E, 2.0, grace=GRACE, limit=600)
    assert kind(found) == CHARGED and "#7 of this account accounted for" in found.text


def test_a_move_no_ledger_row_explains_is_outside_spending():
    before = reading(5000, 5000)
    found = decide(before, [reading(4700, 5000, at=2.0)], E, 2.0, grace=GRACE)
    assert kind(found) == AMBIGUOUS and "outside this ledger" in found.text


def test_waiting_is_bounded():
    before = reading(5000 - R, 5000, rows("PROCESSING"))
    after = reading(5000 - R, 5000, rows("PROCESSING"), at=50.0)
    assert kind(decide(before, [after], E, 50.0, grace=GRACE, limit=60)) == "wait"
    found = decide(before, [after], E, 60.0, grace=GRACE, limit=60)
    assert kind(found) == AMBIGUOUS and "60 s passed" in found.text


def test_an_unreadable_balance():
    assert kind(decide(reading(None, None), [reading(5000, 5000, at=2)], E, 2)) == AMBIGUOUS
    unread = decide(reading(5000, 5000), [reading(None, None, at=2)], E, 2, grace=GRACE)
    assert isinstance(unread, Wait) and unread.at is not None  # it reads again later


def test_another_unclear_send_is_waited_for_and_its_settlement_used():
    """Row 7 was being sent (SENDING) when this send went out: it may or may not have been
    created before the first reading. Once its own settlement says "charged" (or "not
    charged"), that story is the one left."""
    before = reading(5000, 5000, rows("SENDING"))
    # both tasks created: available fell by R + E
    sending = reading(5000 - R - E, 5000, rows("SENDING"), at=2.0)
    assert kind(decide(before, [sending], E, 2.0, grace=GRACE)) == CHARGED  # only story left
    # only one of the two was created: it depends on row 7
    one = reading(5000 - E, 5000, rows("SENDING"), at=2.0)
    assert kind(decide(before, [one], E, 2.0, grace=GRACE)) == "wait"
    theirs = rows("SEND_FAILED", settled=CHARGED)
    settled = reading(5000 - E, 5000, theirs, at=3.0)
    assert kind(decide(before, [one, settled], E, 3.0, grace=GRACE)) == AMBIGUOUS  # see below
    # (row 7 SENDING before the first reading may have been created before it: then its
    # reservation is already in `before`; that story fits "charged" too, so nothing is said)
    theirs = rows("FAILED", settled=NOT_CHARGED)
    settled = reading(5000 - E, 5000, theirs, at=3.0)
    assert kind(decide(before, [one, settled], E, 3.0, grace=GRACE)) == CHARGED


def test_stories_of_a_row_created_in_between_that_completed():
    before = reading(5000, 5000, newest=10)
    after = reading(0, 0, {11: Row("COMPLETED", R, 100)}, at=1)
    assert stories(11, before, after, None) == {(-100, -100, 0)}


def test_a_reservation_held_before_the_send_is_the_ledger_s_own_row():
    """CI's "lose" case: the other studio's row was SENDING in the first picture and PENDING in
    the second, so the ledger cannot say whether its task was made before the balance was read.
    But the account held R then, and only that row can hold it: the story in which it was made
    later leaves R held by nothing in the ledger. So "charged", not "ambiguous"."""
    before = Reading(5000 - R, 5000, {1: Row("SENDING", R)}, {1: Row("PENDING", R)}, 5, 10, -1.0)
    done = {1: Row("COMPLETED", R, R)}
    after = reading(5000 - R - E, 5000 - R, done, at=2.0)
    found = decide(before, [after], E, 2.0, grace=GRACE)
    assert kind(found) == CHARGED, found
    # with nothing held before the send, that row was made after the reading and explains the
    # whole fall, or it answered and ended between the first picture and the balance (only
    # the second picture, after the balance, shows it still unanswered) while this send was
    # charged: the ledger cannot tell, so "ambiguous", never a resend that may pay twice
    before = Reading(5000, 5000, {1: Row("SENDING", R)}, {1: Row("PENDING", R)}, 5, 10, -1.0)
    after = reading(5000 - R, 5000 - R, done, at=2.0)
    assert kind(decide(before, [after], E, 2.0, grace=GRACE)) == AMBIGUOUS


def test_an_earlier_lost_task_is_counted_while_it_may_still_run():
    """CI's wrong "charged": an earlier send of the account, settled "charged" (its task exists,
    its id lost), still held R when this send went out, and completed in between. Three rows
    sent meanwhile completed too. This send was never made; the ledger cannot tell the earlier
    task completing (and this one not made) from it failing (and this one made and charged),
    so the verdict is "ambiguous", never "charged"."""
    lost = Row("SEND_FAILED", R, settled=CHARGED)
    queued = {rid: Row("QUEUED", R) for rid in (4, 8, 10)}
    before = reading(99_360, 99_488, {3: lost, **queued}, newest=10)
    done = {3: lost, **{rid: Row("COMPLETED", R, R) for rid in (4, 8, 10)}}
    after = reading(98_976, 98_976, done, at=2.0)
    assert stories(3, before, after, lost) == {(0, 0, 0), (0, -R, R), (R, 0, R), (0, 0, R)}
    found = decide(before, [after], E, 2.0, grace=GRACE, limit=600)
    assert kind(found) == AMBIGUOUS and "#3" in found.text and "cannot tell" in found.text
    # left out of the pictures (as the ledger did), the R held before the send is held by
    # nothing the ledger knows: something outside it, and still nothing concluded
    before = reading(99_360, 99_488, queued, newest=10)
    after = reading(98_976, 98_976, {k: v for k, v in done.items() if k != 3}, at=2.0)
    found = decide(before, [after], E, 2.0, grace=GRACE)
    assert kind(found) == AMBIGUOUS and "outside this ledger" in found.text
