"""The widgets, headless: they are views over Studio and Job, so their behaviour is testable
without a browser (the browser tests check what the page shows). The builder and Compare have
their own files: test_builder.py, test_compare.py."""

from __future__ import annotations

import re

import pytest

import seedance_nb as sd
from seedance_nb.widgets import LedgerView, TaskView
from tests.waiting import wait_until


@pytest.fixture
def studio(start_sim, make_studio):
    return make_studio(start_sim())


class Sent:
    """Capture what a widget sends to its view."""

    def __init__(self, widget):
        self.messages = []
        widget.send = lambda content, buffers=None: self.messages.append((content, buffers))


def ask(widget, name, request_id, msg=None):
    """Send a widget the request its view would send (anywidget's command wire format)."""
    message = {"id": request_id, "kind": "anywidget-command", "name": name, "msg": msg or {}}
    widget._handle_custom_msg(message, [])


def test_task_view_follows_the_job_and_serves_the_video(studio):
    job = studio.submit(sd.TextToVideo("a lantern", duration=4), label="A")
    view = TaskView(job)
    assert view.status in ("QUEUED", "SENDING", "PENDING") and view.estimated_credits == 160
    assert view.credits_used == -1 and view.label == "A" and view.prompt == "a lantern"
    job.result(timeout=60)
    assert wait_until(lambda: view.video_name)
    assert view.status == "COMPLETED" and view.credits_used == 160 and view.task_id
    assert wait_until(lambda: view._poster)  # decoded on a worker thread, off the loop
    assert len(view._poster) < 20_000  # a small poster is all a saved notebook keeps
    sent = Sent(view)
    ask(view, "_video", 7)
    content, buffers = sent.messages[0]
    assert content["id"] == 7 and content["kind"] == "anywidget-command-response"
    assert content["response"] == {"ok": True, "name": job.local_path.name}
    assert buffers[0] == job.local_path.read_bytes()
    assert view.credits_text == "160 credits" and view.tone == "ok"
    state = view.get_state()
    assert all(len(v) < 20_000 for v in state.values() if isinstance(v, bytes | memoryview))


def test_task_view_shows_failures(start_sim, make_studio):
    studio = make_studio(start_sim(fail_rate=1.0))
    try:
        job = studio.submit(sd.TextToVideo("doomed", duration=4))
        view = TaskView(job)
        with pytest.raises(sd.TaskFailedError):
            job.result(timeout=60)
        assert wait_until(lambda: view.status == "FAILED") and view.error == job.task.error
        sent = Sent(view)
        ask(view, "_video", 1)
        assert sent.messages[0][0]["response"]["ok"] is False
        assert view.tone == "bad" and view.credits_text == "failed, 0 credits"
        assert not view.refused  # it was sent and ran: a failure, not a refusal
    finally:
        studio.close()


def test_jobs_display_as_task_views():
    assert sd.runtime.Job.view == TaskView.of


def test_ledger_view_refreshes_when_jobs_finish(studio):
    view = studio.ledger_view()
    assert isinstance(view, LedgerView) and "nothing submitted" in view.summary.value
    job = studio.submit(sd.TextToVideo("counted", duration=4), experiment="seen")
    job.result(timeout=60)
    assert wait_until(lambda: "seen" in view.summary.value)
    assert "counted" in view.table.value and view.chart.value[:4] == b"\x89PNG"


def test_no_api_key_in_any_widget_state(start_sim, make_studio):
    key = "sk-sim-NEVER-SHOW-4242"
    studio = make_studio(start_sim(api_key=key))
    try:
        jobs = [studio.submit(sd.TextToVideo(f"secret {i}", duration=4)) for i in range(2)]
        studio.wait(jobs, timeout=60)
        builder = studio.builder()
        builder.prompt, builder.duration = "secret 0", 4
        assert builder.generate() is jobs[0]  # its card is in its state too
        views = [TaskView(jobs[0]), builder, studio.compare(jobs), studio.ledger_view()]
        states, stack = [], list(views)
        while stack:  # every widget in every tree, nested boxes and cards included
            widget = stack.pop()
            states.append(repr(widget.get_state()))
            stack.extend(getattr(widget, "children", ()))
            stack.extend(getattr(widget, "cards", ()))
        assert len(states) >= 10
        assert key not in "".join(states) and key not in repr(studio)
    finally:
        studio.close()


def test_ledger_view_shows_budgets_rounded_figures_and_its_own_errors(studio, monkeypatch):
    studio.ledger.set_budget("budgeted", 1000)
    jobs = [
        studio.submit(sd.TextToVideo(f"kite {i}", duration=4), experiment="budgeted")
        for i in (1, 2)
    ]
    studio.wait(jobs, timeout=60)
    listeners = len(studio._listeners)
    view = LedgerView(studio)
    assert len(studio._listeners) == listeners + 1
    summary = view.summary.value
    assert "<th>budget</th>" in summary and "<td>1000</td>" in summary and "<td>680</td>" in summary
    assert not re.search(r"\d\.\d{2,}", summary + view.table.value)  # one decimal at most
    assert 'border="1"' not in summary and "<td>160</td>" in view.table.value
    # (the chart is drawn in a helper process: the summary is what fails on the worker here)
    reads = []
    view_of = type(studio.ledger)._view
    monkeypatch.setattr(
        type(studio.ledger), "_view", lambda s, full: reads.append(full) or view_of(s, full)
    )
    view.redraw.now()
    assert reads == [True]  # the table, the summary and the chart share one read
    monkeypatch.setattr(type(studio.ledger), "summary", lambda self, *a, **k: 1 / 0)
    view.redraw()  # on a worker thread: the failure lands under the view
    assert wait_until(lambda: "ZeroDivisionError" in view.errors.value)
    view.close()
    assert len(studio._listeners) == listeners  # closed: it let go
