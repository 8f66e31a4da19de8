"""The simulator behaves like the hosted service where the runtime's hardest parts are tested:
render times with a long tail, takes that differ, video links and task records that expire,
moderation, state that survives a restart, and answers counted by status code."""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import numpy as np
import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.simulator import SimConfig
from seedance_nb.simulator.__main__ import parse_args
from seedance_nb.simulator._scene import MODERATED
from seedance_nb.simulator._timing import median_render, queue_wait, render_time
from tests.waiting import wait_until

T2V = {"prompt": "a red kite over green hills at dawn", "duration": "4s", "resolution": "720x720"}


def api(sim, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or sim.api_key}"}
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=30)


def create(http: httpx.Client, inputs: dict = T2V, model: str = "seedance2") -> str:
    response = http.post("/jobs/createTask", json={"model": model, "inputs": inputs})
    assert response.status_code == 200, response.text
    return response.json()["taskId"]


def query(http: httpx.Client, task_id: str) -> dict:
    return http.get("/jobs/queryTask", params={"taskId": task_id}).json()


def finished(http: httpx.Client, task_id: str, timeout: float = 60) -> dict:
    """The task's final queryTask body, waiting for it."""
    seen: dict = {}

    def final() -> bool:
        seen.update(query(http, task_id))
        return seen["status"] in ("COMPLETED", "FAILED")

    assert wait_until(final, timeout), seen
    return seen


def middle_frame(data: bytes, tmp_path: Path) -> np.ndarray:
    path = tmp_path / f"clip-{abs(hash(data))}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return decoded[len(decoded) // 2].astype(int)


# ---- the timing model -------------------------------------------------------------------------

# documented in _timing: 5 s at 720p on seedance2 has a median of 42 s, p90 72.5 s, p95 87.4 s,
# p99 128 s, and lies between 21 s and 168 s
DOCUMENTED = {50: 42.0, 90: 72.5, 95: 87.41, 99: 128.0}


def test_render_times_from_200_samples_match_the_documented_model():
    rng = random.Random(0)
    samples = [render_time(rng, 5, None, "seedance2") for _ in range(200)]
    q = statistics.quantiles(samples, n=100, method="inclusive")
    assert statistics.median(samples) == pytest.approx(DOCUMENTED[50], rel=0.10)
    assert q[89] == pytest.approx(DOCUMENTED[90], rel=0.10)
    assert q[94] == pytest.approx(DOCUMENTED[95], rel=0.10)
    # the right tail is long: the 95th percentile is about twice the median
    assert q[94] > 1.8 * statistics.median(samples)


def test_the_model_holds_closely_over_many_samples_and_is_bounded():
    """200 samples land within 10% for about nine seeds in ten; 20,000 pin it down to 3%."""
    rng = random.Random(1)
    samples = [render_time(rng, 5, None, "seedance2") for _ in range(20_000)]
    q = statistics.quantiles(samples, n=100, method="inclusive")
    assert statistics.median(samples) == pytest.approx(DOCUMENTED[50], rel=0.03)
    for p in (90, 95, 99):
        assert q[p - 1] == pytest.approx(DOCUMENTED[p], rel=0.03), p
    assert min(samples) >= 21.0 and max(samples) <= 168.0  # floor and cap: no test waits long
    waits = [queue_wait(rng) for _ in range(1000)]
    assert min(waits) >= 1.0 and max(waits) <= 4.0


def test_the_median_scales_with_length_upscale_and_model():
    assert median_render(5, None, "seedance2") == pytest.approx(42.0)
    assert median_render(10, None, "seedance2") == pytest.approx(72.0)
    assert median_render(5, "2k", "seedance2") == pytest.approx(42.0 * 1.4)
    assert median_render(5, "4k", "seedance2") == pytest.approx(42.0 * 1.8)
    assert median_render(5, None, "seedance2-fast") == pytest.approx(42.0 * 0.6)


def test_tasks_on_the_server_take_what_the_model_says(start_sim):
    speed = 0.01
    sim = start_sim(speed=speed, seed=5)
    m = median_render(4, None, "seedance2")
    with api(sim) as http:
        ids = [create(http) for _ in range(3)]
        bodies = [finished(http, task_id) for task_id in ids]
    for body in bodies:
        took = (body["completeTime"] - body["createTime"]) / 1000 / speed
        assert 1.0 + 0.5 * m - 1 <= took <= 4.0 + 4.0 * m + 1, took  # queue + render, +-10 ms


# ---- takes ------------------------------------------------------------------------------------


def test_two_takes_of_the_same_inputs_are_different_videos(start_sim, tmp_path):
    sim = start_sim(seed=3)
    with api(sim) as http:
        first, second = create(http), create(http)
        videos = [
            httpx.get(finished(http, task_id)["output"][0]["url"], timeout=60).content
            for task_id in (first, second)
        ]
    assert videos[0] != videos[1]
    a, b = (middle_frame(v, tmp_path) for v in videos)
    assert np.abs(a - b).mean() > 5  # visibly different, not a re-encode
    assert sim.stats()["counters"]["videos_rendered"] == 2  # one render per task, not per input


# ---- expiring links and records ---------------------------------------------------------------


def test_an_expired_link_is_refused_and_a_fresh_one_from_query_task_works(start_sim):
    sim = start_sim(url_ttl=100)  # 100 s at speed 0.01: links live one second
    with api(sim) as http:
        task_id = create(http)
        url = finished(http, task_id)["output"][0]["url"]
        first = httpx.get(url, timeout=60)
        assert first.status_code == 200 and first.content[4:8] == b"ftyp"
        expires = int(parse_qs(urlsplit(url).query)["expires"][0])
        assert wait_until(lambda: time.time() * 1000 > expires + 5)
        expired = httpx.get(url)
        assert expired.status_code == 403 and "expired" in expired.json()["message"]
        fresh = query(http, task_id)["output"][0]["url"]
        assert fresh != url
        again = httpx.get(fresh, timeout=60)
    assert again.status_code == 200 and again.content == first.content


def test_links_cannot_be_forged_or_extended(start_sim):
    sim = start_sim()
    with api(sim) as http:
        url = finished(http, create(http))["output"][0]["url"]
    path, query_string = url.split("?")
    signed = parse_qs(query_string)
    later = int(signed["expires"][0]) + 10**9
    attempts = [
        path,  # unsigned
        f"{path}?expires={later}&signature={signed['signature'][0]}",  # extended
        f"{path}?expires={signed['expires'][0]}&signature={'0' * 32}",  # forged
        f"{path}?expires=soon&signature=x",  # malformed
    ]
    for attempt in attempts:
        response = httpx.get(attempt)
        assert response.status_code == 403, attempt
        assert "Access denied" in response.json()["message"]
    other = url.replace(path.rsplit("/", 1)[1], "task_0123456789abcdef0123.mp4")
    assert httpx.get(other).status_code == 404  # no such task: 404 before any signature check


def test_task_records_expire_then_query_task_answers_404(start_sim):
    sim = start_sim(task_ttl=200)  # 2 s at speed 0.01 from creation; renders end within 1.5 s
    with api(sim) as http:
        task_id = create(http)
        body = finished(http, task_id)
        assert body["status"] == "COMPLETED"
        url = body["output"][0]["url"]
        assert wait_until(
            lambda: http.get("/jobs/queryTask", params={"taskId": task_id}).status_code == 404
        )
        assert time.time() * 1000 >= body["createTime"] + 2000
        assert "not found" in query(http, task_id)["message"]
    assert httpx.get(url).status_code == 404  # the video went with its record
    assert sim.stats()["counters"]["tasks_expired"] == 1


# ---- moderation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "word"),
    [("a gore scene in the rain", "gore"), ("NUDE portrait, soft light", "nude")],
)
def test_a_moderated_prompt_is_refused_at_create_and_costs_nothing(start_sim, prompt, word):
    sim = start_sim(credits=1000)
    with api(sim) as http:
        before = http.get("/account/credits").json()
        refused = http.post(
            "/jobs/createTask", json={"model": "seedance2", "inputs": {"prompt": prompt}}
        )
        after = http.get("/account/credits").json()
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "moderation" in message.lower() and f'"{word}"' in message
    assert before == after == {"credits": 1000, "availableCredits": 1000}
    stats = sim.stats()
    assert stats["counters"].get("tasks_created", 0) == 0 and stats["tasks"] == {}
    assert stats["counters"]["moderation_refused"] == 1
    with (
        sd.Client(api_key=sim.api_key, base_url=sim.base_url) as client,
        pytest.raises(sd.BadRequestError, match="moderation"),
    ):
        client.create_task(sd.TextToVideo(prompt))


def test_the_readme_lists_every_moderated_word():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## The simulator") : readme.index("## How it is tested")]
    listed = section[section.index("**Moderation.**") :].split(")")[0]
    assert sorted(re.findall(r"[a-z]+", listed.split("(")[1])) == sorted(MODERATED)


def test_moderation_rate_fails_ordinary_tasks_later_and_free(start_sim):
    sim = start_sim(credits=1000, moderation_rate=0.5)
    with api(sim) as http:
        ids = [create(http) for _ in range(2)]
        assert http.get("/account/credits").json()["availableCredits"] == 1000 - 2 * 160
        bodies = [finished(http, task_id) for task_id in ids]
        credits = http.get("/account/credits").json()
    failed = [b for b in bodies if b["status"] == "FAILED"]
    assert len(failed) == 1  # exactly one in two
    assert "moderation" in failed[0]["error"].lower()
    assert failed[0]["creditsUsed"] == 0 and failed[0]["output"] is None
    assert credits == {"credits": 1000 - 160, "availableCredits": 1000 - 160}
    assert sim.stats()["counters"]["tasks_moderated"] == 1


# ---- restarts -------------------------------------------------------------------------------


def test_a_restart_with_a_data_dir_keeps_every_task_credit_and_asset(start_sim, tmp_path):
    keys = ("sk-sim-one", "sk-sim-two")
    # at speed 0.1 a 15 s render takes 5 s at the least: time to stop the server mid-batch even
    # on a loaded machine (at 0.02, 1 s, one of the batch sometimes finished before the stop)
    options = {"api_keys": keys, "credits": 5000, "speed": 0.1, "data_dir": tmp_path / "state"}
    first = start_sim(**options)
    port = first.port
    photo = tmp_path / "photo.png"
    Image.new("RGB", (800, 600), (200, 40, 40)).save(photo)
    with sd.Client(api_key=keys[0], base_url=first.base_url) as client:
        asset = client.upload_asset(photo)
    with api(first) as http:
        done = create(http, T2V, "seedance2-fast")
        old_url = finished(http, done)["output"][0]["url"]
        batch = [
            create(http, {"prompt": f"a boat at dusk {i}", "duration": "15s"}) for i in range(2)
        ]
        statuses = [query(http, t)["status"] for t in batch]
    with api(first, keys[1]) as other:
        theirs = create(other, {"prompt": "a cat at noon"})
    assert all(s in ("PENDING", "PROCESSING") for s in statuses), "stop mid-batch, please"
    stopped_at = time.time() * 1000
    first.stop()

    second = start_sim(port=port, **options)  # the same address: clients carry on
    assert second.base_url == first.base_url
    with api(second) as http, api(second, keys[1]) as other:
        running = http.get("/account/credits").json()
        assert running["credits"] == 5000 - 128  # the finished task's charge survived
        assert running["credits"] - running["availableCredits"] == 2 * 600  # still reserved
        assert httpx.get(old_url, timeout=60).status_code == 200  # old links still verify
        bodies = [finished(http, t) for t in batch]
        their_body = finished(other, theirs)
        again = create(http, {"urls": [asset], "duration": "4s"}, "seedance2-fast")
        assert finished(http, again)["status"] == "COMPLETED"  # the asset is still there
        credits = http.get("/account/credits").json()
        theirs_credits = other.get("/account/credits").json()
    for body in [*bodies, their_body]:
        assert body["status"] == "COMPLETED" and body["completeTime"] > stopped_at
    assert [b["creditsUsed"] for b in bodies] == [600, 600]
    assert credits == {"credits": 5000 - 128 - 1200 - 128, "availableCredits": 5000 - 1456}
    assert theirs_credits == {"credits": 5000 - 200, "availableCredits": 5000 - 200}
    assert second.stats()["counters"]["tasks_completed"] == 4  # 3 carried over + 1: none twice

    second.stop()  # and once more, with nothing running: the books are as they were
    third = start_sim(port=port, **options)
    with api(third) as http:
        assert http.get("/account/credits").json() == credits
        assert query(http, done)["status"] == "COMPLETED"
        assert {query(http, t)["creditsUsed"] for t in batch} == {600}
    assert third.stats()["tasks"] == {"COMPLETED": 5}


def test_without_a_data_dir_nothing_is_written_beside_the_videos(start_sim):
    sim = start_sim()
    assert not (sim.data_dir / "state.sqlite3").exists()


# ---- statistics -------------------------------------------------------------------------------


def test_stats_count_answers_by_status_code(start_sim):
    sim = start_sim(concurrency=1, speed=1.0)  # slow: the first task keeps the only slot
    stats_url = f"{sim.root_url}/_simulator/stats"
    with api(sim) as http:
        create(http)
        assert (
            http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}).status_code
            == 429
        )
        assert http.get("/jobs/queryTask", params={"taskId": "task_nope"}).status_code == 404
        assert (
            http.get("/account/credits", headers={"Authorization": "Bearer x"}).status_code == 401
        )
        httpx.get(stats_url)
    responses = httpx.get(stats_url).json()["responses"]
    assert responses == {"200": 1, "429": 1, "404": 1, "401": 1}  # its own answers not counted


def test_stats_count_cut_connections_apart(start_sim):
    sim = start_sim(drop_rate=1.0)
    with api(sim) as http:
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                http.get("/account/credits")
    assert sim.stats()["responses"] == {"cut": 2}


# ---- options ----------------------------------------------------------------------------------


def test_the_new_options_exist_on_the_command_line_and_in_start():
    args = parse_args(["--url-ttl", "60", "--task-ttl", "120.5", "--moderation-rate", "0.25"])
    assert (args.url_ttl, args.task_ttl, args.moderation_rate) == (60.0, 120.5, 0.25)
    defaults = parse_args([])
    assert (defaults.url_ttl, defaults.task_ttl) == (86_400.0, 604_800.0)
    for bad in ({"url_ttl": 0}, {"task_ttl": -1}, {"moderation_rate": 1.5}):
        with pytest.raises(ValueError):
            SimConfig(**bad)


def test_callbacks_carry_a_working_link(start_sim):
    sim = start_sim()
    got: list[dict] = []
    arrived = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrived.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with api(sim) as http:
            http.post(
                "/jobs/createTask",
                json={
                    "model": "seedance2",
                    "inputs": T2V,
                    "callBackUrl": f"http://127.0.0.1:{server.server_port}/hook",
                },
            )
            assert arrived.wait(30)
    finally:
        server.shutdown()
        server.server_close()
    assert got[0]["status"] == "COMPLETED"
    assert httpx.get(got[0]["output"][0]["url"], timeout=60).status_code == 200
