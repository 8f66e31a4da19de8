"""Issue #8, webhook abuse: callbacks are unsigned, so the receiver must treat each as a hint.

Forged, foreign, replayed and malformed callbacks must never change a job, an output or the
ledger; only a queryTask answer does. The receiver must answer everything, stay up, never be
head-of-line blocked by a slow client, and a burst of hints must not become a queryTask storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.runtime import JobStatus
from seedance_nb.runtime._webhook import MAX_BODY, MAX_CONNECTIONS, Receiver
from seedance_nb.simulator import Simulator
from tests.waiting import wait_until

POLL = 0.05  # the runtime's time unit, as in test_runtime.py
QUERIES = "requests GET /api/v1/jobs/queryTask"
FAKE_URL = "http://evil.invalid/forged/fake-video.mp4"
SECRET = "sk-live-THIS-MUST-NEVER-BE-LOGGED-0123456789"


@pytest.fixture
def make_studio(make_studio: Callable[..., sd.Studio]) -> Callable[..., sd.Studio]:
    """Studios as in conftest, each with a webhook receiver on a free loopback port."""

    def make(sim: Simulator, **options: Any) -> sd.Studio:
        options.setdefault("webhook_url", "http://127.0.0.1:0/hook")
        return make_studio(sim, **options)

    return make


# ---- helpers -----------------------------------------------------------------------------------
def receiver(studio: sd.Studio) -> Receiver:
    assert studio._webhook is not None
    return studio._webhook


def queries(sim: Simulator) -> int:
    """queryTask requests the simulator has seen, from anyone."""
    return int(sim.stats()["counters"].get(QUERIES, 0))


def callback(task_id: object, status: str = "COMPLETED", url: str = FAKE_URL) -> dict[str, Any]:
    """A callback body shaped exactly like the API's, saying whatever we like."""
    return {
        "taskId": task_id,
        "model": "seedance2",
        "status": status,
        "creditsUsed": 1,
        "output": [{"url": url, "width": 1280, "height": 720}],
        "error": "forged" if status == "FAILED" else None,
        "createTime": 1711234567890,
        "completeTime": 1711234612345,
    }


def post(url: str, body: object) -> int:
    return httpx.post(url, json=body, timeout=30).status_code


def connect(rx: Receiver) -> socket.socket:
    return socket.create_connection((rx.host, rx.port), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """Everything the receiver sends until it closes the connection."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def raw(rx: Receiver, data: bytes, *, end: bool = True) -> bytes:
    """Send raw bytes on a fresh connection (then EOF if `end`) and return the whole answer."""
    with connect(rx) as sock:
        sock.sendall(data)
        if end:  # the receiver may have answered and closed already (a 414 mid-upload): fine
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (0 if the connection closed without one)."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/1.") else 0


def request(rx: Receiver, body: bytes, *, path: str | None = None, headers: str = "") -> bytes:
    head = (
        f"POST {path or rx.path} HTTP/1.1\r\nHost: {rx.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    )
    return head.encode() + body


async def _fire(url: str, bodies: list[object]) -> list[int]:
    # half the receiver's connection slots, so a burst never meets its 503 for a full house
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS // 2, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        answers = await asyncio.gather(*(http.post(url, json=body) for body in bodies))
    return [a.status_code for a in answers]


def fire(url: str, bodies: list[object]) -> list[int]:
    """POST every body concurrently (many connections at once); every status code, in order."""
    return asyncio.run(_fire(url, bodies))


def ledger_text(studio: sd.Studio) -> str:
    return json.dumps(studio.ledger.rows(), default=str)


def running_on_sim(sim: Simulator) -> int:
    tasks = sim.stats()["tasks"]
    return int(tasks.get("PENDING", 0) + tasks.get("PROCESSING", 0))


# ---- who may hint ------------------------------------------------------------------------------
def test_callbacks_for_unknown_ids_are_ignored_without_a_query(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    finished = studio.submit(sd.TextToVideo("already finished", duration=4))
    finished.result(timeout=60)
    url = receiver(studio).url
    before_rows, before_queries = studio.ledger.rows(), queries(sim)
    engine_queries, hints = studio.engine.stats["queries"], studio.engine.stats["hints"]

    # well-formed callbacks naming tasks this studio is not running (one it finished) ...
    unknown = [f"task_{i:020x}" for i in range(50)]
    unknown += [finished.task_id, " ", "x" * (MAX_BODY // 2), "task_\u00e9\u0000"]
    assert fire(url, [callback(task_id) for task_id in unknown]) == [200] * len(unknown)
    # ... and ones with no usable taskId, which are not even hints
    broken: list[object] = [callback(i) for i in ("", None, 7, ["task_a"], {"id": "task_b"})]
    broken.append({"status": "COMPLETED"})
    assert fire(url, broken) == [400] * len(broken)

    # each answer is sent after the hint was handled, so these counts are final
    assert studio.engine.stats["hints"] - hints == len(unknown)
    assert studio.engine.stats["hints_ignored"] >= len(unknown)
    assert studio.engine.stats["queries"] == engine_queries
    assert queries(sim) == before_queries
    assert studio.ledger.rows() == before_rows
    assert FAKE_URL not in ledger_text(studio)
    assert finished.task.video_url != FAKE_URL and finished.status is JobStatus.COMPLETED


def test_callbacks_for_another_accounts_task_are_ignored(start_sim, make_studio):
    sim = start_sim(api_keys=("sk-sim-ours", "sk-sim-theirs"), speed=0.01)
    studio = make_studio(sim)
    rx = receiver(studio)
    before_rows, before_queries = studio.ledger.rows(), queries(sim)
    with sd.Client(api_key="sk-sim-theirs", base_url=sim.base_url) as theirs:
        # their task even names OUR receiver, so the simulator itself delivers its callback
        foreign = theirs.create_task(sd.TextToVideo("not yours", duration=4), "seedance2", rx.url)
        assert wait_until(lambda: sim.stats()["counters"].get("webhooks_delivered", 0) >= 1)
        real_body = httpx.get(
            f"{sim.base_url}/jobs/queryTask",
            params={"taskId": foreign},
            headers={"Authorization": "Bearer sk-sim-theirs"},
        ).json()
    hints_ignored = studio.engine.stats["hints_ignored"]
    assert hints_ignored >= 1  # the simulator's own delivery was received and ignored
    bodies = [callback(foreign), callback(foreign, "FAILED"), real_body]
    assert fire(rx.url, bodies * 20) == [200] * 60
    assert studio.engine.stats["hints_ignored"] == hints_ignored + 60
    assert queries(sim) == before_queries + 1  # only their own query above, none of ours
    assert studio.engine.stats["queries"] == 0
    assert studio.ledger.rows() == before_rows == []
    assert studio.ledger.rows(task_id=foreign) == []


def test_a_real_callback_still_speeds_up_detection(start_sim, make_studio):
    """The point of the receiver survives the hardening: with the safety-net polls pushed far
    past the render (the p99.99 of the declared-speed prior, about 4.5 medians, and polls a
    minute apart), the job still ends at about its render time, because the simulator's
    callback (sent to the real port, not to port 0) prompts exactly one queryTask. (Before,
    a hint was "covered" by any poll due within 13.5 s of a 60 s poll_interval, so on a fast
    server the callback changed nothing and a safety poll raced it.)"""
    sim = start_sim(speed=0.05)  # a 4 s clip renders in about 2 s; the safety poll comes at ~9 s
    studio = make_studio(sim, poll_interval=60.0)
    scheduler = studio.engine.scheduler
    scheduler.policy = dataclasses.replace(scheduler.policy, safety=0.9999)
    rx = receiver(studio)
    assert urlsplit(rx.url).port == rx.port not in (0, 80)  # the free port it really got
    job = studio.submit(sd.TextToVideo("called back", duration=4))
    task = job.result(timeout=45)
    assert task.video_url is not None and task.video_url.startswith(sim.root_url)
    assert sim.stats()["counters"].get("webhooks_delivered", 0) == 1
    stats = studio.engine.stats
    assert stats["hints"] == 1 and stats["hints_ignored"] == stats["hints_coalesced"] == 0
    assert studio.engine.stats["queries"] == queries(sim) == 1
    row = studio.ledger.get(job.id)
    assert json.loads(row["params"])["callBackUrl"] == rx.url


# ---- what a hint may change --------------------------------------------------------------------
def test_forged_completion_for_our_running_task_changes_nothing(start_sim, make_studio):
    sim = start_sim(speed=0.1)  # a 15 s video renders in about 5 s
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("the real one", duration=15))
    assert wait_until(lambda: job.task_id is not None, timeout=60)
    rx = receiver(studio)
    asked = studio.engine.stats["queries"]
    for status in ("COMPLETED", "FAILED", "COMPLETED"):
        assert post(rx.url, callback(job.task_id, status)) == 200
    # the hint is acted on with a queryTask, whose answer says the task is still running
    assert wait_until(lambda: studio.engine.stats["queries"] > asked and job.task is not None)
    assert running_on_sim(sim) == 1, "the test needs the task still running here"
    assert not job.done
    assert job.status in (JobStatus.PENDING, JobStatus.PROCESSING)
    assert job.local_path is None and job.task is not None and job.task.video_url is None
    assert FAKE_URL not in ledger_text(studio)
    assert studio.ledger.get(job.id)["status"] in ("PENDING", "PROCESSING")

    task = job.result(timeout=120)  # ends only when queryTask says so
    assert running_on_sim(sim) == 0
    assert task.video_url is not None and task.video_url.startswith(sim.root_url)
    assert task.credits_used == 15 * 40  # the server's charge, not the forged 1
    assert job.local_path is not None and job.local_path.stat().st_size > 0
    row = studio.ledger.get(job.id)
    assert row["status"] == "COMPLETED" and row["video_url"] == task.video_url
    assert row["credits_used"] == 15 * 40
    for text in (ledger_text(studio), repr(job), job.summary(), repr(task), str(job.local_path)):
        assert FAKE_URL not in text and "evil.invalid" not in text
    made = [str(p.relative_to(studio.outputs)) for p in studio.outputs.rglob("*")]
    assert made and not any("fake" in name or "evil" in name for name in made)


def test_replayed_callbacks_coalesce_instead_of_storming_query_task(start_sim, make_studio):
    """Hundreds of copies of one callback, at once, for one running job.

    Bound: a hint may pull a job's next poll forward to now, but never to less than
    `spacing` (0.9 x poll_interval) after the last time a hint did, and never while a poll is
    already due by then or in flight. So over T seconds one job gets at most 1 + T/spacing
    hint-driven queries plus 1 + T/spacing scheduled ones: queries grow with time, never with
    the number of replays. Without coalescing, each replay could cost a queryTask.
    """
    sim = start_sim(speed=1.0)  # the task stays queued then rendering for 20 s or more
    poll_interval = 2.0
    studio = make_studio(sim, poll_interval=poll_interval)
    spacing = studio.engine.spacing
    job = studio.submit(sd.TextToVideo("replayed", duration=4))
    assert wait_until(lambda: job.task_id is not None, timeout=60)
    rx = receiver(studio)
    replays = 400
    start, asked, sim_asked = time.monotonic(), studio.engine.stats["queries"], queries(sim)
    answers = fire(rx.url, [callback(job.task_id)] * replays)
    # let any poll the burst started come back before counting
    assert wait_until(lambda: job.task is not None and studio.engine.tracks[job.id].due is not None)
    elapsed = time.monotonic() - start

    assert answers == [200] * replays
    assert rx.received >= replays
    made = studio.engine.stats["queries"] - asked
    bound = 2 + 2 * int(elapsed / spacing)
    assert 1 <= made <= bound, f"{made} queries for {replays} replays in {elapsed:.1f}s"
    assert queries(sim) - sim_asked == made  # the simulator saw the same, no more
    assert studio.engine.stats["hints_coalesced"] >= replays - bound
    assert running_on_sim(sim) == 1 and not job.done
    assert FAKE_URL not in ledger_text(studio)

    # a second burst costs no more than the clock allows either: no growth with replays
    again = studio.engine.stats["queries"]
    start = time.monotonic()
    assert fire(rx.url, [callback(job.task_id)] * replays) == [200] * replays
    assert wait_until(lambda: studio.engine.tracks[job.id].due is not None)
    elapsed = time.monotonic() - start
    assert studio.engine.stats["queries"] - again <= 2 + 2 * int(elapsed / spacing)
    assert running_on_sim(sim) == 1 and not job.done and job.task.video_url is None


def test_replays_from_threads_are_all_answered(start_sim, make_studio):
    sim = start_sim(speed=0.1)
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("threaded", duration=15))
    assert wait_until(lambda: job.task_id is not None, timeout=60)
    url = receiver(studio).url
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=60) as http:
            for _ in range(25):
                code = http.post(url, json=callback(job.task_id)).status_code
                with lock:
                    codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert codes == [200] * 200
    task = job.result(timeout=120)
    assert task.video_url is not None and task.video_url.startswith(sim.root_url)
    assert FAKE_URL not in ledger_text(studio)


# ---- hostile HTTP ------------------------------------------------------------------------------
def test_hostile_http_is_refused_and_the_receiver_stays_up(start_sim, make_studio, caplog):
    caplog.set_level(logging.DEBUG)
    sim = start_sim()
    studio = make_studio(sim)
    rx = receiver(studio)
    rx.read_timeout = 1.0  # how long a silent client may hold a connection
    secret_body = json.dumps({"taskId": SECRET, "apiKey": SECRET}).encode()
    auth = f"Authorization: Bearer {SECRET}\r\nX-Api-Key: {SECRET}\r\n"
    answers: list[bytes] = []

    def check(data: bytes, expected: int | tuple[int, ...], *, end: bool = True) -> None:
        answer = raw(rx, data, end=end)
        answers.append(answer)
        wanted = expected if isinstance(expected, tuple) else (expected,)
        assert status_of(answer) in wanted, (data[:80], answer[:80])

    check(request(rx, b"{not json", headers=auth), 400)
    check(request(rx, b"\xff\xfe\x00garbage" + SECRET.encode(), headers=auth), 400)
    check(request(rx, b'["a", "list"]'), 400)  # JSON, but not an object
    check(request(rx, b'"just a string"'), 400)
    check(request(rx, b"null"), 400)
    check(request(rx, b"[" * 50_000), 400)  # deep nesting must not crash the handler
    check(request(rx, b""), 400)  # no body at all
    check(request(rx, secret_body, headers=auth), 200)  # well-formed; an unknown id: ignored
    check(request(rx, secret_body, path="/elsewhere", headers=auth), 404)
    check(request(rx, secret_body, path="/hook/../admin"), 404)
    check(f"GET {rx.path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode(), 405)
    check(f"PUT {rx.path} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode(), 405)
    check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), 400)  # TLS hello
    check(b"\r\n\r\n", 400)
    check(b"", 400)  # connect, then close at once
    check(b"POST /hook HTTP/1.1\r\nContent-Length: -5\r\n\r\n{}", 400)
    check(b"POST /hook HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}", 400)
    check(b"POST /hook HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n{}", 400)
    check(b"POST /hook HTTP/1.1\r\n" + b"X-Filler: " + b"a" * 200_000 + b"\r\n\r\n", (400, 431))
    many = "".join(f"X-H{i}: {i}\r\n" for i in range(5000)).encode()
    check(b"POST /hook HTTP/1.1\r\n" + many + b"Content-Length: 2\r\n\r\n{}", (400, 431))
    check(b"POST /hook" + b"/a" * 100_000 + b" HTTP/1.1\r\n\r\n", (400, 414, 431))
    # a body shorter than Content-Length: the client gives up (EOF) or just stops sending
    check(b"POST /hook HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + b'{"taskId": "ta', 400)
    check(b"POST /hook HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", 408, end=False)
    # a huge Content-Length is refused at once, before any of the body is read: we send none,
    # and keep the connection open, so only an answer that did not wait for it can arrive
    check(f"POST /hook HTTP/1.1\r\n{auth}Content-Length: {10**12}\r\n\r\n".encode(), 413, end=False)
    check(f"POST /hook HTTP/1.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode(), 413, end=False)

    # a slow client opens a connection and sends nothing; meanwhile others are still answered
    with connect(rx) as slow, connect(rx) as trickle:
        trickle.sendall(b"POST /hook HTTP/1.1\r\nContent-Le")  # half a request, then silence
        for _ in range(3):
            assert post(rx.url, callback("task_unknown_while_slow")) == 200
        # and the receiver does drop them in the end, so they cannot hold it forever
        assert status_of(read_all(slow)) == 408
        assert status_of(read_all(trickle)) == 408

    for answer in answers:  # nothing of a request is ever echoed back
        assert SECRET.encode() not in answer
        assert answer.endswith(b"\r\n\r\n"), answer  # headers only, never a body

    # after all of it: a normal callback is answered and the studio still completes its jobs
    assert post(rx.url, callback("task_after_the_storm")) == 200
    jobs = [studio.submit(sd.TextToVideo(f"after abuse {i}", duration=4)) for i in range(3)]
    studio.wait(jobs, timeout=120)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED] * 3
    assert sim.stats()["counters"].get("webhooks_delivered", 0) >= 3

    gc.collect()  # surfaces any "Task exception was never retrieved" from a crashed handler
    assert SECRET not in caplog.text
    ours = ("asyncio", "seedance_nb")  # a crashed handler would log through one of these
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(ours)]
    assert not loud, [f"{r.name}: {r.getMessage()[:200]}" for r in loud]


def test_a_flood_of_silent_connections_is_capped_not_blocking(start_sim, make_studio):
    """More silent connections than the receiver keeps: the extra ones are answered 503 and
    closed at once (so they cannot use up the kernel's file descriptors); once the silent ones
    go, callbacks are answered 200 again, and the studio never stopped polling meanwhile."""
    sim = start_sim()
    studio = make_studio(sim)
    rx = receiver(studio)
    rx.read_timeout = 30.0  # the silent ones stay until we close them
    job = studio.submit(sd.TextToVideo("under a flood", duration=4))
    silent = [connect(rx) for _ in range(MAX_CONNECTIONS)]
    try:
        assert wait_until(lambda: rx.open_connections >= MAX_CONNECTIONS)
        extra = [connect(rx) for _ in range(20)]
        for sock in extra:
            assert status_of(read_all(sock)) == 503
            sock.close()
        assert post(rx.url, callback("task_during_the_flood")) == 503
        job.result(timeout=120)  # polling goes on without callbacks
    finally:
        for sock in silent:
            sock.close()
    assert wait_until(lambda: rx.open_connections == 0)
    assert post(rx.url, callback("task_after_the_flood")) == 200
    assert job.status is JobStatus.COMPLETED and FAKE_URL not in ledger_text(studio)
