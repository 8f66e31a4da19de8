"""Hostile servers, through httpx.MockTransport: 5xx, timeouts, drops, Retry-After, counting.

createTask must go out exactly once whatever happens; reads are retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from email.utils import format_datetime

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import _transport

KEY = "sk-test-SECRET-1234"
BASE = "https://api.test/api/v1"
SEED_TASK = {
    "taskId": "task_abc123",
    "model": "seedance2",
    "status": "COMPLETED",
    "creditsUsed": 200,
    "output": [{"url": "https://static.test/videos/result.mp4", "width": 1280, "height": 720}],
    "error": None,
    "createTime": 1711234567890,
    "completeTime": 1711234612345,
}


class Script:
    """A MockTransport handler that plays answers in order and counts calls per route."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def count(self, path: str) -> int:
        return sum(1 for r in self.calls if r.url.path.endswith(path))


def task(status="PROCESSING", **extra) -> httpx.Response:
    return httpx.Response(200, json={**SEED_TASK, "status": status, **extra})


def client_for(script, **options) -> sd.AsyncClient:
    options.setdefault("retry_backoff", 0.001)
    return sd.AsyncClient(
        api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script), **options
    )


def run(coro_fn, script, **options):
    async def main():
        client = client_for(script, **options)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.fixture
def no_sleep(monkeypatch):
    """Record the transport's backoff delays instead of waiting them out."""
    delays: list[float] = []

    async def sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(_transport.asyncio, "sleep", sleep)
    return delays


# ---- createTask goes out once ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(500, json={"message": "boom"}), sd.ServerError),
        (httpx.Response(503, text="unavailable"), sd.ServerError),
        (httpx.ReadTimeout("slow"), sd.APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), sd.APIConnectionError),
        (
            httpx.Response(429, json={"message": "3 tasks"}, headers={"Retry-After": "1"}),
            sd.ConcurrencyLimitError,
        ),
    ],
)
def test_create_task_is_sent_exactly_once(failure, error, no_sleep):
    script = Script(failure, httpx.Response(200, json={"taskId": "task_2"}))
    with pytest.raises(error):
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert script.count("/jobs/createTask") == 1
    assert no_sleep == []


def test_create_task_sends_the_exact_wire_request():
    script = Script(httpx.Response(200, json={"taskId": "task_1"}))
    task_id = run(
        lambda c: c.create_task(
            sd.TextToVideo("a cat", duration=6),
            model="seedance2-fast",
            callback_url="https://hooks.test/x",
        ),
        script,
    )
    request = script.calls[0]
    assert task_id == "task_1" and request.method == "POST"
    assert json.loads(request.content) == {
        "model": "seedance2-fast",
        "callBackUrl": "https://hooks.test/x",
        "inputs": {"prompt": "a cat", "duration": "6s", "resolution": "1280x720"},
    }
    assert request.headers["Authorization"] == f"Bearer {KEY}"


# ---- reads are retried -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(429),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_query_task_is_retried_until_it_succeeds(failure, no_sleep):
    script = Script(failure, failure, task("COMPLETED"))
    result = run(lambda c: c.get_task("task_abc123"), script)
    assert result.status is sd.TaskStatus.COMPLETED
    assert script.count("/jobs/queryTask") == 3 and len(no_sleep) == 2


def test_retries_stop_at_max_retries(no_sleep):
    script = Script(httpx.Response(503, json={"message": "down"}))
    with pytest.raises(sd.ServerError, match="down"):
        run(lambda c: c.credits(), script, max_retries=2)
    assert script.count("/account/credits") == 3


def test_backoff_grows(no_sleep):
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(sd.APIConnectionError):
        run(lambda c: c.credits(), script, max_retries=4, retry_backoff=1.0)
    assert len(no_sleep) == 4
    assert no_sleep[-1] > no_sleep[0] and max(no_sleep) <= 8.0


def test_retry_after_seconds_is_honoured(no_sleep):
    script = Script(httpx.Response(503, headers={"Retry-After": "7"}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [7.0]


def test_retry_after_http_date_is_honoured_and_capped(no_sleep):
    later = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + 20, timezone.utc)
    script = Script(
        httpx.Response(429, headers={"Retry-After": format_datetime(later, True)}),
        httpx.Response(503, headers={"Retry-After": "86400"}),
        task(),
    )
    run(lambda c: c.get_task("t"), script)
    assert 15 < no_sleep[0] <= 20 and no_sleep[1] == _transport.MAX_RETRY_AFTER


# ---- the error table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, sd.BadRequestError),
        (401, sd.AuthenticationError),
        (402, sd.InsufficientCreditsError),
        (403, sd.PermissionDeniedError),
        (404, sd.TaskNotFoundError),
        (429, sd.ConcurrencyLimitError),
        (500, sd.ServerError),
    ],
)
def test_each_status_has_its_error(status, error, no_sleep):
    script = Script(httpx.Response(status, json={"message": f"server says {status}"}))
    with pytest.raises(error) as info:
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert info.value.status_code == status
    assert info.value.message == f"server says {status}"
    assert isinstance(info.value, sd.APIError) and isinstance(info.value, sd.SeedanceError)


def test_a_body_without_a_task_id_is_an_error():
    script = Script(httpx.Response(200, json={"oops": True}))
    with pytest.raises(sd.APIConnectionError, match="taskId"):
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)


# ---- the key stays secret ----------------------------------------------------------------------


def test_the_key_never_shows(caplog, no_sleep):
    caplog.set_level(logging.DEBUG)
    client = sd.Client(
        api_key=KEY,
        base_url=BASE,
        retry_backoff=0.001,
        transport=httpx.MockTransport(Script(httpx.Response(401, json={"message": "bad key"}))),
    )
    try:
        assert KEY not in repr(client) and KEY not in repr(client.aio)
        errors = []
        for call in (
            lambda: client.credits(),
            lambda: client.get_task("t"),
            lambda: client.create_task(sd.TextToVideo("x")),
        ):
            with pytest.raises(sd.SeedanceError) as info:
                call()
            errors.append(info.value)
    finally:
        client.close()
    shown = " ".join(repr(e) + str(e) + repr(e.args) for e in errors) + caplog.text
    assert KEY not in shown and "SECRET" not in shown


def test_a_missing_key_fails_before_any_request(monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    script = Script(task())
    with pytest.raises(sd.ValidationError) as info:
        asyncio.run(
            sd.AsyncClient(base_url=BASE, transport=httpx.MockTransport(script)).get_task("t")
        )
    assert info.value.field == "api_key" and script.calls == []


def test_key_and_base_url_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEEDANCE_API_KEY", KEY)
    monkeypatch.setenv("SEEDANCE_BASE_URL", BASE + "/")
    client = sd.AsyncClient()
    assert client.base_url == BASE and client.has_api_key
    monkeypatch.delenv("SEEDANCE_BASE_URL")
    assert sd.AsyncClient().base_url == sd.api.DEFAULT_BASE_URL


# ---- waiting -----------------------------------------------------------------------------------


def test_wait_reports_each_change_once_and_returns_the_final_task():
    script = Script(
        task("PENDING"), task("PENDING"), task("PROCESSING"), task("PROCESSING"), task("COMPLETED")
    )
    seen = []
    final = run(
        lambda c: c.wait("task_abc123", on_update=lambda t: seen.append(t.status), poll_interval=0),
        script,
    )
    assert seen == ["PENDING", "PROCESSING", "COMPLETED"]
    assert final.video_url == SEED_TASK["output"][0]["url"]


def test_wait_accepts_an_async_callback():
    script = Script(task("PENDING"), task("COMPLETED"))
    seen = []

    async def on_update(t):
        await asyncio.sleep(0)
        seen.append(t.status)

    run(lambda c: c.wait("t", on_update=on_update, poll_interval=0), script)
    assert seen == ["PENDING", "COMPLETED"]


def test_wait_raises_task_failed_with_the_task():
    script = Script(task("FAILED", error="moderation", output=None, creditsUsed=0))
    with pytest.raises(sd.TaskFailedError, match="moderation") as info:
        run(lambda c: c.wait("t", poll_interval=0), script)
    assert info.value.task.status is sd.TaskStatus.FAILED and info.value.task.credits_used == 0


def test_wait_timeout_carries_the_last_state():
    script = Script(task("PROCESSING"))
    with pytest.raises(sd.WaitTimeoutError) as info:
        run(lambda c: c.wait("task_abc123", timeout=0.05, poll_interval=0.01), script)
    assert info.value.task_id == "task_abc123"
    assert info.value.last.status is sd.TaskStatus.PROCESSING
    assert isinstance(info.value, TimeoutError)


def test_generate_is_create_then_wait():
    script = Script(httpx.Response(200, json={"taskId": "task_abc123"}), task("COMPLETED"))
    result = run(lambda c: c.generate(sd.TextToVideo("x"), poll_interval=0), script)
    assert result.id == "task_abc123"
    assert [r.url.path.rsplit("/", 1)[1] for r in script.calls] == ["createTask", "queryTask"]


# ---- parsing -----------------------------------------------------------------------------------


def test_task_from_the_seed_example():
    parsed = sd.Task.from_wire(SEED_TASK)
    assert parsed.id == "task_abc123" and parsed.credits_used == 200 and parsed.done
    assert parsed.outputs == (sd.Output(SEED_TASK["output"][0]["url"], 1280, 720),)
    assert parsed.created_at == datetime(2024, 3, 23, 22, 56, 7, 890000, tzinfo=timezone.utc)
    assert (parsed.completed_at - parsed.created_at).total_seconds() == pytest.approx(44.455)
    assert parsed.raw == SEED_TASK


@pytest.mark.parametrize("body", [None, [], {}, {"taskId": "t"}, {**SEED_TASK, "status": "x"}])
def test_malformed_task_bodies_are_errors(body):
    with pytest.raises(sd.APIError):
        sd.Task.from_wire(body)


def test_credits_parse():
    credits = sd.Credits.from_wire({"credits": 5000, "availableCredits": 4800})
    assert (credits.credits, credits.available, credits.reserved) == (5000, 4800, 200)
    with pytest.raises(sd.APIError):
        sd.Credits.from_wire({"credits": 1})


# ---- the sync client ---------------------------------------------------------------------------


def test_sync_client_works_inside_a_running_loop():
    script = Script(httpx.Response(200, json={"credits": 10, "availableCredits": 7}))

    async def cell():  # what a Jupyter cell is: code running while the kernel's loop runs
        with sd.Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script)) as c:
            return c.credits()

    assert asyncio.run(cell()) == sd.Credits(10, 7)
