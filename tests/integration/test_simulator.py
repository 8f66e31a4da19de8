"""The simulator speaks the Seedance2 API exactly: routes, shapes, errors, credits, webhooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

import seedance_nb as sd

HOSTED = "https://seedance2-ai.ai/api/v1"
EXAMPLES = Path(__file__).parents[1] / "seed_examples"
T2V = {"prompt": "a red kite over green hills", "duration": "4s", "resolution": "720x720"}


def api(sim, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or sim.api_key}"}
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=10)


def wait_done(http: httpx.Client, task_id: str) -> dict:
    """Poll until the task is final (the simulator runs at a high speed)."""
    for _ in range(2000):
        body = http.get("/jobs/queryTask", params={"taskId": task_id}).json()
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
        threading.Event().wait(0.01)
    raise AssertionError(f"task {task_id} never finished: {body}")


def unsigned(body: dict) -> dict:
    """A queryTask body with its video links cut before their expiry and signature."""
    outputs = [{**o, "url": o["url"].split("?")[0]} for o in body["output"] or []]
    return {**body, "output": outputs or body["output"]}


def probe(path: Path) -> tuple[int, int, float, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        seconds = float(stream.duration * stream.time_base)
        return stream.width, stream.height, seconds, stream.codec_context.name


# ---- the seed's own clients, unchanged but for the base URL ----------------------------------


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_seed_curl_quickstart_completes(sim, tmp_path):
    script = (EXAMPLES / "quickstart.sh").read_text().replace(HOSTED, sim.base_url)
    run = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "API_KEY": sim.api_key},
    )
    assert run.returncode == 0, run.stderr
    final = json.loads(run.stdout[run.stdout.index("{") :])
    assert final["status"] == "COMPLETED"
    assert final["creditsUsed"] == 200
    video = tmp_path / "quickstart.mp4"
    video.write_bytes(httpx.get(final["output"][0]["url"]).content)
    assert probe(video)[:2] == (1280, 720)


@pytest.mark.skipif(not shutil.which("node"), reason="needs node")
def test_seed_javascript_example_completes(sim, tmp_path):
    source = (EXAMPLES / "full_example.mjs").read_text().replace(HOSTED, sim.base_url)
    script = tmp_path / "example.mjs"
    script.write_text(source)
    run = subprocess.run(
        ["node", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "API_KEY": sim.api_key},
    )
    assert "Video: " in run.stdout, run.stdout + run.stderr
    url = run.stdout.split("Video: ")[1].split()[0]
    video = tmp_path / "example.mp4"
    video.write_bytes(httpx.get(url).content)
    width, height, seconds, codec = probe(video)
    assert codec == "h264" and abs(seconds - 5) < 0.1 and width > height


# ---- response shapes ----------------------------------------------------------------------------


def test_query_task_shape_through_its_life(sim):
    with api(sim) as http:
        task_id = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}).json()[
            "taskId"
        ]
        assert task_id.startswith("task_")
        first = http.get("/jobs/queryTask", params={"taskId": task_id}).json()
        assert set(first) == {
            "taskId",
            "model",
            "status",
            "creditsUsed",
            "output",
            "error",
            "createTime",
            "completeTime",
        }
        assert first["status"] in ("PENDING", "PROCESSING")
        assert first["output"] is None and first["completeTime"] is None
        final = wait_done(http, task_id)
    assert final["status"] == "COMPLETED"
    assert final["creditsUsed"] == 160 and final["error"] is None
    assert final["output"] == [{"url": final["output"][0]["url"], "width": 720, "height": 720}]
    assert final["completeTime"] > final["createTime"] > 1_700_000_000_000


def test_openapi_docs_are_served(sim):
    root = sim.base_url.removesuffix("/api/v1")
    assert httpx.get(f"{root}/docs").status_code == 200
    paths = httpx.get(f"{root}/openapi.json").json()["paths"]
    assert {"/api/v1/jobs/createTask", "/api/v1/jobs/queryTask", "/api/v1/account/credits"} <= set(
        paths
    )


# ---- the error table ----------------------------------------------------------------------------

BAD_BODIES = [
    (b"{not json", "JSON"),
    (b"[1, 2]", "object"),
    (json.dumps({"inputs": T2V}).encode(), "model"),
    (json.dumps({"model": "seedance3", "inputs": T2V}).encode(), "model"),
    (json.dumps({"model": "seedance2"}).encode(), "inputs"),
    (json.dumps({"model": "seedance2", "inputs": "x"}).encode(), "inputs"),
    (json.dumps({"model": "seedance2", "inputs": {"duration": "5s"}}).encode(), "prompt"),
    (json.dumps({"model": "seedance2", "inputs": {**T2V, "duration": "3s"}}).encode(), "duration"),
    (json.dumps({"model": "seedance2", "inputs": {**T2V, "duration": 5.5}}).encode(), "duration"),
    (
        json.dumps({"model": "seedance2", "inputs": {**T2V, "resolution": "1x1"}}).encode(),
        "resolution",
    ),
    (
        json.dumps({"model": "seedance2", "inputs": {**T2V, "upscaleResolution": "8k"}}).encode(),
        "upscaleResolution",
    ),
    (
        json.dumps({"model": "seedance2", "inputs": {"urls": ["file:///etc/passwd"]}}).encode(),
        "urls[0]",
    ),
    (json.dumps({"model": "seedance2", "inputs": {"urls": [1]}}).encode(), "urls"),
    (
        json.dumps(
            {
                "model": "seedance2",
                "inputs": {"urls": ["https://a/1"], "videoInputMode": "reference"},
            }
        ).encode(),
        "resolution",
    ),
    (
        json.dumps(
            {
                "model": "seedance2",
                "inputs": {
                    "urls": ["https://a/1"] * 10,
                    "videoInputMode": "reference",
                    "resolution": "720x720",
                },
            }
        ).encode(),
        "urls",
    ),
    (
        json.dumps(
            {
                "model": "seedance2",
                "inputs": {"urls": ["https://a/1"], "videoInputMode": "keyframe"},
            }
        ).encode(),
        "urls[1]",
    ),
    (
        json.dumps({"model": "seedance2", "inputs": T2V, "callBackUrl": "ftp://x/y"}).encode(),
        "callBackUrl",
    ),
    (json.dumps({"model": "seedance2", "inputs": {**T2V, "colour": "red"}}).encode(), "colour"),
]
# the seed types these as strings: the client's Python conveniences must not leak onto the wire
WIRE_TYPES = [
    ({**T2V, "duration": 5}, "inputs.duration"),
    ({**T2V, "duration": "5"}, "inputs.duration"),
    ({**T2V, "duration": "05s"}, "inputs.duration"),
    ({**T2V, "duration": True}, "inputs.duration"),
    ({**T2V, "prompt": ["a", "b"]}, "inputs.prompt"),
    ({**T2V, "resolution": 1280}, "inputs.resolution"),
    ({**T2V, "upscaleResolution": None}, "inputs.upscaleResolution"),
    ({"urls": "https://a/1.png", "prompt": "p"}, "inputs.urls"),
    ({**T2V, "videoInputMode": 1}, "inputs.videoInputMode"),
]


@pytest.mark.parametrize(("inputs", "named"), WIRE_TYPES)
def test_the_simulator_holds_the_seeds_wire_types_not_the_clients_conveniences(
    sim, inputs, named
):
    before = sim.stats()["counters"].get("tasks_created", 0)
    with api(sim) as http:
        response = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": inputs})
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{named}: must be")
    assert sim.stats()["counters"].get("tasks_created", 0) == before


def test_the_seeds_own_durations_are_all_accepted(start_sim):
    sim = start_sim(concurrency=4)
    with api(sim) as http:
        answers = [
            http.post(
                "/jobs/createTask",
                json={"model": "seedance2-fast", "inputs": {**T2V, "duration": f"{n}s"}},
            ).status_code
            for n in (4, 9, 10, 15)
        ]
    assert answers == [200, 200, 200, 200]


@pytest.mark.parametrize(("body", "named"), BAD_BODIES)
def test_invalid_requests_are_400_naming_the_field(sim, body, named):
    with api(sim) as http:
        response = http.post(
            "/jobs/createTask", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert named in response.json()["message"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic sk-sim-alice", "Bearer"])
def test_bad_or_missing_key_is_401_on_every_route(sim, header):
    headers = {"Authorization": header} if header else {}
    with httpx.Client(base_url=sim.base_url, headers=headers) as http:
        answers = [
            http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}),
            http.get("/jobs/queryTask", params={"taskId": "task_x"}),
            http.get("/account/credits"),
        ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all("API key" in a.json()["message"] for a in answers)


def test_402_when_the_estimate_exceeds_available_credits(start_sim):
    sim = start_sim(credits=300)
    with api(sim) as http:
        ok = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V})
        assert ok.status_code == 200  # 160 reserved, 140 left
        refused = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V})
    assert refused.status_code == 402
    assert "160" in refused.json()["message"] and "140" in refused.json()["message"]


def test_403_for_another_accounts_task_and_404_for_unknown(sim):
    with api(sim) as alice, api(sim, sim.api_keys[1]) as bob:
        task_id = alice.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}).json()[
            "taskId"
        ]
        assert bob.get("/jobs/queryTask", params={"taskId": task_id}).status_code == 403
        assert alice.get("/jobs/queryTask", params={"taskId": "task_nope"}).status_code == 404
        assert alice.get("/jobs/queryTask").status_code == 400
        wait_done(alice, task_id)


def test_429_when_the_account_has_its_limit_running(start_sim):
    sim = start_sim(concurrency=2, speed=1.0)  # slow: tasks stay running for the whole test
    with api(sim) as http:
        codes = [
            http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}).status_code
            for _ in range(3)
        ]
        credits = http.get("/account/credits").json()
    assert codes == [200, 200, 429]
    assert credits["credits"] - credits["availableCredits"] == 2 * 160  # the 429 reserved nothing


def test_500_from_error_injection_and_nothing_created(start_sim):
    sim = start_sim(error_rate=1.0)
    with api(sim) as http:
        response = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V})
        assert response.status_code == 500 and response.json()["message"]
    assert sim.stats()["counters"].get("tasks_created", 0) == 0


def test_dropped_connections_reach_the_client_as_transport_errors(start_sim):
    sim = start_sim(drop_rate=1.0)
    with api(sim) as http:
        with pytest.raises(httpx.TransportError):
            http.get("/account/credits")
        with pytest.raises(httpx.TransportError):
            http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V})
    assert sim.stats()["counters"].get("tasks_created", 0) == 0


# ---- credits ------------------------------------------------------------------------------------


def test_credits_are_reserved_then_charged(start_sim):
    sim = start_sim(credits=1000)
    with api(sim) as http:
        task_id = http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V}).json()[
            "taskId"
        ]
        assert http.get("/account/credits").json() == {"credits": 1000, "availableCredits": 840}
        final = wait_done(http, task_id)
        assert final["creditsUsed"] == 160
        assert http.get("/account/credits").json() == {"credits": 840, "availableCredits": 840}


def test_failed_tasks_release_their_reservation(start_sim):
    sim = start_sim(credits=1000, fail_rate=1.0)
    with api(sim) as http:
        task_id = http.post(
            "/jobs/createTask", json={"model": "seedance2-fast", "inputs": T2V}
        ).json()["taskId"]
        assert http.get("/account/credits").json()["availableCredits"] == 1000 - 128
        final = wait_done(http, task_id)
        assert final["status"] == "FAILED" and final["error"] and final["creditsUsed"] == 0
        assert final["output"] is None
        assert http.get("/account/credits").json() == {"credits": 1000, "availableCredits": 1000}


# ---- webhooks -----------------------------------------------------------------------------------


class Receiver:
    """A callback endpoint on loopback that fails its first `failures` deliveries."""

    def __init__(self, failures: int) -> None:
        self.bodies: list[dict] = []
        self.answered: list[int] = []
        self.done = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.bodies.append(body)
                code = 500 if len(receiver.bodies) <= failures else 200
                receiver.answered.append(code)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if code == 200 or len(receiver.bodies) == 4:
                    receiver.done.set()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("failures", "attempts"), [(0, 1), (2, 3), (9, 4)])
def test_webhook_is_retried_three_times_on_non_2xx(start_sim, failures, attempts):
    sim = start_sim()
    receiver = Receiver(failures)
    try:
        with api(sim) as http:
            task_id = http.post(
                "/jobs/createTask",
                json={"model": "seedance2", "inputs": T2V, "callBackUrl": receiver.url},
            ).json()["taskId"]
            assert receiver.done.wait(30)
            final = http.get("/jobs/queryTask", params={"taskId": task_id}).json()
        if attempts == 4:  # the last retry comes 30 s (scaled) after the third
            for _ in range(500):
                if sim.stats()["counters"].get("webhooks_abandoned"):
                    break
                threading.Event().wait(0.01)
    finally:
        receiver.close()
    assert len(receiver.bodies) == attempts
    # the queryTask body, but each answer carries its own freshly signed video link
    assert all(unsigned(body) == unsigned(final) for body in receiver.bodies)
    assert final["output"][0]["url"].startswith(f"{sim.root_url}/files/videos/{task_id}.mp4?")


# ---- real media ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "size"),
    [
        ({"prompt": "waves", "duration": "4s", "resolution": "720x1280"}, (720, 1280)),
        (
            {
                "prompt": "waves",
                "duration": "4s",
                "resolution": "1280x540",
                "upscaleResolution": "2k",
            },
            None,
        ),
    ],
)
def test_completed_task_links_a_real_mp4_of_the_asked_size_and_length(sim, tmp_path, inputs, size):
    with api(sim) as http:
        task_id = http.post(
            "/jobs/createTask", json={"model": "seedance2-fast", "inputs": inputs}
        ).json()["taskId"]
        final = wait_done(http, task_id)
    output = final["output"][0]
    video = tmp_path / "out.mp4"
    video.write_bytes(httpx.get(output["url"], timeout=60).content)
    width, height, seconds, codec = probe(video)
    assert codec == "h264" and abs(seconds - 4) < 0.1
    assert (width, height) == (output["width"], output["height"])
    if size:
        assert (width, height) == size
    else:
        assert min(width, height) == 1440 and width > height  # 2k upscale of 1280x540


def test_unfinished_or_unknown_video_is_404(sim):
    root = sim.base_url.removesuffix("/api/v1")
    assert httpx.get(f"{root}/files/videos/task_nope.mp4").status_code == 404


def test_uploaded_assets_work_end_to_end_and_are_measured(sim, client, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (800, 600), (200, 30, 30)).save(photo)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (300, 300)).save(tiny)
    ref = client.upload_asset(photo)
    assert ref.startswith("asset://asset-")
    task = client.generate(
        sd.ImageToVideo(ref, duration=4), model="seedance2-fast", poll_interval=0.02
    )
    assert task.status is sd.TaskStatus.COMPLETED
    with pytest.raises(sd.BadRequestError, match=r"inputs\.urls\[0\].*400 px"):
        client.create_task(sd.ImageToVideo(client.upload_asset(tiny)))


# ---- the client against the real server ---------------------------------------------------------


def test_client_errors_map_from_the_real_server(sim, client):
    other = sd.Client(api_key=sim.api_keys[1], base_url=sim.base_url)
    wrong = sd.Client(api_key="sk-wrong", base_url=sim.base_url)
    try:
        task_id = client.create_task(sd.TextToVideo("a lighthouse", duration=4))
        with pytest.raises(sd.PermissionDeniedError):
            other.get_task(task_id)
        with pytest.raises(sd.TaskNotFoundError):
            client.get_task("task_missing")
        with pytest.raises(sd.AuthenticationError):
            wrong.credits()
        task = client.wait(task_id, poll_interval=0.02)
        assert task.credits_used == 160 and task.outputs[0].width == 1280
        assert task.created_at.tzinfo is not None
    finally:
        other.close()
        wrong.close()


def test_failed_task_raises_task_failed_error(start_sim):
    sim = start_sim(fail_rate=1.0)
    with (
        sd.Client(api_key=sim.api_key, base_url=sim.base_url) as client,
        pytest.raises(sd.TaskFailedError) as info,
    ):
        client.generate(sd.TextToVideo("doomed"), poll_interval=0.02)
    assert info.value.task.status is sd.TaskStatus.FAILED and info.value.task.error


def test_stats_count_creates_and_duplicates(start_sim):
    sim = start_sim()
    with api(sim) as http:
        for _ in range(2):
            http.post("/jobs/createTask", json={"model": "seedance2", "inputs": T2V})
        stats = http.get(sim.base_url.removesuffix("/api/v1") + "/_simulator/stats").json()
    assert stats["counters"]["tasks_created"] == 2
    assert stats["duplicate_payloads"] == 1
    assert sim.api_key not in json.dumps(stats)


def test_command_line_prints_its_base_url_and_serves(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seedance_nb.simulator",
            "--port",
            "0",
            "--api-key",
            "k1",
            "--credits",
            "42",
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v1")
        credits = httpx.get(
            f"{base_url}/account/credits", headers={"Authorization": "Bearer k1"}
        ).json()
        assert credits == {"credits": 42, "availableCredits": 42}
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_simulator_repr_hides_keys(sim):
    assert sim.api_key not in repr(sim)
    assert "sk-sim" not in repr(sim.config)
