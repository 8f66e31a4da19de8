"""An unclear send on a busy account, against the real simulator: another task of the same
account (and the same price) is on the server when createTask loses its answer ("lose": the
task exists) or is cut before any task is created ("cut"). The studio waits until that task's
story is known in the ledger, then concludes rightly; createTask is never sent again."""

from __future__ import annotations

import contextlib

import pytest

import seedance_nb as sd
from seedance_nb.api._status import JobStatus
from seedance_nb.runtime._settle import AMBIGUOUS, CHARGED, NOT_CHARGED
from tests.waiting import wait_until

REQ = sd.TextToVideo("a lighthouse at dusk", duration=4)
OTHER = sd.TextToVideo("a harbour at dawn", duration=4)  # the same price
MODEL = "seedance2-fast"
SPEED = 0.05  # renders take about a second: long enough to be in flight during the send


def ended(job: sd.Job) -> sd.Job:
    with pytest.raises(Exception):  # noqa: B017 - an unclear send never returns a task
        job.result(timeout=60)
    return job


def creates(sim) -> int:
    """createTask requests the simulator has taken."""
    return sim.stats()["counters"].get("requests POST /api/v1/jobs/createTask", 0)


@pytest.mark.parametrize(
    "kind,backend,verdict",
    [
        ("cut", "sqlite", NOT_CHARGED),
        ("lose", "sqlite", CHARGED),
        ("cut", "postgresql", NOT_CHARGED),
    ],
)
def test_an_unclear_send_beside_a_running_task_waits_then_concludes(
    start_sim, make_studio, tmp_path, request, kind, backend, verdict
):
    target = str(tmp_path / "ledger.sqlite")
    if backend == "postgresql":
        target = request.getfixturevalue("pg_url")
    sim = start_sim(credits=5000, speed=SPEED)
    theirs = make_studio(sim, ledger=target, outputs=tmp_path / "theirs")
    ours = make_studio(sim, ledger=target, outputs=tmp_path / "ours")
    busy = theirs.submit(OTHER, model=MODEL)
    assert wait_until(lambda: busy.task_id is not None, 30)
    assert busy.estimated_credits == sd.estimate_credits(REQ, model=MODEL)
    sim.fault_next_create(kind)
    job = ended(ours.submit(REQ, model=MODEL))
    assert busy.result(timeout=60).status is sd.TaskStatus.COMPLETED
    assert job.settled == verdict, job.error
    waits = ours.engine.stats["settle_waits"]
    if kind == "cut":
        # the running task failing (+R) would have looked like a charge (-E) given back: the
        # studio waited for it, and the row's story is part of the evidence
        assert waits >= 1 and f"#{busy.id} of this account accounted for" in job.error
        assert job.status is JobStatus.FAILED and "safe to send again" in job.error
        assert ours.ledger.get(job.id)["status"] == JobStatus.FAILED.value
    else:
        # available fell by the estimate, which the running task cannot explain: no wait
        assert waits == 0 and job.status is JobStatus.SEND_FAILED
        assert f"charged {job.estimated_credits} credits" in job.error
    assert ours.ledger.get(job.id)["settled"] == verdict
    assert creates(sim) == 2  # one createTask per row: the unclear one was never sent again
    assert ours.engine.stats["creates"] == 1 and theirs.engine.stats["creates"] == 1


def test_faults_at_a_rate_on_a_busy_account_never_send_twice(start_sim, make_studio, tmp_path):
    """`lose_create_rate` and `cut_create_rate` over a batch on two studios of one account:
    every unclear send is settled, each verdict matches what the simulator did, and no row
    was sent twice."""
    sim = start_sim(credits=100_000, speed=SPEED, lose_create_rate=0.2, cut_create_rate=0.2, seed=5)
    ledger = tmp_path / "ledger.sqlite"
    studios = [make_studio(sim, ledger=ledger, outputs=tmp_path / f"o{i}") for i in range(2)]
    jobs = [
        studios[i % 2].submit(sd.TextToVideo(f"scene {i}", duration=4), model=MODEL)
        for i in range(10)
    ]
    for job in jobs:
        with contextlib.suppress(Exception):  # unclear sends end with an error
            job.result(timeout=120)
    unclear = [j for j in jobs if j.settled is not None]
    counters = sim.stats()["counters"]
    assert counters.get("create_lost", 0) + counters.get("create_cut", 0) == len(unclear) > 0
    # each row's createTask went out once, besides 429s (refused before any work: a lost task
    # may hold a server slot the ledger thinks free, and such a job goes back to the queue)
    stats = sim.stats()
    assert creates(sim) - stats["responses"].get("429", 0) == len(jobs)
    assert stats["duplicate_payloads"] == 0
    made = [t.inputs["prompt"] for t in sim.app.state.store.tasks.values()]
    assert len(made) == len(set(made))  # no request was created twice
    for job in unclear:  # every verdict matches what the server did
        exists = job.request.prompt in made
        if job.settled == CHARGED:
            assert exists, job.error
        elif job.settled == NOT_CHARGED:
            assert not exists and job.status is JobStatus.FAILED, job.error
    settled = [j for j in unclear if j.settled != AMBIGUOUS]
    assert settled, [j.error for j in unclear]  # a busy account is not merely "ambiguous"
    done = [j for j in jobs if j.status is JobStatus.COMPLETED]
    assert len(done) + len(unclear) == len(jobs)


def test_spending_outside_the_ledger_is_said_ambiguous(start_sim, make_studio, tmp_path):
    """Another client on the same account, not through the ledger, creates a task of another
    price while the unclear send hangs: no story of the ledger's rows explains the balance."""
    sim = start_sim(credits=5000, speed=SPEED, create_fault_hold=1.0)
    ours = make_studio(sim)
    sim.fault_next_create("cut")
    job = ours.submit(REQ, model=MODEL)
    assert wait_until(lambda: sim.stats()["counters"].get("create_cut") == 1, 30)
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url) as outside:
        outside.create_task(sd.TextToVideo("elsewhere", duration=6), model=MODEL)
    ended(job)
    assert job.settled == AMBIGUOUS and "outside this ledger" in job.error
    assert job.status is JobStatus.SEND_FAILED
