"""The account's slots shared by a team: never more than the limit, fair between users, leases
that die with their owner, and wake-ups. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from seedance_nb.ledger import Ledger, Owner
from seedance_nb.ledger._slots import Lease, Wait, counts, fair_order, plan

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "acct-0123abcd"


def w(user: str, row: int, at: int | None = None) -> Wait:
    return Wait(row if at is None else at, row, user, row, owner="o")


def rows(order: list[Wait]) -> list[int]:
    return [x.row for x in order]


# ---- the fair order, as a pure function ---------------------------------------------------------
def test_fifo_within_one_user():
    assert rows(fair_order([w("a", 3), w("a", 1), w("a", 2)])) == [1, 2, 3]


def test_round_robin_between_users_from_the_oldest_request():
    sweep = [w("alice", i) for i in range(1, 6)]
    order = fair_order([*sweep, w("bob", 10), w("bob", 11), w("carol", 20)])
    assert rows(order) == [1, 10, 20, 2, 11, 3, 4, 5]


def test_a_single_job_goes_before_a_sweep_that_holds_slots():
    sweep = [w("alice", i) for i in range(1, 21)]
    order = fair_order([*sweep, w("bob", 99)], held={"alice": 3})
    assert rows(order)[0] == 99 and rows(order)[1:] == list(range(1, 21))


def test_ties_go_to_the_user_served_longest_ago():
    waits = [w("alice", 1), w("bob", 2)]
    assert rows(fair_order(waits, turns={"alice": 7, "bob": 3})) == [2, 1]
    assert rows(fair_order(waits, turns={"alice": 3, "bob": 7})) == [1, 2]
    assert rows(fair_order(waits, turns={"alice": 3})) == [2, 1]  # bob never served yet


def test_fair_order_is_a_permutation_keeping_each_users_order():
    import random

    rng = random.Random(3)
    for _ in range(200):
        waits = [w(rng.choice("abcd"), i, rng.randrange(50)) for i in range(rng.randrange(30))]
        held = {u: rng.randrange(3) for u in "abcd"}
        order = fair_order(waits, held)
        assert sorted(rows(order)) == sorted(rows(waits))
        for user in "abcd":
            mine = [x for x in order if x.user == user]
            assert mine == sorted(mine)  # FIFO within a user
        # no user gets a second slot while another, with no more held, still waits
        taken = dict(held)
        pending = {u: sum(x.user == u for x in waits) for u in "abcd"}
        for x in order:
            rivals = [u for u in pending if pending[u] and u != x.user]
            assert all(taken[x.user] <= taken[u] for u in rivals)
            taken[x.user] += 1
            pending[x.user] -= 1


def test_which_leases_count():
    alive = {"live"}
    assert counts(Lease(1, "live", "u", None), alive)  # granted, no row yet
    assert counts(Lease(1, "live", "u", "QUEUED"), alive)  # granted, not sent yet
    assert not counts(Lease(1, "dead", "u", "QUEUED"), alive)  # its owner died before sending
    for status in ("SENDING", "PENDING", "PROCESSING"):  # the server may be running it
        assert counts(Lease(1, "dead", "u", status), alive)
    for status in ("DOWNLOADING", "COMPLETED", "FAILED", "SEND_FAILED", "CANCELLED"):
        assert not counts(Lease(1, "live", "u", status), alive)  # the server is done with it


def test_plan_fills_only_the_free_slots_and_drops_dead_requests():
    alive = {"o", "p"}
    leases = [Lease(1, "o", "alice"), Lease(2, "gone", "alice", "QUEUED")]
    waits = [
        Wait(5, 5, "alice", 5, "o"),
        Wait(6, 6, "bob", 6, "p"),
        Wait(7, 7, "carol", 7, "gone"),
        Wait(8, 8, "bob", 8, "p", "CANCELLED"),
    ]
    decided = plan(leases, waits, alive, limit=2)
    assert [x.row for x in decided.expired] == [2]
    assert {x.row for x in decided.dropped} == {7, 8}
    assert [x.row for x in decided.granted] == [6]  # bob holds none: he goes first
    assert plan(leases, waits, alive, limit=1).granted == []


def test_the_account_is_named_by_a_hash_never_the_key(monkeypatch):
    from seedance_nb.ledger import account_id, current_user

    key, url = "sk-live-0123456789abcdef", "https://seedance2-ai.ai/api/v1"
    name = account_id(key, url)
    assert name == account_id(key, url + "/") == account_id(key, url.upper())
    assert name != account_id(key + "x", url) and name != account_id(key, "http://127.0.0.1:1")
    assert key not in name and len(name) == 32
    monkeypatch.setenv("SEEDANCE_USER", "ada")
    assert current_user() == "ada"
    monkeypatch.delenv("SEEDANCE_USER")
    assert current_user()


# ---- both backends ------------------------------------------------------------------------------
def owner(ledger, tag: str = "", host: str | None = None) -> Owner:
    me = Owner.new()
    if host is not None or tag:
        me = Owner(f"{me.id}{tag}", host or me.host, me.pid)
    ledger.register(me)
    return me


def test_acquire_release_and_the_limit(ledger):
    me = owner(ledger)
    assert [ledger.acquire_slot(ACCOUNT, me, "alice", row, 2) for row in (1, 2, 3)] == [
        True,
        True,
        False,
    ]
    assert ledger.acquire_slot(ACCOUNT, me, "alice", 1, 2)  # asking again while holding: yes
    view = ledger.slots(ACCOUNT)
    assert [x["job_row"] for x in view["leases"]] == [1, 2]
    assert [x["job_row"] for x in view["waits"]] == [3]
    assert ledger.slots("another-account") == {"leases": [], "waits": []}
    assert ledger.release_slot(ACCOUNT, 1)
    assert not ledger.release_slot(ACCOUNT, 1)  # once
    # the freed slot was handed to the waiting request as it was released
    assert [x["job_row"] for x in ledger.slots(ACCOUNT)["leases"]] == [2, 3]
    assert ledger.acquire_slot(ACCOUNT, me, "alice", 3, 2)
    assert not ledger.release_slot(ACCOUNT, 42)
    with pytest.raises(ValueError, match="limit"):
        ledger.acquire_slot(ACCOUNT, me, "alice", 4, 0)


def test_withdrawing_a_request_keeps_the_line_moving(ledger):
    me = owner(ledger)
    assert ledger.acquire_slot(ACCOUNT, me, "alice", 1, 1)
    assert not ledger.acquire_slot(ACCOUNT, me, "alice", 2, 1)
    assert not ledger.acquire_slot(ACCOUNT, me, "alice", 3, 1)
    assert not ledger.release_slot(ACCOUNT, 2)  # withdrawn: it held no slot
    ledger.release_slot(ACCOUNT, 1)
    assert ledger.slots(ACCOUNT)["leases"][0]["job_row"] == 3


def test_a_single_job_is_served_before_a_sweep(ledger):
    alice, bob = owner(ledger, "-a"), owner(ledger, "-b")
    for row in range(1, 21):  # alice's sweep: 3 run, 17 wait
        ledger.acquire_slot(ACCOUNT, alice, "alice", row, 3)
    assert not ledger.acquire_slot(ACCOUNT, bob, "bob", 100, 3)  # bob's one job waits...
    ledger.release_slot(ACCOUNT, 1)  # ...for the next free slot only
    assert ledger.acquire_slot(ACCOUNT, bob, "bob", 100, 3)
    ledger.release_slot(ACCOUNT, 2)
    assert ledger.acquire_slot(ACCOUNT, alice, "alice", 4, 3)  # then alice's, in order
    assert [x["job_row"] for x in ledger.slots(ACCOUNT)["waits"]][:3] == [5, 6, 7]


def test_round_robin_with_one_slot(ledger):
    alice, bob = owner(ledger, "-a"), owner(ledger, "-b")
    for row in (1, 2, 3):
        ledger.acquire_slot(ACCOUNT, alice, "alice", row, 1)
    for row in (11, 12):
        ledger.acquire_slot(ACCOUNT, bob, "bob", row, 1)
    served = []
    for _ in range(5):
        held = ledger.slots(ACCOUNT)["leases"][0]["job_row"]
        served.append(held)
        ledger.release_slot(ACCOUNT, held)
    assert served == [1, 11, 2, 12, 3]


def test_a_dead_owners_unsent_lease_expires(ledger, target):
    proc = subprocess.run(
        [sys.executable, "-c", HOLD, target, ACCOUNT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert proc.stdout.split() == ["True", "True"]  # it held both slots, then exited
    me = owner(ledger)
    assert ledger.acquire_slot(ACCOUNT, me, "bob", 7, 2)  # its pid is gone: its leases too
    assert [x["job_row"] for x in ledger.slots(ACCOUNT)["leases"]] == [7]


def test_a_silent_remote_owner_expires_after_its_lease(ledger):
    far = owner(ledger, "-far", host="another-machine")
    assert ledger.acquire_slot(ACCOUNT, far, "carol", 1, 1)
    me = owner(ledger)
    assert not ledger.acquire_slot(ACCOUNT, me, "bob", 2, 1)  # still beating
    stale(ledger, far)
    assert ledger.acquire_slot(ACCOUNT, me, "bob", 2, 1)


def test_a_sent_task_keeps_its_slot_after_its_owner_dies(ledger):
    far = owner(ledger, "-far", host="another-machine")
    row = ledger.log(experiment="e", status="QUEUED")
    assert ledger.acquire_slot(ACCOUNT, far, "carol", row, 1)
    ledger.update(row, status="PROCESSING")  # on the server now
    stale(ledger, far)
    me = owner(ledger)
    assert not ledger.acquire_slot(ACCOUNT, me, "bob", row + 1, 1)  # the server still runs it
    ledger.update(row, status="DOWNLOADING")  # done on the server (adopted and polled)
    assert ledger.acquire_slot(ACCOUNT, me, "bob", row + 1, 1)


def test_retire_withdraws_requests_and_frees_unsent_slots(ledger):
    a, b = owner(ledger, "-a"), owner(ledger, "-b")
    assert ledger.acquire_slot(ACCOUNT, a, "alice", 1, 1)
    assert not ledger.acquire_slot(ACCOUNT, a, "alice", 2, 1)
    assert not ledger.acquire_slot(ACCOUNT, b, "bob", 3, 1)
    ledger.retire(a)
    assert ledger.acquire_slot(ACCOUNT, b, "bob", 3, 1)
    assert ledger.slots(ACCOUNT)["waits"] == []


def test_a_studio_hears_its_own_release(ledger):
    heard: list[str] = []
    got = threading.Event()
    stop = ledger.listen(lambda account: (heard.append(account), got.set()))
    me = owner(ledger)
    ledger.acquire_slot(ACCOUNT, me, "alice", 1, 1)
    ledger.release_slot(ACCOUNT, 1)
    assert got.wait(5) and ACCOUNT in heard
    stop()
    stop()  # idempotent
    heard.clear()
    ledger.announce(ACCOUNT)
    time.sleep(0.3)
    assert heard == []


def stale(ledger: Ledger, who: Owner) -> None:
    """Make `who`'s last heartbeat an hour old, as if its machine went quiet."""
    if ledger.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(ledger.path) as db:
            db.execute("UPDATE owners SET beat_at = beat_at - 3600000 WHERE id = ?", (who.id,))
    else:
        with ledger._store._write() as tx:
            hour_ago = "UPDATE owners SET beat_at = beat_at - interval '1 hour' WHERE id = ?"
            tx.run(hour_ago, (who.id,))


HOLD = textwrap.dedent("""
    import sys
    from seedance_nb.ledger import Ledger, Owner
    target, account = sys.argv[1:3]
    ledger = Ledger(target)
    me = Owner.new()
    ledger.register(me)
    print(ledger.acquire_slot(account, me, "alice", 1, 2))
    print(ledger.acquire_slot(account, me, "alice", 2, 2))
    # exits without releasing or retiring, as a killed kernel would
""")


# ---- many processes -----------------------------------------------------------------------------
# Each worker loops: wait for a slot (woken by the ledger or every 50 ms), then, inside the
# slot, bump a counter shared through a locked file and note the highest it saw.
WORKER = textwrap.dedent("""
    import fcntl, os, sys, threading, time
    from seedance_nb.ledger import Ledger, Owner
    target, account, counter, user, loops, limit = sys.argv[1:7]
    loops, limit = int(loops), int(limit)
    ledger = Ledger(target)
    me = Owner.new()
    ledger.register(me)
    woken = threading.Event()
    stop = ledger.listen(lambda a: woken.set())

    def bump(delta):
        with open(counter, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            now, peak = (int(x) for x in fh.read().split())
            now += delta
            fh.seek(0); fh.truncate(); fh.write(f"{now} {max(peak, now)}")
            return now

    print("ready", flush=True)
    sys.stdin.readline()
    peak = 0
    for i in range(loops):
        row = os.getpid() * 1000 + i
        while not ledger.acquire_slot(account, me, user, row, limit):
            woken.wait(0.05)
            woken.clear()
        peak = max(peak, bump(+1))
        time.sleep(0.002)
        bump(-1)
        ledger.release_slot(account, row)
    stop()
    ledger.close()
    print(peak, flush=True)
""")


@pytest.mark.slow
def test_three_processes_never_hold_more_than_the_limit(target, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0 0")
    Ledger(target).close()  # create the schema once, before the race
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, target, ACCOUNT, str(counter), user, "40", "2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for user in ("alice", "alice", "bob")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = [proc.communicate(timeout=240) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    now, peak = (int(x) for x in counter.read_text().split())
    assert now == 0 and peak == 2  # the limit was reached, never passed
    with Ledger(target) as ledger:
        assert ledger.slots(ACCOUNT) == {"leases": [], "waits": []}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_frees_a_waiting_line(target):
    code = textwrap.dedent("""
        import sys, time
        from seedance_nb.ledger import Ledger, Owner
        ledger = Ledger(sys.argv[1])
        me = Owner.new()
        ledger.register(me)
        print(ledger.acquire_slot(sys.argv[2], me, "alice", 1, 1), flush=True)
        print(ledger.acquire_slot(sys.argv[2], me, "alice", 2, 1), flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, target, ACCOUNT], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    assert [proc.stdout.readline().strip() for _ in range(2)] == ["True", "False"]
    with Ledger(target) as ledger:
        me = owner(ledger)
        assert not ledger.acquire_slot(ACCOUNT, me, "bob", 3, 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
        assert ledger.acquire_slot(ACCOUNT, me, "bob", 3, 1)  # its lease and its wait are gone
        assert ledger.slots(ACCOUNT)["waits"] == []


def test_a_release_hands_the_slot_on_and_wakes_only_the_granted_owner(ledger):
    from seedance_nb.ledger import wakes

    holder, first, second = owner(ledger, "-h"), owner(ledger, "-f"), owner(ledger, "-s")
    assert ledger.acquire_slot(ACCOUNT, holder, "alice", 1, 1)
    assert not ledger.acquire_slot(ACCOUNT, first, "bob", 2, 1)
    assert not ledger.acquire_slot(ACCOUNT, second, "carol", 3, 1)
    heard: list[str] = []
    done = threading.Event()
    stop = ledger.listen(lambda said: (heard.append(said), said == "end" and done.set()))
    try:
        ledger.release_slot(ACCOUNT, 1)
        # granted inside the release's transaction: bob holds it before he asks again
        assert [x["job_row"] for x in ledger.slots(ACCOUNT)["leases"]] == [2]
        ledger.announce("end")  # after every wake-up of the release, in commit order
        assert done.wait(10)
    finally:
        stop()
    assert heard == [f"{ACCOUNT}:{first.id}", "end"]
    assert wakes(heard[0], ACCOUNT, first.id)
    assert not wakes(heard[0], ACCOUNT, second.id)  # carol's studio sleeps on
    assert ledger.acquire_slot(ACCOUNT, first, "bob", 2, 1)
    assert not ledger.acquire_slot(ACCOUNT, second, "carol", 3, 1)


def test_wake_ups_name_the_account_and_owner_or_anything():
    from seedance_nb.ledger._slots import payload, wakes

    assert wakes(payload(ACCOUNT, "o1"), ACCOUNT, "o1")
    assert not wakes(payload(ACCOUNT, "o1"), ACCOUNT, "o2")
    assert not wakes(payload(ACCOUNT, "o1"), "other-account", "o1")
    assert wakes(payload(ACCOUNT), ACCOUNT, "o2")  # any of the account's studios may go
    assert not wakes(payload("other-account"), ACCOUNT, "o2")
    assert wakes("", ACCOUNT, "o2")  # a reconnected listener: anything may have changed
