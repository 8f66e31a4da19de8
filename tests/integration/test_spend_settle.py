"""An unclear send settled by the account's own balance, against the real simulator's two new
createTask faults (the task created and its answer lost; the connection cut before any task),
on SQLite and a real PostgreSQL, in one process and with a second process sending on the same
account at the same moment (then nothing may be concluded)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import seedance_nb as sd
from seedance_nb.api._status import JobStatus
from seedance_nb.runtime._settle import AMBIGUOUS, CHARGED, NOT_CHARGED, SETTLING
from tests.waiting import wait_until

REQ = sd.TextToVideo("a lighthouse at dusk", duration=4)
MODEL = "seedance2-fast"


def ended(job: sd.Job) -> sd.Job:
    with pytest.raises(Exception):  # noqa: B017 - an unclear send never returns a task
        job.result(timeout=60)
    return job


def test_a_lost_answer_after_the_task_was_created_is_settled_charged(
    start_sim, make_studio, target
):
    sim = start_sim(credits=5000)
    studio = make_studio(sim, ledger=target)
    sim.fault_next_create("lose")
    job = ended(studio.submit(REQ, model=MODEL))
    cost = job.estimated_credits
    assert sim.stats()["counters"]["create_lost"] == 1
    assert job.status is JobStatus.SEND_FAILED and job.settled == CHARGED
    assert f"charged {cost} credits: a task exists whose id we never got" in job.error
    assert "availableCredits 5000 before the send" in job.error and job.error in job.summary()
    row = studio.ledger.get(job.id)
    assert row["settled"] == CHARGED and row["error"] == job.error and row["task_id"] is None
    assert studio.ledger.committed() == cost  # counted as spent, never hidden
    with pytest.raises(RuntimeError, match="may not be sent again"):
        job.resend()
    # the server really did run it: it charges the estimate once the lost task completes
    assert wait_until(lambda: sim.stats()["counters"].get("credits_charged") == cost, 30)
    # another studio on the ledger, re-running the request, gets the job back as settled
    from seedance_nb.widgets._live import credits_text

    assert credits_text(job) == f"{cost} credits, paid, no video (its task id was lost)"
    studio.close()
    again = make_studio(sim, ledger=target).submit(REQ, model=MODEL)
    assert again.id == job.id and again.settled == CHARGED and "charged" in again.error
    with pytest.raises(RuntimeError, match="settled 'charged'"):
        again.resend()


def test_a_connection_cut_before_any_task_is_settled_not_charged_and_may_be_resent(
    start_sim, make_studio, target
):
    sim = start_sim(credits=5000)
    studio = make_studio(sim, ledger=target)
    studio.ledger.set_budget("default", 5000)
    sim.fault_next_create("cut")
    job = ended(studio.submit(REQ, model=MODEL))
    assert sim.stats()["counters"]["create_cut"] == 1
    assert sim.stats()["counters"].get("tasks_created", 0) == 0
    assert job.status is JobStatus.FAILED and job.settled == NOT_CHARGED
    assert "not charged: safe to send again" in job.error
    row = studio.ledger.get(job.id)
    assert row["settled"] == NOT_CHARGED and row["status"] == JobStatus.FAILED.value
    assert studio.ledger.committed() == 0  # nothing held: the budget has it back
    from seedance_nb.widgets._live import credits_text

    assert credits_text(job) == "not charged, 0 credits (safe to send again)"
    again = job.resend()
    assert again.id != job.id
    assert again.result(timeout=60).status is sd.TaskStatus.COMPLETED
    assert sim.stats()["counters"]["tasks_created"] == 1


def test_force_resends_what_the_balance_could_not_clear(start_sim, make_studio, tmp_path):
    sim = start_sim(credits=5000)
    studio = make_studio(sim)
    sim.fault_next_create("lose")
    job = ended(studio.submit(REQ, model=MODEL))
    again = job.resend(force=True)
    assert again.result(timeout=60).status is sd.TaskStatus.COMPLETED
    assert sim.stats()["counters"]["tasks_created"] == 2  # paid twice, as force said it might


OTHER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import seedance_nb as sd

    ledger, base, key, outputs, go = sys.argv[1:6]
    client = sd.Client(api_key=key, base_url=base)
    studio = sd.Studio(client=client, ledger=ledger, outputs=outputs, verbose=False,
                       poll_interval=0.05)
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.005)
    job = studio.submit(sd.TextToVideo("another lighthouse", duration=4), model="seedance2-fast")
    job.result(timeout=60)
    print(json.dumps({"row": job.id, "status": str(job.status)}), flush=True)
    studio.close()
    """
)


@pytest.mark.parametrize(
    "kind,backend",
    [("cut", "sqlite"), ("lose", "sqlite"), ("cut", "postgresql")],
)
def test_a_second_process_sending_meanwhile_is_accounted_for(
    start_sim, make_studio, tmp_path, request, kind, backend
):
    """The dangerous case is "cut": nothing was created, but the other process's task makes
    the balance fall by exactly this send's estimate. The ledger tells: its row was written
    after the first reading, and its task's story (reserved, then charged) is known once it
    ends, so the verdict is the right one, not "ambiguous"."""
    target = str(tmp_path / "ledger.sqlite")
    if backend == "postgresql":
        target = request.getfixturevalue("pg_url")
    sim = start_sim(credits=5000, create_fault_hold=4.0)
    studio = make_studio(sim, ledger=target)
    go = tmp_path / "go"
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OTHER,
            target,
            sim.base_url,
            sim.api_key,
            str(tmp_path / "o2"),
            str(go),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "ready"
        sim.fault_next_create(kind)
        job = studio.submit(REQ, model=MODEL)
        assert wait_until(
            lambda: (
                sim.stats()["counters"].get({"cut": "create_cut", "lose": "create_lost"}[kind]) == 1
            ),
            30,
        )
        go.touch()  # the other process sends while this send hangs
        out, _ = other.communicate(timeout=90)
    finally:
        other.kill()
        other.communicate()
    theirs = json.loads(out)
    assert theirs["status"] == "COMPLETED"
    ended(job)
    verdict = {"cut": NOT_CHARGED, "lose": CHARGED}[kind]
    assert job.settled == verdict, job.error
    assert f"#{theirs['row']}" in job.error and "accounted for" in job.error
    assert studio.ledger.get(job.id)["settled"] == verdict
    assert sim.stats()["counters"]["requests POST /api/v1/jobs/createTask"] == 2


SETTLER = textwrap.dedent(
    """
    import sys, time
    import seedance_nb as sd

    ledger, base, key, outputs = sys.argv[1:5]
    client = sd.Client(api_key=key, base_url=base)
    studio = sd.Studio(client=client, ledger=ledger, outputs=outputs, verbose=False,
                       poll_interval=0.05)
    job = studio.submit(sd.TextToVideo("a lighthouse at dusk", duration=4), model="seedance2-fast")
    print(job.id, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_studio_killed_while_settling_leaves_an_honest_row_and_never_resends(
    start_sim, make_studio, tmp_path, request, backend
):
    """kill -9 while an unclear send waits for its verdict (the row SENDING, `settled`
    "settling"): the reading before the send died with the process, so the heir cannot settle
    it. It ends the row SEND_FAILED, "ambiguous", with what to check, and never sends it again,
    on its own or when the same request is run again."""
    target = str(tmp_path / "ledger.sqlite")
    if backend == "postgresql":
        target = request.getfixturevalue("pg_url")
    sim = start_sim(credits=5000, speed=1.0)  # at the real pace "not charged" waits 10 s
    sim.fault_next_create("cut")
    victim = subprocess.Popen(
        [sys.executable, "-c", SETTLER, target, sim.base_url, sim.api_key, str(tmp_path / "v")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert victim.stdout is not None
        row = int(victim.stdout.readline())
        with sd.Ledger(target) as ledger:
            assert wait_until(lambda: ledger.get(row)["settled"] == SETTLING, 30)
            assert ledger.get(row)["status"] == JobStatus.SENDING.value
    finally:
        victim.kill()  # SIGKILL, in the middle of the settle wait
        victim.communicate()
    heir = make_studio(sim, ledger=target)
    heir.resume()
    assert wait_until(lambda: heir.ledger.get(row)["status"] == "SEND_FAILED", 30)
    got = heir.ledger.get(row)
    assert got["settled"] == AMBIGUOUS and "stopped before a verdict" in got["error"], got
    assert got["task_id"] is None and heir.ledger.committed() == got["estimated_credits"]
    again = heir.submit(REQ, model=MODEL)  # the same request again: the row, not a new send
    assert again.id == row and again.settled == AMBIGUOUS
    with pytest.raises(RuntimeError, match="settled 'ambiguous'"):
        again.resend()
    assert sim.stats()["counters"]["requests POST /api/v1/jobs/createTask"] == 1


def test_a_balance_that_cannot_be_read_costs_the_send_one_try(start_sim, make_studio):
    """The reading before a send sits on createTask's path: a failing GET /account/credits is
    tried once, not retried with backoff, and an unreadable first reading ends the settle at
    once (nothing to compare a later one with)."""
    sim = start_sim(error_rate=1.0)  # every request answers 500
    studio = make_studio(sim)
    gets = "requests GET /api/v1/account/credits"
    seen = sim.stats()["counters"].get(gets, 0)
    job = ended(studio.submit(REQ, model=MODEL))
    assert job.settled == AMBIGUOUS and "could not be read before the send" in job.error
    assert sim.stats()["counters"][gets] - seen == 1
    assert sim.stats()["counters"]["requests POST /api/v1/jobs/createTask"] == 1
