"""A video under the Jupyter server's root reaches the page by the server's own URL for it
(`<baseUrl>files/<path>`), not through the widget's comm; everywhere else it takes the comm.

The kernel finds the server's root from the server's runtime file (`served_path`); served.js
turns the path into a URL from the page's Jupyter config and falls back to the comm when there
is no such page or the URL fails to load (checked in Node against a fake page). The simulator
a studio starts renders each video ahead, so the first fetch does not wait on a render.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.widgets import _request
from seedance_nb.widgets._request import served_path
from tests.node import run_check
from tests.waiting import wait_until

SERVED = Path(sd.__file__).parent / "widgets" / "served.js"
T2V = {"prompt": "a red kite over green hills at dawn", "duration": "4s", "resolution": "720x720"}


# ---- the kernel's side: where the server serves a file -------------------------------------------


def test_a_file_under_the_root_is_served_by_its_relative_quoted_path(tmp_path):
    video = tmp_path / "outputs" / "my quickstart" / "task_1.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"mp4")
    assert served_path(video, tmp_path) == "outputs/my%20quickstart/task_1.mp4"


def test_outside_the_root_in_a_hidden_folder_or_without_a_server_there_is_no_path(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    hidden = root / ".cache" / "task_1.mp4"
    hidden.parent.mkdir(parents=True)
    elsewhere.mkdir()
    assert served_path(elsewhere / "task_1.mp4", root) == ""
    assert served_path(hidden, root) == ""  # Jupyter refuses hidden files: the comm then
    assert served_path(None, root) == ""


def test_the_root_is_read_from_the_parent_servers_runtime_file(tmp_path, monkeypatch):
    runtime, root = tmp_path / "runtime", tmp_path / "root"
    runtime.mkdir()
    (root / "outputs").mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    _request.server_root.cache_clear()
    try:
        assert _request.server_root() is None  # no server started this process: the comm
        info = {"root_dir": str(root), "pid": os.getppid(), "base_url": "/"}
        (runtime / f"jpserver-{os.getppid()}.json").write_text(json.dumps(info))
        _request.server_root.cache_clear()
        assert _request.server_root() == root.resolve()
        assert served_path(root / "outputs" / "a.mp4") == "outputs/a.mp4"
        (runtime / f"jpserver-{os.getppid()}.json").write_text("{not json")
        _request.server_root.cache_clear()
        assert _request.server_root() is None
    finally:
        _request.server_root.cache_clear()


def test_every_view_module_carries_the_served_helper_after_request():
    from seedance_nb.widgets import Compare, TaskView

    for view in (TaskView, Compare):
        source = view._esm
        assert source.index("async function request(") < source.index("function playServed(")
        assert "playServed(" in source[source.index("function render(") :]


# ---- the page's side: served.js ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seen():
    return run_check("served_check.mjs", SERVED)


def test_the_url_is_the_pages_base_url_then_files(seen):
    assert seen["lab"] == "http://host:8888/files/outputs/quickstart/task_1.mp4"
    assert seen["hub"] == "https://hub.example/user/ann/files/a%20b/c.mp4"  # kept quoted


def test_without_a_jupyter_page_or_a_path_there_is_no_url(seen):
    assert seen["none"] is None and seen["broken"] is None and seen["empty"] is None
    assert seen["noServer"] is None and seen["noServerSrc"] == "" and seen["noServerFallbacks"] == 0


def test_a_url_that_fails_to_load_falls_back_to_the_comm_once(seen):
    assert seen["played"] == seen["src"] == "http://host:8888/files/outputs/a.mp4"
    assert seen["fallbacks"] == 1
    assert seen["otherError"] == 0  # an error of a later source is not the URL's


# ---- the simulator a studio starts renders ahead -------------------------------------------------


def rendered(sim) -> list[Path]:
    return [p for p in (sim.data_dir / "videos").glob("*.mp4") if p.stat().st_size > 0]


def status(sim, task_id: str) -> str:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    url = f"{sim.base_url}/jobs/queryTask"
    return httpx.get(url, params={"taskId": task_id}, headers=headers).json()["status"]


def create(sim) -> str:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    body = {"model": "seedance2", "inputs": T2V}
    answer = httpx.post(f"{sim.base_url}/jobs/createTask", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["taskId"]


def test_rendering_ahead_makes_the_video_before_the_task_completes(start_sim):
    sim = start_sim(speed=1.0, render_ahead=True)  # the task runs for tens of seconds
    task_id = create(sim)
    assert wait_until(lambda: rendered(sim), 120), "no video was rendered ahead"
    assert status(sim, task_id) in ("PENDING", "PROCESSING")  # still running on the server
    assert sim.stats()["counters"]["videos_rendered"] == 1


def test_without_render_ahead_or_for_a_failing_task_nothing_is_rendered(start_sim):
    lazy = start_sim(speed=1.0)
    failing = start_sim(speed=1.0, render_ahead=True, fail_rate=1.0)
    create(lazy), create(failing)
    for sim in (lazy, failing):
        assert sim.stats()["counters"].get("videos_rendered", 0) == 0  # counted when asked
        assert rendered(sim) == []


def test_a_studios_own_simulator_renders_ahead(tmp_path, monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    monkeypatch.setenv("SEEDANCE_SIM_SPEED", "0.01")
    with sd.Studio(ledger=tmp_path / "l.sqlite", outputs=tmp_path / "out") as studio:
        assert studio.simulator.config.render_ahead
