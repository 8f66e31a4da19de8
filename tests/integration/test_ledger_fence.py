"""The ledger's side of fenced ownership, on SQLite and a real PostgreSQL: a random owner id,
liveness from the database's clock with the PID shortcut only for a provable neighbour, a lease
that grows when a row changes hands, fenced writes, claims that mark a fetch in the same
transaction, the database's clock, a bounded history read and the account's own slot limit."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from seedance_nb.api._status import JobStatus
from seedance_nb.ledger import Fence, Ledger, Owner, _owners, row_fence

S = JobStatus


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_owner_id_is_random_and_says_where_it_runs():
    a, b = Owner.new(), Owner.new()
    assert a.id != b.id and len(a.id) == 16 and int(a.id, 16) >= 0
    assert str(os.getpid()) not in a.id and a.host not in a.id
    assert a.pid == os.getpid()
    if os.path.exists("/proc/sys/kernel/random/boot_id"):
        with open("/proc/sys/kernel/random/boot_id") as file:
            assert a.boot_id == file.read().strip()
    if os.path.exists("/proc/self/ns/pid"):
        assert a.pid_ns == os.readlink("/proc/self/ns/pid")


def test_a_missing_pid_ends_a_lease_early_only_beside_us(ledger):
    me = Owner.new()
    ledger.register(me)
    pid = dead_pid()
    # same host and same machine and namespace: the process is provably gone
    here = dataclasses.replace(me, id="here", pid=pid)
    # same hostname, another PID namespace (a container on the host network): proves nothing
    other_ns = dataclasses.replace(me, id="other-ns", pid=pid, pid_ns="pid:[1]")
    # same hostname, another machine that is also called so
    other_boot = dataclasses.replace(me, id="other-boot", pid=pid, boot_id="another-boot")
    unknown = dataclasses.replace(me, id="unknown", pid=pid, boot_id="", pid_ns="")
    for owner in (here, other_ns, other_boot, unknown):
        ledger.register(owner)
    assert not ledger.owner_alive("here")
    assert ledger.owner_alive("other-ns") and ledger.owner_alive("other-boot")
    assert ledger.owner_alive("unknown")
    row = ledger.log(experiment="e", status=S.PENDING, task_id="t", owner="other-ns")
    assert ledger.claim(row, me) is None  # its heartbeat is fresh: never adopted


def test_liveness_is_judged_on_the_database_clock(ledger):
    me = Owner.new()
    ledger.register(me)
    gone = Owner("gone", "far-away", 1, "b", "n")
    ledger.register(gone)
    assert ledger.owner_alive("gone")
    stale = ledger.clock() - timedelta(seconds=_owners.LEASE + 5)
    _set_beat(ledger, "gone", stale)
    assert not ledger.owner_alive("gone")
    row = ledger.log(experiment="e", status=S.PENDING, task_id="t", owner="gone")
    assert ledger.claim(row, me)["owner"] == me.id


def _set_beat(ledger, owner_id, when):
    with ledger._store._write() as tx:
        beat = tx.d.args(["sent_at"], [int(when.timestamp() * 1000)])[0]
        tx.run("UPDATE owners SET beat_at = ? WHERE id = ?", (beat, owner_id))


def test_the_clock_is_the_databases(ledger):
    before = datetime.now(timezone.utc)
    now = ledger.clock()
    after = datetime.now(timezone.utc)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= now <= after + timedelta(seconds=5)


def test_claim_bumps_the_lease_and_fences_the_old_owner(ledger):
    alpha, beta = Owner.new(), Owner.new()
    ledger.register(alpha)
    ledger.register(beta)
    row, _ = ledger.log_once(experiment="e", fingerprint="f", owner=alpha.id, status=S.PENDING)
    mine = ledger.claim(row, alpha)
    assert mine["lease"] == 1 and row_fence(mine) == Fence(alpha.id, 1)  # ours: no change
    assert ledger.write(row, row_fence(mine), task_id="t1")
    ledger.retire(alpha)  # alpha looks gone (a pause, a lost connection)
    theirs = ledger.claim(row, beta)
    assert theirs["owner"] == beta.id and theirs["lease"] == 2
    assert ledger.get(row)["lease"] == 2
    # alpha comes back and writes with the fence it held: nothing lands
    assert not ledger.write(row, row_fence(mine), status=S.COMPLETED, file_host="alpha")
    assert not ledger.move(row, row_fence(mine), S.PENDING, status=S.PROCESSING)
    assert ledger.get(row)["status"] == S.PENDING and ledger.get(row)["file_host"] is None
    # an owner id with a stale lease is fenced too (the same owner, an older lease)
    assert not ledger.write(row, Fence(beta.id, 1), task_id="x")
    assert ledger.move(row, row_fence(theirs), S.PENDING, status=S.PROCESSING)
    assert not ledger.move(row, row_fence(theirs), S.PENDING, status=S.COMPLETED)  # not PENDING
    assert ledger.write(row, row_fence(theirs), status=S.COMPLETED, file_host="beta")
    got = ledger.get(row)
    assert (got["status"], got["file_host"], got["owner"]) == (S.COMPLETED, "beta", beta.id)
    again, earlier = ledger.log_once(experiment="e", fingerprint="f")
    assert again == row and earlier["lease"] == 2


def test_claim_for_a_fetch_marks_downloading_in_the_same_transaction(ledger):
    alpha, beta = Owner.new(), Owner.new()
    ledger.register(alpha)
    ledger.register(beta)
    done = ledger.log(experiment="e", status=S.COMPLETED, task_id="t", owner=alpha.id)
    assert ledger.claim(done, beta)["status"] == S.COMPLETED  # no fetch: unchanged
    taken = ledger.claim(done, alpha, fetch=True)
    assert taken["status"] == S.DOWNLOADING and taken["owner"] == alpha.id
    assert ledger.get(done)["status"] == S.DOWNLOADING
    assert ledger.claim(done, beta, fetch=True) is None  # a live owner is downloading it
    assert ledger.claim(done, beta) is None
    assert ledger.claim(done, alpha, fetch=True)["status"] == S.DOWNLOADING  # ours: again
    ledger.retire(alpha)
    again = ledger.claim(done, beta, fetch=True)  # its downloader is gone
    assert again["owner"] == beta.id and again["status"] == S.DOWNLOADING
    failed = ledger.log(experiment="e", status=S.DOWNLOAD_FAILED, task_id="u", owner="x")
    assert ledger.claim(failed, beta, fetch=True)["status"] == S.DOWNLOADING
    expired = ledger.log(experiment="e", status=S.EXPIRED, task_id="v", owner="x")
    assert ledger.claim(expired, beta, fetch=True)["status"] == S.EXPIRED  # gone for good
    running = ledger.log(experiment="e", status=S.PROCESSING, task_id="w")
    assert ledger.claim(running, beta, fetch=True)["status"] == S.PROCESSING
    with pytest.raises(KeyError):
        ledger.claim(10_000, beta, fetch=True)


def test_two_fetching_claims_at_once_leave_one_downloader(target):
    """Two processes claim the same completed row for a fetch at one instant: one wins."""
    script = (
        "import sys\n"
        "from seedance_nb.ledger import Ledger, Owner\n"
        "ledger = Ledger(sys.argv[1]); me = Owner.new(); ledger.register(me)\n"
        "sys.stdin.readline()\n"
        "print('won' if ledger.claim(int(sys.argv[2]), me, fetch=True) else 'lost', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    with Ledger(target) as ledger:
        row = ledger.log(experiment="e", status=S.COMPLETED, task_id="t")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, target, str(row)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = sorted(proc.stdout.readline().strip() for proc in procs)
    finally:
        for proc in procs:
            proc.stdin.close()
            proc.wait(30)
            proc.stdout.close()
    assert answers == ["lost", "won"]


def test_recent_completions_are_the_newest_and_bounded(ledger):
    rows = [
        {"experiment": "e", "status": S.COMPLETED if i % 3 else S.FAILED, "task_id": str(i)}
        for i in range(30)
    ]
    ledger._log_many(rows)
    done = [r["id"] for r in ledger.rows(status=S.COMPLETED)]
    recent = ledger.recent_completions(5)
    assert [r["id"] for r in recent] == done[-5:]
    assert all(r["status"] == S.COMPLETED and r["lease"] == 1 for r in recent)
    assert len(ledger.recent_completions()) == len(done)
    assert ledger.recent_completions(0) == []


def test_the_account_limit_is_the_accounts(ledger):
    me = Owner.new()
    ledger.register(me)
    assert ledger.account_limit("acct") is None
    assert ledger.acquire_slot("acct", me, "alice", 1, 2)  # seeds 2
    assert ledger.account_limit("acct") == 2
    # a studio asking with its own concurrency never changes it for others
    assert ledger.acquire_slot("acct", me, "alice", 2, 5)
    assert not ledger.acquire_slot("acct", me, "alice", 3, 5)
    assert ledger.account_limit("acct") == 2
    ledger.set_account_limit("acct", 3)
    assert ledger.account_limit("acct") == 3
    assert [w["job_row"] for w in ledger.slots("acct")["waits"]] == []  # granted on the change
    assert len(ledger.slots("acct")["leases"]) == 3
    with pytest.raises(ValueError):
        ledger.set_account_limit("acct", 0)
