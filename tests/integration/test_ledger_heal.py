"""The PostgreSQL ledger as a lab meets it: the server ends the studio's sessions (a restart, a
failover, an idle timeout, ``pg_terminate_backend``), studio cells are re-run without closing
the old studio, and a password with awkward characters sits in the URL. Every job completes,
nothing is sent twice, no driver exception reaches the caller, sessions stay flat, and the
password appears nowhere."""

from __future__ import annotations

import logging
import threading

import psycopg
import pytest

import seedance_nb as sd
from seedance_nb.api import JobStatus
from seedance_nb.ledger import Ledger, _pgconn
from tests.waiting import wait_until

CREATE = "requests POST /api/v1/jobs/createTask"
OURS = (
    "SELECT pid, application_name, wait_event_type FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name LIKE 'seedance_nb%%' "
    "AND pid <> pg_backend_pid()"
)


def sessions(admin: psycopg.Connection) -> list[tuple]:
    return admin.execute(OURS).fetchall()


def terminate(admin: psycopg.Connection, where: str = "TRUE") -> int:
    """End every ledger session in this test run's database (their owner ids name them)."""
    found = admin.execute(
        f"SELECT pg_terminate_backend(pid) FROM ({OURS}) AS ours WHERE {where}"
    ).fetchall()
    return len(found)


@pytest.fixture
def admin(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


def req(i: int) -> sd.TextToVideo:
    return sd.TextToVideo(f"heal scene {i}", duration=4, resolution="720x720")


def test_every_session_ended_while_jobs_run(start_sim, make_studio, pg_url, admin):
    sim = start_sim(concurrency=3)
    studio = make_studio(sim, ledger=pg_url)
    names = {row[1] for row in sessions(admin)}
    assert any(studio.owner.id in name for name in names), names  # a DBA sees who holds what
    jobs = [studio.submit(req(i), model="seedance2-fast") for i in range(6)]
    ended = 0
    for outage in range(4):  # end every session of the ledger, four times over, as the jobs run
        created = sim.stats()["counters"].get("tasks_created", 0)
        # between outages the studio reconnects and moves its jobs on
        wait_until(lambda: len(sessions(admin)) > 0, timeout=30)
        if outage:
            wait_until(
                lambda created=created: (
                    sim.stats()["counters"].get("tasks_created", 0) > created
                    or all(j.status.final for j in jobs)
                ),
                timeout=60,
            )
        ended += terminate(admin)
    assert ended >= 4
    studio.wait(jobs, timeout=120)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 6, [j.error for j in jobs]
    stats = sim.stats()
    assert stats["counters"][CREATE] == stats["counters"]["tasks_created"] == 6
    assert stats["duplicate_payloads"] == 0
    with Ledger(pg_url) as ledger:
        assert [r["status"] for r in ledger.rows()] == [JobStatus.COMPLETED] * 6


def test_a_session_ended_inside_a_write_is_retried_once(start_sim, make_studio, pg_url, admin):
    sim = start_sim()
    studio = make_studio(sim, ledger=pg_url)
    outcome: dict[str, object] = {}

    def submit() -> None:
        try:
            outcome["job"] = studio.submit(req(0), model="seedance2-fast")
        except BaseException as exc:  # what the caller would see
            outcome["error"] = exc

    with admin.transaction():
        admin.execute("LOCK TABLE submissions IN EXCLUSIVE MODE")  # the insert waits inside
        thread = threading.Thread(target=submit)
        thread.start()
        wait_until(lambda: any(r[2] == "Lock" for r in sessions(admin)), timeout=30)
        assert terminate(admin, "wait_event_type = 'Lock'") == 1  # mid-transaction
    thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    job = outcome["job"]
    studio.wait([job], timeout=60)
    assert job.status == JobStatus.COMPLETED
    assert sim.stats()["counters"]["tasks_created"] == 1
    with Ledger(pg_url) as ledger:
        assert len(ledger) == 1


@pytest.mark.parametrize("landed", [False, True])
def test_a_commit_cut_short_is_asked_of_the_server_never_guessed(
    pg_url, admin, monkeypatch, landed
):
    """The session ends as COMMIT goes out. The server is asked what became of the transaction
    (pg_xact_status): lost, the write runs once more; saved, its result stands. Never twice."""
    real = psycopg.Connection.execute
    cuts = []

    def execute(self, query, *args, **kwargs):
        if query != "COMMIT" or cuts:
            return real(self, query, *args, **kwargs)
        cuts.append(query)
        pid = self.info.backend_pid
        if landed:
            real(self, query, *args, **kwargs)  # saved, then the answer is lost
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        wait_until(lambda: admin.execute(gone, (pid,)).fetchone()[0] == 0, timeout=10)
        if landed:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real(self, query, *args, **kwargs)  # fails: the session is gone

    with Ledger(pg_url) as ledger:
        monkeypatch.setattr(psycopg.Connection, "execute", execute)
        row = ledger.log(experiment="e", label="once")
        monkeypatch.undo()
        assert cuts == ["COMMIT"]
        assert [r["id"] for r in ledger.rows(label="once")] == [row]  # exactly one row


def test_reads_and_writes_survive_a_restart_of_every_session(pg_url, admin):
    with Ledger(pg_url) as ledger:
        row = ledger.log(experiment="e")
        ledger.df  # noqa: B018  (a frame read: a snapshot transaction)
        for _ in range(3):
            terminate(admin)
            assert ledger.get(row)["experiment"] == "e"
            terminate(admin)
            ledger.update(row, label="x")
            terminate(admin)
            assert len(ledger.df) == 1
        assert ledger.get(row)["label"] == "x"


def test_a_down_server_is_a_ledger_error_in_words(pg_url, admin):
    with Ledger(pg_url) as ledger:
        ledger.log(experiment="e")
        with pytest.raises(sd.LedgerError) as info:
            ledger._store._attempt(lambda: (_ for _ in ()).throw(psycopg.OperationalError("x")))
        assert "is the server running" in str(info.value)
        assert type(info.value) is sd.LedgerError and info.value.__cause__ is None


def test_re_run_studio_cells_keep_the_sessions_flat(start_sim, make_studio, pg_url, admin):
    sim = start_sim()
    counts = []
    for _ in range(10):  # a re-run cell: a new studio, the old one never closed
        make_studio(sim, ledger=pg_url)  # returns once it has registered through the pool
        counts.append(len(sessions(admin)))
    assert max(counts) <= _pgconn.POOL_SIZE + 1, counts  # one pool and one LISTEN, shared
    assert counts[-1] <= counts[0] + 1, counts


PASSWORDS = ["50%off-Secr3t", "p%40ss%3Aw%2Fo%25rd-Secr3t"]  # bad and good percent-encoding


def forms(password: str) -> list[str]:
    from urllib.parse import quote, unquote

    decoded = unquote(password)
    return [password, decoded, quote(decoded, safe=""), "Secr3t"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_never_shows(password, pg_url, caplog, capsys):
    from click.testing import CliRunner

    from seedance_nb.cli._app import cli as main

    caplog.set_level(logging.DEBUG)
    base = pg_url.split("://", 1)[1].split("@", 1)[1]
    url = f"postgresql://postgres:{password}@{base}"
    texts: list[str] = []
    try:  # trust auth lets a well-formed URL in: its reprs must not show the password
        with Ledger(url) as ledger:
            texts += [repr(ledger), str(ledger), str(ledger.path), ledger._store.url]
    except sd.LedgerError as exc:
        texts += [str(exc), repr(exc)]
    unreachable = f"postgresql://postgres:{password}@127.0.0.1:1/none"
    with pytest.raises(sd.LedgerError) as info:
        Ledger(unreachable)
    texts += [str(info.value), repr(info.value)]
    missing = f"postgresql://postgres:{password}@{base.split('/')[0]}/no_such_db_here"
    with pytest.raises(sd.LedgerError) as info:
        Ledger(missing)
    texts += [str(info.value), repr(info.value)]
    for target in (url, unreachable):
        result = CliRunner().invoke(main, ["status", "--ledger", target, "-n", "2"])
        texts += [result.output, str(result.exception or "")]
    texts += [caplog.text, *capsys.readouterr()]
    everything = "\n".join(texts)
    assert "ledger postgresql://postgres@" in everything  # the errors named the ledger
    for form in forms(password):
        assert form not in everything, form


HOLD_THE_ACCOUNT = """
import os, signal, sys
from seedance_nb.ledger import Ledger
ledger = Ledger(sys.argv[1])
conn = ledger._store._hub.get()  # a session of the shared pool, as any studio's write uses
with conn.transaction():
    conn.execute("SELECT slot_limit FROM slot_accounts WHERE account = 'acct' FOR UPDATE")
    print("locked", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)  # a closed lid in the middle of a slot grant
"""


def test_a_stopped_process_holding_a_lock_does_not_hold_up_the_others(pg_url, admin):
    """A studio stopped inside a transaction (SIGSTOP, a frozen VM) holds the account's row
    lock; the server ends such a session, so every other studio's grant goes on."""
    import signal
    import subprocess
    import sys

    ledger = Ledger(pg_url)
    owner = sd.ledger.Owner.new()
    ledger.register(owner)
    ledger.set_account_limit("acct", 3)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_ACCOUNT, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert wait_until(lambda: holder.poll() is None and _stopped(holder.pid), 10)
        granted: list[bool] = []
        asking = threading.Thread(
            target=lambda: granted.append(ledger.acquire_slot("acct", owner, "bob", 1, 3))
        )
        asking.start()
        asking.join(_pgconn.POOL_WAIT + 10)  # ended after IDLE_IN_TRANSACTION, then granted
        assert granted == [True]
        assert all(state != "idle in transaction" for state in _states(admin))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
        ledger.close()


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def _states(admin: psycopg.Connection) -> list[str]:
    rows = admin.execute(
        "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE 'seedance_nb%%' AND pid <> pg_backend_pid()"
    ).fetchall()
    return [r[0] for r in rows]
