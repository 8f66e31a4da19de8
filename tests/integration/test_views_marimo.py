"""The views where marimo differs, headless. marimo answers a view's request only between cells,
so a card there pushes its video, unasked, from a worker thread when the job ends (the browser
test `tests/browser/test_marimo_live.py` shows it playing while a cell blocks). Elsewhere the
video waits to be asked for, so a saved notebook never holds the MP4."""

from __future__ import annotations

import threading

import pytest

import seedance_nb as sd
from seedance_nb.widgets import Compare, TaskView, _task_view
from tests.waiting import wait_until


@pytest.fixture
def studio(make_studio, start_sim):
    return make_studio(start_sim())


class Wire:
    """What a widget's comm sends: each message's state keys, buffers and sending thread."""

    def __init__(self, widget) -> None:
        self.sent: list[tuple[dict, list, threading.Thread]] = []

        def send(data=None, metadata=None, buffers=None) -> None:
            self.sent.append((data or {}, list(buffers or []), threading.current_thread()))

        widget.comm.send = send

    def carrying(self, key: str) -> list[tuple[dict, list, threading.Thread]]:
        """The update messages that carry `key`, as a value or as a binary buffer."""
        return [
            (data, buffers, thread)
            for data, buffers, thread in self.sent
            if key in data.get("state", {}) or [key] in data.get("buffer_paths", [])
        ]


def test_a_card_in_marimo_pushes_its_video_from_a_worker_while_the_cell_blocks(
    studio, monkeypatch
):
    monkeypatch.setattr(_task_view, "marimo_notebook", lambda: True)
    job = studio.submit(sd.TextToVideo("a paper lantern over a lake", duration=4))
    view = TaskView(job)  # made in the cell: that is where marimo is detected
    assert view.push_video and view._video_data == b""
    wire = Wire(view)
    job.result(timeout=60)  # this thread blocks, as a marimo cell running job.result() does
    assert wait_until(lambda: view._video_data)
    assert view._video_data == job.local_path.read_bytes()
    [(data, buffers, thread)] = wire.carrying("_video_data")  # once, as a binary buffer
    assert buffers[data["buffer_paths"].index(["_video_data"])] == view._video_data
    assert thread is not threading.main_thread()  # not the thread marimo's cell holds
    assert view.video_name == job.local_path.name


def test_elsewhere_the_card_waits_to_be_asked(studio):
    job = studio.submit(sd.TextToVideo("a paper lantern over a lake", duration=4))
    view = TaskView(job)
    assert not view.push_video
    job.result(timeout=60)
    assert wait_until(lambda: view._poster)  # the last thing the card does at the end
    assert view.video_name and view._video_data == b""


def test_a_vote_the_view_reports_reaches_python(studio):
    """compare.js writes `last_vote` after each vote or undo; marimo re-runs the cells that read
    the comparison on such a frontend change (tests/browser/test_marimo.py shows it)."""
    jobs = [studio.submit(sd.TextToVideo(f"a paper lantern, take {n}", duration=4)) for n in (1, 2)]
    grid = Compare(jobs, studio.ledger, studio.experiment)
    seen = []
    grid.observe(lambda change: seen.append(change["new"]), "last_vote")
    assert "last_vote" in grid.keys and grid.get_state()["last_vote"] == {}
    grid.set_state({"last_vote": {"ballot": 1, "undone": False, "at": 1}})  # as the view does
    assert seen == [{"ballot": 1, "undone": False, "at": 1}]
