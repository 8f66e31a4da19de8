"""The widgets, headless: they are views over Studio and Job, so their behaviour is testable
without a browser (the browser tests check what the page shows)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from PIL import Image
from waiting import wait_until

import seedance_nb as sd
from seedance_nb.widgets import Compare, LedgerView, RequestBuilder, TaskView
from seedance_nb.widgets._compare import prompt_words

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


@pytest.fixture
def studio(start_sim, tmp_path):
    sim = start_sim()
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url) as client:
        studio = sd.Studio(
            client=client,
            ledger=tmp_path / "l.sqlite",
            outputs=tmp_path / "outputs",
            poll_interval=0.05,
            verbose=False,
        )
    yield studio
    studio.close()


class Sent:
    """Capture what a widget sends to its view."""

    def __init__(self, widget):
        self.messages = []
        widget.send = lambda content, buffers=None: self.messages.append((content, buffers))


def test_task_view_follows_the_job_and_serves_the_video(studio):
    job = studio.submit(sd.TextToVideo("a lantern", duration=4), label="A")
    view = TaskView(job)
    assert view.status in ("QUEUED", "SENDING", "PENDING") and view.estimated_credits == 160
    assert view.credits_used == -1 and view.label == "A" and view.prompt == "a lantern"
    job.result(timeout=60)
    assert wait_until(lambda: view.video_name)
    assert view.status == "COMPLETED" and view.credits_used == 160 and view.task_id
    assert 0 < len(view._poster) < 20_000  # a small poster is all a saved notebook keeps
    sent = Sent(view)
    view._on_message(view, {"type": "get-video", "id": 7}, [])
    content, buffers = sent.messages[0]
    assert content == {"type": "video", "id": 7, "name": job.local_path.name}
    assert buffers[0] == job.local_path.read_bytes()
    state = view.get_state()
    assert all(len(v) < 20_000 for v in state.values() if isinstance(v, bytes | memoryview))


def test_task_view_shows_failures(start_sim, tmp_path):
    sim = start_sim(fail_rate=1.0)
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url) as client:
        studio = sd.Studio(
            client=client, ledger=tmp_path / "l.sqlite", poll_interval=0.05, verbose=False
        )
    try:
        job = studio.submit(sd.TextToVideo("doomed", duration=4))
        view = TaskView(job)
        with pytest.raises(sd.TaskFailedError):
            job.result(timeout=60)
        assert wait_until(lambda: view.status == "FAILED") and view.error == job.task.error
        sent = Sent(view)
        view._on_message(view, {"type": "get-video", "id": 1}, [])
        assert sent.messages[0][0]["type"] == "error"
    finally:
        studio.close()


def test_jobs_display_as_task_views():
    assert sd.runtime.Job.view is TaskView


def test_builder_validates_as_you_type_and_generates(studio):
    builder = studio.builder()
    assert builder.generate.disabled and "prompt" in builder.message.value
    builder.prompt.value = "a red kite over hills"
    assert not builder.generate.disabled and "200 credits" in builder.estimate.value
    builder.duration.value = 4
    builder.upscale.value = "2k"
    assert "240 credits" in builder.estimate.value  # 4 x 40 + 4 x 20
    builder.mode.value = "reference"
    assert builder.generate.disabled and "at least one" in builder.message.value
    builder.media["images"].urls.value = "https://example.com/a.jpg\nftp://nope"
    assert "images[1]" in builder.message.value
    builder.mode.value = "text-to-video"
    job = builder._on_generate()
    assert job is builder.jobs[0] and job.request.prompt == "a red kite over hills"
    job.result(timeout=60)


def test_builder_file_picker_makes_local_files(studio, tmp_path):
    builder = studio.builder()
    builder.mode.value = "image-to-video"
    small, photo = tmp_path / "s.png", tmp_path / "p.png"
    Image.new("RGB", (300, 300)).save(small)
    Image.new("RGB", (640, 480), (0, 90, 200)).save(photo)
    picker = builder.media["image"].upload
    picker.value = (
        {
            "name": "s.png",
            "type": "image/png",
            "size": 1,
            "content": memoryview(small.read_bytes()),
            "last_modified": NOW,
        },
    )
    assert builder.generate.disabled and "400 px" in builder.message.value
    picker.value = (
        {
            "name": "p.png",
            "type": "image/png",
            "size": 1,
            "content": memoryview(photo.read_bytes()),
            "last_modified": NOW,
        },
    )
    assert not builder.generate.disabled
    assert "data:image/jpeg;base64" in builder.media["image"].thumbs.value
    job = builder._on_generate()
    assert job.result(timeout=60).status is sd.TaskStatus.COMPLETED


def test_builder_respects_the_budget(studio):
    studio.ledger.set_budget("default", 100)
    builder = RequestBuilder(studio)
    builder.prompt.value = "too expensive"
    assert builder.generate.disabled and "over budget" in builder.message.value
    assert "100 left" in builder.estimate.value


def test_prompt_differences_are_marked():
    a, b = prompt_words(["a red kite at dawn", "a blue kite at dusk"])
    assert [w for w, differs in a if differs] == ["red", "dawn"]
    assert [w for w, differs in b if differs] == ["blue", "dusk"]


def test_compare_votes_go_to_the_ledger_and_results_rank_them(studio):
    jobs = [
        studio.submit(sd.TextToVideo(f"a {c} kite", duration=4), experiment="ab", label=c)
        for c in ("red", "blue", "green")
    ]
    studio.wait(jobs, timeout=60)
    grid = studio.compare(jobs)
    assert wait_until(lambda: all(item["ready"] for item in grid.items))
    assert [i["label"] for i in grid.items] == ["red", "blue", "green"]
    grid._on_message(grid, {"type": "vote", "index": 1}, [])
    grid._on_message(grid, {"type": "vote", "index": 1}, [])
    grid._on_message(grid, {"type": "vote", "index": 0}, [])
    grid._on_message(grid, {"type": "vote", "index": 99}, [])  # ignored
    assert grid.votes == {str(jobs[0].id): 1, str(jobs[1].id): 2, str(jobs[2].id): 0}
    table = studio.results("ab")
    assert list(table["label"]) == ["blue", "red", "green"]
    assert list(table["rank"]) == [1, 2, 3] and table.loc[jobs[1].id, "wins"] == 2
    sent = Sent(grid)
    grid._on_message(grid, {"type": "get-video", "index": 2}, [])
    assert sent.messages[0][1][0] == jobs[2].local_path.read_bytes()
    with pytest.raises(ValueError):
        Compare(jobs[:1], studio.ledger)


def test_ledger_view_refreshes_when_jobs_finish(studio):
    view = studio.ledger_view()
    assert isinstance(view, LedgerView) and "nothing submitted" in view.summary.value
    job = studio.submit(sd.TextToVideo("counted", duration=4), experiment="seen")
    job.result(timeout=60)
    assert wait_until(lambda: "seen" in view.summary.value)
    assert "counted" in view.table.value and view.chart.value[:4] == b"\x89PNG"


def test_no_api_key_in_any_widget_state(start_sim, tmp_path):
    key = "sk-sim-NEVER-SHOW-4242"
    sim = start_sim(api_key=key)
    with sd.Client(api_key=key, base_url=sim.base_url) as client:
        studio = sd.Studio(
            client=client, ledger=tmp_path / "l.sqlite", poll_interval=0.05, verbose=False
        )
    try:
        jobs = [studio.submit(sd.TextToVideo(f"secret {i}", duration=4)) for i in range(2)]
        studio.wait(jobs, timeout=60)
        views = [TaskView(jobs[0]), studio.builder(), studio.compare(jobs), studio.ledger_view()]
        states, stack = [], list(views)
        while stack:  # every widget in every tree, nested boxes included
            widget = stack.pop()
            states.append(repr(widget.get_state()))
            stack.extend(getattr(widget, "children", ()))
        assert len(states) > 20
        assert key not in "".join(states) and key not in repr(studio)
    finally:
        studio.close()
