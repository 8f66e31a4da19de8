"""An ETA right from the first job: the simulator declares its pace, the studio scales its
prior by it, and a job past its median says "any moment" with the p90, never "0s"."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import AsyncClient
from seedance_nb.runtime._predict import prior_seconds
from seedance_nb.runtime._progress import line
from seedance_nb.runtime._scheduler import Scheduler
from tests.conftest import FAST
from tests.waiting import wait_until

KIND = ("seedance2", 5, "1280x720", None)


def test_every_simulator_answer_declares_its_speed(start_sim):
    sim = start_sim(speed=0.25)
    with httpx.Client() as http:
        good = http.get(
            f"{sim.base_url}/account/credits", headers={"Authorization": f"Bearer {sim.api_key}"}
        )
        refused = http.get(
            f"{sim.base_url}/account/credits", headers={"Authorization": "Bearer nope"}
        )
        missing = http.get(
            f"{sim.base_url}/jobs/queryTask?taskId=no-such-task",
            headers={"Authorization": f"Bearer {sim.api_key}"},
        )
        stats = http.get(sim.base_url.split("/api/")[0] + "/_simulator/stats")
    for answer in (good, refused, missing, stats):
        assert answer.headers["X-Simulator-Speed"] == "0.25"
    assert good.status_code == 200 and refused.status_code == 401
    assert "speed" not in good.text.lower()  # the seed's credits shape is unchanged


def test_the_client_reads_the_declared_speed_and_ignores_a_bad_one():
    answers = iter(["0.1", "fast", "-3", "nan", "inf"])

    def reply(request: httpx.Request) -> httpx.Response:
        body = {"credits": 5, "availableCredits": 5}
        return httpx.Response(200, json=body, headers={"X-Simulator-Speed": next(answers)})

    async def go() -> list[float | None]:
        client = AsyncClient("sk-x", "http://sim.test", transport=httpx.MockTransport(reply))
        seen = [client.server_speed]
        for _ in range(5):
            await client.credits()
            seen.append(client.server_speed)
        await client.aclose()
        return seen

    assert asyncio.run(go()) == [None, 0.1, 0.1, 0.1, 0.1, 0.1]


def test_the_prior_is_scaled_by_the_declared_speed_and_stays_published_without():
    sched = Scheduler(poll_interval=5.0)
    assert sched.expected(KIND) == pytest.approx(prior_seconds(KIND))  # the hosted API
    sched.declare(0.1)
    assert sched.expected(KIND) == pytest.approx(0.1 * prior_seconds(KIND))
    assert sched.late(KIND, 0.0) > sched.expected(KIND)
    first = sched.next_poll(KIND, 0.0, 0.0, 0, False)
    assert 0.0 < first < 0.1 * prior_seconds(KIND)  # the plan on the scaled prior, not 45 s
    sched.declare(None)
    assert sched.expected(KIND) == pytest.approx(prior_seconds(KIND))


def test_the_first_job_of_a_studio_has_the_simulators_pace(start_sim, make_studio):
    sim = start_sim(speed=FAST)
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("a red kite over green hills", duration=5))
    assert wait_until(lambda: job.predicted_seconds is not None, 10)  # queued on the loop
    assert job.predicted_seconds == pytest.approx(FAST * prior_seconds(KIND), rel=0.5)
    job.result(timeout=30)


def test_a_job_past_its_median_reads_any_moment_with_the_p90(start_sim, make_studio):
    sim = start_sim(speed=FAST)
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("a red kite over green hills", duration=5))
    job.result(timeout=30)
    job._done = concurrent.futures.Future()  # as if still running
    job.ended = None
    job.sent = time.time() - 50.0
    job.predicted_seconds, job.p90_seconds = 45.0, 80.0
    assert job.eta == 0.0
    assert job.eta_text() == "any moment (p90 ~30s)"
    assert "eta any moment (p90 ~30s)" in line([job], 3, time.monotonic())
    assert "eta ~0s" not in line([job], 3, time.monotonic())
    job.p90_seconds = 49.0
    assert job.eta_text() == "any moment"
    job.predicted_seconds = 70.0
    assert job.eta_text() == "~20s"
