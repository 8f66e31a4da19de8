"""Studio against a real simulator: queue, poller, downloads, dedupe, resume, no double spend."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import av
import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.ledger import Ledger
from seedance_nb.runtime import JobCancelled, JobStatus
from tests.waiting import wait_until

POLL = 0.05  # the runtime's time unit; the simulator runs at speed 0.01


def test_nine_jobs_through_a_limit_of_three_all_complete(start_sim, make_studio):
    sim = start_sim(concurrency=3, credits=100_000)
    studio = make_studio(sim, concurrency=3)
    peak = []
    jobs = [
        studio.submit(sd.TextToVideo(f"scene {i}", duration=4), experiment="nine") for i in range(9)
    ]
    for job in jobs:
        job.on_update(lambda j: peak.append(sim.stats()["accounts"]["account-1"]["running"]))
    studio.wait(jobs, timeout=120)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 9
    assert max(peak) <= 3
    stats = sim.stats()
    assert stats["counters"]["tasks_created"] == 9
    assert stats["counters"].get("requests POST /api/v1/jobs/createTask") == 9  # no 429 seen
    assert studio.ledger.spent("nine") == stats["counters"]["credits_charged"] == 9 * 160
    df = studio.ledger.df
    assert (df["status"] == "COMPLETED").all() and df["credits_used"].sum() == 9 * 160


def test_server_429s_stay_inside_the_runtime(start_sim, make_studio):
    sim = start_sim(concurrency=2, credits=100_000)
    studio = make_studio(sim, concurrency=4)  # asks for more than the server allows
    jobs = [studio.submit(sd.TextToVideo(f"busy {i}", duration=4)) for i in range(6)]
    studio.wait(jobs, timeout=120)
    assert all(j.status is JobStatus.COMPLETED for j in jobs)
    assert studio.engine.stats["rejected_429"] > 0
    assert sim.stats()["counters"]["tasks_created"] == 6


def test_completed_video_is_downloaded_and_verified(start_sim, make_studio, tmp_path):
    sim = start_sim()
    studio = make_studio(sim)
    job = studio.submit(
        sd.TextToVideo("a paper boat", duration=4, resolution="720x720"),
        experiment="boats",
        label="A",
    )
    task = job.result(timeout=60)
    assert task.status is sd.TaskStatus.COMPLETED
    assert job.local_path == tmp_path / "outputs" / "boats" / f"{task.id}.mp4"
    with av.open(str(job.local_path)) as container:
        assert container.streams.video[0].width == 720
    row = studio.ledger.get(job.id)
    assert row["local_path"] == str(job.local_path) and row["task_id"] == task.id
    assert row["status"] == "COMPLETED" and row["credits_used"] == 160
    assert not list(job.local_path.parent.glob("*.part"))


def test_failed_task_ends_failed_in_the_ledger_with_its_error(start_sim, make_studio):
    sim = start_sim(fail_rate=1.0)
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("doomed", duration=4))
    with pytest.raises(sd.TaskFailedError):
        job.result(timeout=60)
    row = studio.ledger.get(job.id)
    assert row["status"] == "FAILED" and row["error"] == job.task.error and row["error"]
    assert row["credits_used"] == 0
    assert studio.ledger.spent() == 0


def test_rerun_returns_the_earlier_job_and_force_sends_again(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    req = sd.TextToVideo("same prompt twice", duration=4)
    first = studio.submit(req, experiment="rerun")
    assert (
        studio.submit(sd.TextToVideo("same prompt twice", duration=4), experiment="rerun") is first
    )
    first.result(timeout=60)
    other_experiment = studio.submit(req, experiment="elsewhere")
    forced = studio.submit(req, experiment="rerun", force=True)
    studio.wait([other_experiment, forced], timeout=60)
    assert forced is not first and forced.task_id != first.task_id
    assert sim.stats()["counters"]["tasks_created"] == 3


def test_rerun_after_a_restart_spends_nothing(start_sim, make_studio):
    sim = start_sim()
    req = sd.TextToVideo("kept across kernels", duration=4)
    first = make_studio(sim).submit(req, experiment="keep")
    first.result(timeout=60)
    again = make_studio(sim).submit(req, experiment="keep")
    assert again.id == first.id and again.status is JobStatus.COMPLETED
    assert again.result(timeout=5).id == first.task_id
    assert again.local_path == first.local_path
    assert sim.stats()["counters"]["tasks_created"] == 1


def test_budget_refuses_before_anything_is_sent(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim, experiment="tight", budget=300)
    studio.submit(sd.TextToVideo("first", duration=4))  # 160 committed
    with pytest.raises(sd.BudgetExceededError) as info:
        studio.submit(sd.TextToVideo("second", duration=4))
    assert info.value.remaining == 140 and info.value.cost == 160
    assert len(studio.ledger.rows(experiment="tight")) == 1


def test_create_task_is_never_resent_after_a_500(start_sim, make_studio):
    sim = start_sim(error_rate=1.0)
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("unlucky", duration=4))
    with pytest.raises(sd.JobError, match="force=True") as info:
        job.result(timeout=60)
    assert isinstance(info.value.__cause__, sd.ServerError)
    assert job.status is JobStatus.SEND_FAILED and "not sent again" in job.error
    assert sim.stats()["counters"]["requests POST /api/v1/jobs/createTask"] == 1
    assert studio.ledger.get(job.id)["status"] == "SEND_FAILED"


def test_cancel_a_queued_job(start_sim, make_studio):
    sim = start_sim(speed=1.0)  # slow, so the queue stays full for the test
    studio = make_studio(sim, concurrency=1)
    running = studio.submit(sd.TextToVideo("runs", duration=4))
    queued = studio.submit(sd.TextToVideo("waits", duration=4))
    assert wait_until(lambda: running.task_id is not None)
    assert queued.cancel() is True
    with pytest.raises(JobCancelled):
        queued.result(timeout=10)
    assert queued.status is JobStatus.CANCELLED
    assert wait_until(lambda: studio.ledger.get(queued.id)["status"] == "CANCELLED")
    assert running.cancel() is False
    assert sim.stats()["counters"]["tasks_created"] == 1


def test_local_files_are_uploaded_to_the_simulator(start_sim, make_studio, tmp_path):
    sim = start_sim()
    studio = make_studio(sim)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (640, 480), (20, 120, 220)).save(photo)
    job = studio.submit(sd.ImageToVideo(photo, duration=4))
    assert job.result(timeout=60).status is sd.TaskStatus.COMPLETED
    sent = json.loads(studio.ledger.get(job.id)["params"])
    assert sent["inputs"]["urls"][0].startswith("asset://")
    assert sim.stats()["counters"]["assets_uploaded"] == 1


def test_hosted_api_without_uploader_explains_the_choice(tmp_path):
    client = sd.Client(api_key="sk-test", base_url="https://api.example.invalid/api/v1")
    studio = sd.Studio(client=client, ledger=tmp_path / "l.sqlite", verbose=False)
    photo = tmp_path / "p.png"
    Image.new("RGB", (500, 500)).save(photo)
    try:
        with pytest.raises(sd.ValidationError, match="uploader"):
            studio.submit(sd.ImageToVideo(photo))
        assert studio.ledger.rows() == []
    finally:
        studio.close()
        client.close()


def test_updates_reach_callbacks_and_a_broken_callback_is_kept(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    seen = []
    job = studio.submit(sd.TextToVideo("watched", duration=4))
    job.on_update(lambda j: seen.append(j.status))
    job.on_update(lambda j: 1 / 0)
    job.result(timeout=60)
    assert seen[-1] is JobStatus.COMPLETED
    assert job.callback_errors and isinstance(job.callback_errors[0], ZeroDivisionError)


def test_await_job_from_async_code(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)

    async def main():
        job = studio.submit(sd.TextToVideo("awaited", duration=4))
        return await job

    assert asyncio.run(main()).status is sd.TaskStatus.COMPLETED


def test_webhook_mode_treats_callbacks_as_hints(start_sim, make_studio):
    import httpx

    sim = start_sim()
    studio = make_studio(sim, webhook_url="http://127.0.0.1:0/hook")
    job = studio.submit(sd.TextToVideo("called back", duration=4))
    job.result(timeout=60)
    url = studio._webhook.url
    forged = {"taskId": "task_forged", "status": "COMPLETED", "creditsUsed": 1}
    for _ in range(20):
        assert httpx.post(url, json=forged).status_code == 200
    assert httpx.post(url, content=b"not json").status_code == 400
    for _ in range(500):
        if studio.engine.stats["hints"] >= 21:
            break
        threading.Event().wait(0.01)
    assert studio.engine.stats["hints_ignored"] >= 20
    assert studio.ledger.rows(task_id="task_forged") == []


CHILD = textwrap.dedent("""
    import sys, threading
    import seedance_nb as sd
    base, key, ledger, outputs = sys.argv[1:5]
    client = sd.Client(api_key=key, base_url=base)
    studio = sd.Studio(client=client, ledger=ledger, outputs=outputs, poll_interval=0.25,
                       verbose=False)
    for i in range(9):
        studio.submit(sd.TextToVideo(f"batch item {i}", duration=4), experiment="batch")
    print("SUBMITTED", flush=True)
    threading.Event().wait()  # until killed
""")


def test_kill_9_mid_batch_then_resume_sends_each_exactly_once(start_sim, make_studio, tmp_path):
    sim = start_sim(speed=0.05, credits=100_000)  # renders take about a second
    ledger_path = tmp_path / "ledger.sqlite"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            sim.base_url,
            sim.api_key,
            str(ledger_path),
            str(tmp_path / "outputs"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "SUBMITTED"
        watcher = Ledger(ledger_path)
        for _ in range(3000):  # until three are running, six wait, and none is mid-send
            statuses = [r["status"] for r in watcher.rows(experiment="batch")]
            if (
                statuses.count("QUEUED") == 6
                and statuses.count("SENDING") == 0
                and all(
                    r["task_id"]
                    for r in watcher.rows(experiment="batch")
                    if r["status"] in ("PENDING", "PROCESSING")
                )
            ):
                break
            threading.Event().wait(0.005)
        else:
            raise AssertionError(f"batch never reached the kill point: {statuses}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        watcher.close()
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    studio = make_studio(sim, ledger=ledger_path, poll_interval=0.25)
    jobs = studio.resume()
    assert len(jobs) == 9
    studio.wait(jobs, timeout=120)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 9
    stats = sim.stats()
    assert stats["counters"]["tasks_created"] == 9
    assert stats["duplicate_payloads"] == 0
    assert studio.ledger.spent("batch") == stats["counters"]["credits_charged"]


def test_sweep_prices_first_and_submits_only_when_asked(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    plan = studio.sweep(["a fox", "a wolf"], durations=[4, 6], experiment="sweep")
    assert plan.jobs == [] and len(plan.plan) == 4
    assert plan.total == 2 * (160 + 240) == plan.plan["estimated_credits"].sum()
    assert list(plan.plan["label"]) == ["p1·4s", "p1·6s", "p2·4s", "p2·6s"]
    assert sim.stats()["counters"].get("tasks_created", 0) == 0
    jobs = plan.submit()
    assert plan.submit() is jobs  # a second call sends nothing more
    studio.wait(jobs, timeout=120)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 4
    assert sim.stats()["counters"]["tasks_created"] == 4


def test_sweep_within_budget_goes_at_once_and_over_budget_refuses(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    studio.ledger.set_budget("roomy", 1000)
    studio.ledger.set_budget("tight", 300)
    roomy = studio.sweep(["x", "y"], durations=[4], experiment="roomy")
    assert len(roomy.jobs) == 2
    tight = studio.sweep(["x", "y"], durations=[4], experiment="tight")
    assert tight.jobs == []
    with pytest.raises(sd.BudgetExceededError):
        studio.sweep(["x", "y"], durations=[4], experiment="tight", confirm=True)
    assert studio.ledger.rows(experiment="tight") == []
    studio.wait(roomy.jobs, timeout=60)


def test_a_custom_uploader_is_used_for_local_files(start_sim, make_studio, tmp_path):
    sim = start_sim()
    studio = make_studio(sim)
    uploaded = []

    def uploader(path):
        uploaded.append(path)
        with sd.Client(api_key=sim.api_key, base_url=sim.base_url) as client:
            return client.upload_asset(path)

    studio.uploader = uploader
    photo = tmp_path / "photo.png"
    Image.new("RGB", (500, 500), (1, 2, 3)).save(photo)
    job = studio.submit(sd.ImageToVideo(photo, duration=4))
    job.result(timeout=60)
    assert uploaded == [photo]


def test_a_poll_that_fails_unexpectedly_is_retried_not_abandoned(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    real, failures = studio.engine.client.get_task, []

    async def flaky(task_id):
        if not failures:
            failures.append(task_id)
            raise RuntimeError("a bug in a layer below")
        return await real(task_id)

    studio.engine.client.get_task = flaky
    job = studio.submit(sd.TextToVideo("keeps going", duration=4))
    assert job.result(timeout=60).status == "COMPLETED"
    assert failures == [job.task_id] and studio.engine.stats["poll_errors"] == 1
