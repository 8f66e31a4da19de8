"""The job lifecycle as an adversary tries it: a second process, a kill at the worst moment, an
answer nobody documented, a full disk. Each test names the finding of issue [lifecycle] it
covers; the money promises are checked against the simulator's own books.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import JobStatus
from seedance_nb.runtime._download import verify_video
from tests.waiting import wait_until

CREATE = "requests POST /api/v1/jobs/createTask"
ROOT = Path(__file__).resolve().parents[2]


def spawn(code: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Run `code` in a fresh Python process (a second kernel, in effect)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sim_env(sim, tmp_path: Path) -> dict[str, str]:
    return {
        "SIM_URL": sim.base_url,
        "SIM_KEY": sim.api_key,
        "LEDGER": str(tmp_path / "ledger.sqlite"),
        "OUTPUTS": str(tmp_path / "outputs"),
    }


STUDIO = """
import os, sys, time, json
import seedance_nb as sd
client = sd.Client(api_key=os.environ["SIM_KEY"], base_url=os.environ["SIM_URL"])
studio = sd.Studio(client=client, ledger=os.environ["LEDGER"], outputs=os.environ["OUTPUTS"],
                   experiment="shared", poll_interval=0.05, verbose=False)
"""


# ---- 1. paid twice across processes ------------------------------------------------------------
def test_two_processes_submitting_the_same_four_requests_create_four_tasks(start_sim, tmp_path):
    sim = start_sim(credits=100_000)
    go = tmp_path / "go"
    code = (
        STUDIO
        + """
while not os.path.exists(os.environ["GO"]):
    time.sleep(0.001)
jobs = [studio.submit(sd.TextToVideo(f"same scene {i}", duration=4)) for i in range(4)]
studio.wait(jobs, timeout=120)
print(json.dumps([[j.id, str(j.status)] for j in jobs]))
studio.close()
"""
    )
    env = {**sim_env(sim, tmp_path), "GO": str(go)}
    procs = [spawn(code, env, tmp_path) for _ in range(2)]
    sd.Ledger(tmp_path / "ledger.sqlite").close()  # both find the file made
    go.touch()
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    seen = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(i for i, _ in seen[0]) == sorted(i for i, _ in seen[1])  # the same 4 rows
    assert {s for run in seen for _, s in run} == {"COMPLETED"}

    stats = sim.stats()  # two studios of one account meet 429s, which create nothing
    assert stats["counters"]["tasks_created"] == 4 and stats["duplicate_payloads"] == 0
    with sd.Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert len(ledger.rows(experiment="shared")) == 4
        assert ledger.spent("shared") == stats["counters"]["credits_charged"]
    for err in (e for _, e in outs):  # a script that closed its studio says nothing at exit
        assert "Traceback" not in err and "destroyed" not in err


def test_a_live_studios_queued_row_is_never_taken_by_a_second_studio(
    start_sim, make_studio, tmp_path
):
    sim = start_sim(speed=0.05)  # slow enough that the queue stays full while we look
    code = (
        STUDIO.replace("poll_interval=0.05", "poll_interval=0.05, concurrency=1")
        + """
jobs = [studio.submit(sd.TextToVideo(f"queued scene {i}", duration=4)) for i in range(3)]
print("SUBMITTED", flush=True)
studio.wait(jobs, timeout=300)
print(json.dumps([str(j.status) for j in jobs]), flush=True)
studio.close()
"""
    )
    owner = spawn(code, sim_env(sim, tmp_path), tmp_path)
    assert owner.stdout is not None and owner.stdout.readline().strip() == "SUBMITTED"

    second = make_studio(sim, outputs=tmp_path / "outputs-2", experiment="shared")
    try:
        assert second.resume() == []  # every row has a live owner
        again = second.submit(sd.TextToVideo("queued scene 2", duration=4))  # its last one
        assert again.result(timeout=120).status is sd.TaskStatus.COMPLETED
        assert second.engine.stats["creates"] == 0  # it followed; the owner sent it
    finally:
        second.close()
    out, err = owner.communicate(timeout=180)
    assert owner.returncode == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1]) == ["COMPLETED"] * 3
    assert sim.stats()["counters"][CREATE] == 3


def test_a_killed_studios_rows_are_taken_over_and_none_is_sent_twice(
    start_sim, make_studio, tmp_path
):
    sim = start_sim(speed=0.05)
    code = (
        STUDIO.replace("poll_interval=0.05", "poll_interval=0.05, concurrency=1")
        + """
jobs = [studio.submit(sd.TextToVideo(f"orphan {i}", duration=4)) for i in range(3)]
while studio.ledger.get(jobs[0].id)["task_id"] is None:  # recorded, not only in memory
    time.sleep(0.01)
print("SENT", flush=True)
time.sleep(600)
"""
    )
    victim = spawn(code, sim_env(sim, tmp_path), tmp_path)
    assert victim.stdout is not None and victim.stdout.readline().strip() == "SENT"
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)  # reaps it and closes its pipes

    heir = make_studio(sim, experiment="shared")
    try:
        jobs = heir.resume()
        assert len(jobs) == 3
        heir.wait(jobs, timeout=120)
        assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 3
        assert all(verify_video(j.local_path) > 0 for j in jobs)
    finally:
        heir.close()
    assert sim.stats()["counters"][CREATE] == 3 and sim.stats()["duplicate_payloads"] == 0


# ---- 2. paid twice on a re-run -----------------------------------------------------------------
def test_a_rerun_after_send_failed_reuses_the_job_and_only_force_sends(start_sim, make_studio):
    sim = start_sim(error_rate=1.0)
    studio = make_studio(sim)
    req = sd.TextToVideo("unlucky twice", duration=4)
    first = studio.submit(req)
    with pytest.raises(sd.JobError):
        first.result(timeout=60)
    assert first.status is JobStatus.SEND_FAILED

    again = studio.submit(req)  # the same cell, run again without force
    assert again is first and again.status is JobStatus.SEND_FAILED
    assert sim.stats()["counters"][CREATE] == 1

    forced = studio.submit(req, force=True)
    assert forced is not first and forced.id != first.id
    with pytest.raises(sd.JobError):  # the simulator still answers 500
        forced.result(timeout=60)
    assert sim.stats()["counters"][CREATE] == 2


def test_a_rerun_after_send_failed_in_a_new_kernel_sends_nothing(start_sim, make_studio, tmp_path):
    sim = start_sim(error_rate=1.0)
    req = sd.TextToVideo("unlucky after restart", duration=4)
    first = make_studio(sim).submit(req)
    with pytest.raises(sd.JobError):
        first.result(timeout=60)
    later = make_studio(sim)  # same ledger file: a new kernel
    job = later.submit(req)
    assert job.status is JobStatus.SEND_FAILED and job.done
    assert "force=True" in (job.error or "")
    assert sim.stats()["counters"][CREATE] == 1


# ---- 3. jobs that never end --------------------------------------------------------------------
class Hostile:
    """An API that creates tasks and then answers queryTask however the test says."""

    def __init__(self, answer: object, status_code: int = 200, content_type: str = "") -> None:
        self.answer = answer
        self.status_code = status_code
        self.content_type = content_type
        self.creates = 0
        self.queries = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs/createTask"):
            self.creates += 1
            return httpx.Response(200, json={"taskId": f"task_{self.creates}"})
        if request.url.path.endswith("/account/credits"):
            return httpx.Response(200, json={"credits": 1000, "availableCredits": 1000})
        self.queries += 1
        answer = self.answer(self.queries) if callable(self.answer) else self.answer
        if isinstance(answer, str | bytes):
            headers = {"content-type": self.content_type or "text/html"}
            return httpx.Response(self.status_code, content=answer, headers=headers)
        return httpx.Response(self.status_code, json=answer)


def hostile_studio(tmp_path: Path, server: Hostile, **options: object) -> sd.Studio:
    client = sd.Client(
        api_key="sk-hostile-test",
        base_url="https://hostile.invalid/api/v1",
        transport=httpx.MockTransport(server),
        max_retries=0,
    )
    options.setdefault("poll_interval", 0.02)
    studio = sd.Studio(
        client=client,
        ledger=tmp_path / "ledger.sqlite",
        outputs=tmp_path / "outputs",
        verbose=False,
        **options,
    )
    client.close()
    return studio


def body(status: str, **extra: object) -> dict[str, object]:
    return {
        "taskId": "task_1",
        "model": "seedance2",
        "status": status,
        "creditsUsed": 0,
        "output": None,
        "error": None,
        "createTime": 1_700_000_000_000,
        "completeTime": None,
        **extra,
    }


@pytest.mark.parametrize("error", [{"code": 7, "message": "moderation"}, 7])
def test_a_failed_task_with_an_error_object_or_number_ends_failed(tmp_path, error):
    server = Hostile(body("FAILED", error=error, completeTime=1_700_000_050_000))
    studio = hostile_studio(tmp_path, server, budget=1000)
    try:
        job = studio.submit(sd.TextToVideo("refused", duration=4))
        with pytest.raises(sd.TaskFailedError):
            job.result(timeout=30)
        assert job.status is JobStatus.FAILED
        assert ("moderation" if isinstance(error, dict) else "7") in job.error
        row = studio.ledger.get(job.id)
        assert row["status"] == "FAILED" and row["task_id"] == "task_1"
        assert studio.ledger.remaining("default") == 1000  # nothing held against the budget
    finally:
        studio.close()


@pytest.mark.parametrize(
    "answer",
    [
        body("CANCELLED"),
        body("QUEUED"),
        "<html><body>Bad gateway, but 200</body></html>",
        "{not json",
        body("COMPLETED", output=[]),
    ],
    ids=["cancelled", "queued", "html", "invalid-json", "completed-without-video"],
)
def test_an_answer_of_an_undocumented_shape_ends_the_job_quoting_it(tmp_path, answer):
    server = Hostile(answer, content_type="application/json" if answer == "{not json" else "")
    studio = hostile_studio(tmp_path, server)
    try:
        job = studio.submit(sd.TextToVideo("odd answers", duration=4))
        with pytest.raises(sd.JobError) as info:
            job.result(timeout=30)
        assert job.status is JobStatus.UNKNOWN and job.task_id == "task_1"
        assert "times in a row" in job.error and "task_1" in job.error
        quoted = answer if isinstance(answer, str) else answer["status"]
        assert str(quoted)[:8] in job.error  # the answer is quoted
        assert isinstance(info.value.job, sd.Job)
        row = studio.ledger.get(job.id)
        assert row["status"] == "UNKNOWN" and row["task_id"] == "task_1"
        assert server.queries == 5 and server.creates == 1
    finally:
        studio.close()


def test_a_server_that_never_finishes_meets_the_deadline_and_wait_timeouts(tmp_path):
    server = Hostile(body("PROCESSING"))
    studio = hostile_studio(tmp_path, server, deadline=1.0)
    try:
        job = studio.submit(sd.TextToVideo("forever", duration=4))
        with pytest.raises(sd.WaitTimeoutError):
            job.result(timeout=0.05)
        with pytest.raises(sd.WaitTimeoutError):
            studio.wait([job], timeout=0.05)
        studio.wait([job], timeout=30)  # the deadline ends it
        assert job.status is JobStatus.UNKNOWN and "deadline" in job.error
        assert studio.ledger.get(job.id)["status"] == "UNKNOWN"
        assert studio.ledger.get(job.id)["task_id"] == "task_1"
    finally:
        studio.close()


def test_wait_on_a_failed_job_leaves_no_unretrieved_future(tmp_path, capfd):
    server = Hostile(body("FAILED", error="nope", completeTime=1_700_000_050_000))
    studio = hostile_studio(tmp_path, server)
    job = studio.submit(sd.TextToVideo("fails", duration=4))
    studio.wait([job], timeout=30)
    studio.close()
    import gc

    gc.collect()
    assert job.status is JobStatus.FAILED
    assert "never retrieved" not in capfd.readouterr().err


# ---- 4. a task id lost on a full disk ----------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 4 MiB file system (tmpfs) and a way to fill it to the last byte and free it."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    filler = mount / "filler"

    def fill() -> None:
        with filler.open("ab", buffering=0) as out:
            for block in (65536, 1):  # to the last byte
                try:
                    while True:
                        out.write(b"\0" * block)
                except OSError:
                    pass

    def free() -> None:
        filler.unlink(missing_ok=True)

    yield type("Disk", (), {"path": mount, "fill": staticmethod(fill), "free": staticmethod(free)})
    subprocess.run(["umount", "-l", str(mount)], check=False)


class FillOnCreate(httpx.AsyncBaseTransport):
    """Forwards to the real simulator, and fills the disk the moment createTask answers."""

    def __init__(self, fill) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fill = fill

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/jobs/createTask"):
            await response.aread()
            self.fill()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_full_disk_after_create_never_loses_the_task_id(start_sim, tmp_path, tiny_disk):
    sim = start_sim()
    client = sd.Client(
        api_key=sim.api_key, base_url=sim.base_url, transport=FillOnCreate(tiny_disk.fill)
    )
    studio = sd.Studio(
        client=client,
        ledger=tiny_disk.path / "ledger.sqlite",
        outputs=tmp_path / "outputs",
        poll_interval=0.05,
        verbose=False,
    )
    client.close()
    warnings: list[str] = []
    try:
        job = studio.submit(sd.TextToVideo("disk full", duration=4))
        job.on_update(lambda j: warnings.append(j.warning) if j.warning else None)
        assert wait_until(lambda: job.warning is not None, 30)
        assert "retrying" in job.warning and job.task_id is not None
        job.result(timeout=60)  # the task goes on meanwhile, and its video is saved
        tiny_disk.free()
        assert wait_until(lambda: job.warning is None, 30)
        row = studio.ledger.get(job.id)
        assert row["task_id"] == job.task_id and row["status"] == "COMPLETED"
        assert row["local_path"] == str(job.local_path)
        assert any("ledger could not record" in w for w in warnings)
    finally:
        tiny_disk.free()
        studio.close()
    assert sim.stats()["counters"][CREATE] == 1


# ---- 5. paid videos lost -----------------------------------------------------------------------
def test_kill_9_during_a_download_then_resume_saves_a_video_that_decodes(
    start_sim, make_studio, tmp_path
):
    sim = start_sim()
    code = (
        """
import pathlib, time
import seedance_nb.runtime._saving as engine
async def stuck(http, url, dest, **kw):
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"half a video")
    print("DOWNLOADING", flush=True)
    time.sleep(600)
engine.download = stuck
"""
        + STUDIO
        + """
job = studio.submit(sd.TextToVideo("killed while saving", duration=4))
time.sleep(600)
"""
    )
    victim = spawn(code, sim_env(sim, tmp_path), tmp_path)
    assert victim.stdout is not None and victim.stdout.readline().strip() == "DOWNLOADING"
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)  # reaps it and closes its pipes

    with sd.Ledger(tmp_path / "ledger.sqlite") as ledger:
        (row,) = ledger.rows(experiment="shared")
        assert row["status"] == "DOWNLOADING" and row["task_id"] and not row["local_path"]
    heir = make_studio(sim)
    try:
        (job,) = heir.resume()
        job.result(timeout=60)
        assert job.status is JobStatus.COMPLETED and verify_video(job.local_path) > 0
        assert heir.ledger.get(job.id)["status"] == "COMPLETED"
    finally:
        heir.close()
    assert sim.stats()["counters"][CREATE] == 1


def test_a_failed_download_ends_download_failed_and_download_fetches_it(
    start_sim, make_studio, monkeypatch
):
    import seedance_nb.runtime._saving as engine

    sim = start_sim()
    studio = make_studio(sim)
    real = engine.download
    calls = []

    async def broken(http, url, dest, **kw):
        calls.append(url)
        raise sd.DownloadError("the file answered 500", url=url, path=str(dest))

    monkeypatch.setattr(engine, "download", broken)
    job = studio.submit(sd.TextToVideo("saved later", duration=4))
    with pytest.raises(sd.JobError, match=r"job\.download\(\)"):
        job.result(timeout=60)
    assert job.status is JobStatus.DOWNLOAD_FAILED and job.credits_used
    row = studio.ledger.get(job.id)
    assert row["status"] == "DOWNLOAD_FAILED" and row["local_path"] is None
    assert studio.ledger.committed() == row["credits_used"]  # paid: it counts

    monkeypatch.setattr(engine, "download", real)
    path = job.download()
    assert verify_video(path) > 0 and job.status is JobStatus.COMPLETED
    assert job.result(timeout=1).status is sd.TaskStatus.COMPLETED
    assert studio.ledger.get(job.id)["status"] == "COMPLETED"
    assert len(calls) == 1 and sim.stats()["counters"][CREATE] == 1


def test_a_rerun_of_a_download_failed_request_fetches_the_video(
    start_sim, make_studio, monkeypatch
):
    import seedance_nb.runtime._saving as engine

    sim = start_sim()
    real = engine.download

    async def broken(http, url, dest, **kw):
        raise sd.DownloadError("disk trouble", url=url, path=str(dest))

    monkeypatch.setattr(engine, "download", broken)
    req = sd.TextToVideo("fetched on re-run", duration=4)
    first = make_studio(sim).submit(req)
    with pytest.raises(sd.JobError):
        first.result(timeout=60)
    monkeypatch.setattr(engine, "download", real)
    job = make_studio(sim).submit(req)  # a new kernel runs the same cell
    job.result(timeout=60)
    assert job.status is JobStatus.COMPLETED and verify_video(job.local_path) > 0
    assert sim.stats()["counters"][CREATE] == 1


# ---- 9. smaller ----------------------------------------------------------------------------------
def test_a_script_that_never_closes_its_studio_exits_quietly(start_sim, tmp_path):
    sim = start_sim()
    code = STUDIO + "\njob = studio.submit(sd.TextToVideo('left running', duration=4))\n"
    proc = spawn(code, sim_env(sim, tmp_path), tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "destroyed" not in err and "Traceback" not in err and "never retrieved" not in err
    with sd.Ledger(tmp_path / "ledger.sqlite") as ledger:  # its row is free for resume()
        (row,) = ledger.rows()
        assert row in ledger.claimable(sd.ledger.Owner.new())


@pytest.mark.parametrize(
    ("content", "cause"),
    [(b"this is not a database at all, just text" * 100, "not a seedance_nb ledger")],
)
def test_a_ledger_that_is_not_a_database_names_the_path_and_cause(tmp_path, content, cause):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(content)
    with pytest.raises(sd.LedgerError) as info:
        sd.Ledger(path)
    assert str(path) in str(info.value) and cause in str(info.value)


def test_a_read_only_ledger_names_the_path_and_cause(tiny_disk):
    path = tiny_disk.path / "ledger.sqlite"
    sd.Ledger(path).close()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk.path)], check=True)
    try:
        with pytest.raises(sd.LedgerError) as info:
            sd.Ledger(path)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tiny_disk.path)], check=True)
    assert str(path) in str(info.value) and "read-only" in str(info.value)


def test_a_ledger_that_cannot_be_opened_names_the_path_and_cause(tmp_path):
    path = tmp_path / "a-folder.sqlite"
    path.mkdir()
    with pytest.raises(sd.LedgerError) as info:
        sd.Ledger(path)
    assert str(path) in str(info.value) and "cannot be opened" in str(info.value)


def test_a_dead_process_on_this_host_frees_its_rows_without_waiting_out_the_lease(tmp_path):
    ledger = sd.Ledger(tmp_path / "ledger.sqlite")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    ghost = dataclasses.replace(sd.ledger.Owner.new(), id="ghost", pid=proc.pid)  # this machine
    ledger.register(ghost)
    row = ledger.log(experiment="e", status="PENDING", task_id="t", owner="ghost")
    me = sd.ledger.Owner.new()
    ledger.register(me)
    assert ledger.claim(row, me) is not None  # its process is gone: no lease to wait out
    other = sd.ledger.Owner.new()
    ledger.register(other)
    assert ledger.claim(row, other) is None  # now a live studio holds it
    ledger.retire(me)
    assert ledger.claim(row, other) is not None  # a studio that closed frees its rows at once
    ledger.close()


def test_download_after_the_link_expired_asks_the_server_for_a_fresh_one(
    start_sim, make_studio, monkeypatch
):
    import seedance_nb.runtime._saving as engine

    sim = start_sim(url_ttl=50.0)  # 0.5 s at this speed
    studio = make_studio(sim)
    real = engine.download

    async def broken(http, url, dest, **kw):
        raise sd.DownloadError("the disk was busy", url=url, path=str(dest))

    monkeypatch.setattr(engine, "download", broken)
    job = studio.submit(sd.TextToVideo("fetched after expiry", duration=4))
    with pytest.raises(sd.JobError):
        job.result(timeout=60)
    stale = studio.ledger.get(job.id)["video_url"]
    assert wait_until(lambda: httpx.get(stale).status_code in (403, 404), 30)  # as a CDN says

    monkeypatch.setattr(engine, "download", real)
    path = job.download()
    assert verify_video(path) > 0 and job.status is JobStatus.COMPLETED
    assert studio.ledger.get(job.id)["video_url"] != stale  # the fresh link is kept
    assert sim.stats()["counters"][CREATE] == 1
