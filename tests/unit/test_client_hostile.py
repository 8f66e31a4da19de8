"""Hostile servers, through httpx.MockTransport: 5xx, timeouts, drops, Retry-After, counting.

createTask must go out exactly once whatever happens; reads are retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from types import SimpleNamespace

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import _transport

KEY = "sk-test-SECRET-1234"
BASE = "https://api.test/api/v1"
SEED_TASK = {  # the queryTask example of the seed, verbatim
    "taskId": "task_abc123",
    "model": "seedance2",
    "status": "COMPLETED",
    "creditsUsed": 200,
    "output": [
        {"url": "https://static.seedance2-pro.com/videos/result.mp4", "width": 1280, "height": 720}
    ],
    "error": None,
    "createTime": 1711234567890,
    "completeTime": 1711234612345,
}


class Script:
    """A MockTransport handler that plays answers in order (the last one repeats) and counts."""

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
    """A queryTask answer like the seed's, in another state."""
    body = {**SEED_TASK, "status": status}
    if status != "COMPLETED":
        body.update(output=None, completeTime=None)
    return httpx.Response(200, json={**body, **extra})


def client_for(script, **options) -> sd.AsyncClient:
    options.setdefault("retry_backoff", 0.001)
    return sd.AsyncClient(
        api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script), **options
    )


def run(coro_fn, script, **options):
    """Run `coro_fn(client)` on a fresh AsyncClient over `script`, closing it afterwards."""

    async def main():
        client = client_for(script, **options)
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def sync_client(script, **options) -> sd.Client:
    options.setdefault("retry_backoff", 0.001)
    return sd.Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(script), **options)


@pytest.fixture
def no_sleep(monkeypatch):
    """Record the transport's backoff delays instead of waiting them out."""
    delays: list[float] = []

    async def sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(_transport, "asyncio", SimpleNamespace(sleep=sleep))
    return delays


@pytest.fixture
def frozen_now(monkeypatch):
    """Freeze the transport's wall clock, so an HTTP-date Retry-After is an exact delay."""
    now = 1_800_000_000.0
    monkeypatch.setattr(_transport, "time", SimpleNamespace(time=lambda: now))
    return now


# ---- createTask goes out once ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(500, json={"message": "boom"}), sd.ServerError),
        (httpx.Response(502, text="bad gateway"), sd.ServerError),
        (httpx.Response(503, text="unavailable"), sd.ServerError),
        (httpx.Response(504), sd.ServerError),
        (httpx.ReadTimeout("slow"), sd.APITimeoutError),
        (httpx.WriteTimeout("slow"), sd.APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), sd.APIConnectionError),
        (httpx.ReadError("reset by peer"), sd.APIConnectionError),
        (
            httpx.Response(429, json={"message": "3 tasks"}, headers={"Retry-After": "1"}),
            sd.ConcurrencyLimitError,
        ),
    ],
    ids=["500", "502", "503", "504", "read-timeout", "write-timeout", "dropped", "reset", "429"],
)
def test_create_task_is_sent_exactly_once(failure, error, no_sleep):
    script = Script(failure, httpx.Response(200, json={"taskId": "task_2"}))
    with pytest.raises(error):
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert script.count("/jobs/createTask") == 1
    assert len(script.calls) == 1 and no_sleep == []


class CutStream(httpx.AsyncByteStream):
    """A response body that stops half-way, as a dropped connection leaves it."""

    async def __aiter__(self):
        yield b'{"taskId": "task_abc123", "sta'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_a_get_whose_body_is_cut_off_is_retried(no_sleep):
    script = Script(httpx.Response(200, stream=CutStream()), task("COMPLETED"))
    assert run(lambda c: c.get_task("task_abc123"), script).status == "COMPLETED"
    assert script.count("/jobs/queryTask") == 2 and len(no_sleep) == 1


def test_a_create_task_whose_body_is_cut_off_is_not_resent(no_sleep):
    script = Script(
        httpx.Response(200, stream=CutStream()), httpx.Response(200, json={"taskId": "t"})
    )
    with pytest.raises(sd.APIConnectionError):
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert script.count("/jobs/createTask") == 1 and no_sleep == []


def test_an_asset_upload_is_retried_with_the_whole_file_each_time(tmp_path, no_sleep):
    path = tmp_path / "still.png"
    path.write_bytes(b"\x89PNG pretend image bytes")
    script = Script(
        httpx.Response(500),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(200, json={"url": "asset://a1"}),
    )
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(b"".join(request.stream))  # re-reads the stream, as a real send does
        return script(request)

    async def upload() -> str:
        client = sd.AsyncClient(
            api_key=KEY, base_url=BASE, transport=httpx.MockTransport(handler), retry_backoff=0
        )
        async with client:
            return await client.upload_asset(path)

    assert asyncio.run(upload()) == "asset://a1"
    assert script.count("/assets") == 3 and len(no_sleep) == 2
    assert len(bodies) == 3 and all(b"pretend image bytes" in body for body in bodies)


def test_create_task_after_a_500_carries_the_server_message(no_sleep):
    script = Script(httpx.Response(500, json={"message": "render farm on fire"}))
    with pytest.raises(sd.ServerError) as info:
        run(lambda c: c.create_task(sd.TextToVideo("x")), script, max_retries=10)
    assert info.value.status_code == 500 and info.value.message == "render farm on fire"
    assert script.count("/jobs/createTask") == 1


def test_a_read_timeout_is_an_api_timeout_and_a_connection_error(no_sleep):
    script = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(sd.APIConnectionError) as info:
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert isinstance(info.value, sd.APITimeoutError)
    assert "createTask" in str(info.value) and script.count("/jobs/createTask") == 1


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(500, json={"message": "boom"}), sd.ServerError),
        (httpx.ReadTimeout("slow"), sd.APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), sd.APIConnectionError),
    ],
)
def test_the_sync_client_sends_create_task_once_too(failure, error, no_sleep):
    script = Script(failure, httpx.Response(200, json={"taskId": "task_2"}))
    client = sync_client(script)
    try:
        with pytest.raises(error):
            client.create_task(sd.TextToVideo("x"))
    finally:
        client.close()
    assert script.count("/jobs/createTask") == 1


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
    assert str(request.url) == f"{BASE}/jobs/createTask"
    assert json.loads(request.content) == {
        "model": "seedance2-fast",
        "callBackUrl": "https://hooks.test/x",
        "inputs": {"prompt": "a cat", "duration": "6s", "resolution": "1280x720"},
    }
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"


def test_create_task_without_a_callback_sends_no_callback_key():
    script = Script(httpx.Response(200, json={"taskId": "task_1"}))
    run(lambda c: c.create_task(sd.ImageToVideo("asset://asset-1")), script)
    assert json.loads(script.calls[0].content) == {
        "model": "seedance2",
        "inputs": {"urls": ["asset://asset-1"], "duration": "5s"},
    }


@pytest.mark.parametrize("body", [{"oops": True}, {"taskId": 5}, [], None])
def test_a_create_answer_without_a_task_id_is_an_error(body):
    script = Script(httpx.Response(200, json=body))
    with pytest.raises(sd.UnexpectedResponseError, match=r"taskId|empty answer") as info:
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert isinstance(info.value, sd.APIConnectionError)  # the task may exist: not "refused"
    assert len(script.calls) == 1


# ---- reads are retried -------------------------------------------------------------------------

READ_FAILURES = [
    httpx.Response(500),
    httpx.Response(502),
    httpx.Response(503),
    httpx.Response(504),
    httpx.Response(429, json={"message": "slow down"}),
    httpx.ReadTimeout("slow"),
    httpx.ConnectTimeout("slow"),
    httpx.ConnectError("refused"),
    httpx.RemoteProtocolError("dropped"),
]
READ_IDS = ["500", "502", "503", "504", "429", "read-timeout", "connect-timeout", "refused", "drop"]


@pytest.mark.parametrize("failure", READ_FAILURES, ids=READ_IDS)
def test_query_task_is_retried_until_it_succeeds(failure, no_sleep):
    script = Script(failure, failure, task("COMPLETED"))
    result = run(lambda c: c.get_task("task_abc123"), script)
    assert result.status is sd.TaskStatus.COMPLETED and result.id == "task_abc123"
    assert script.count("/jobs/queryTask") == 3 and len(no_sleep) == 2
    assert {r.url.params["taskId"] for r in script.calls} == {"task_abc123"}


@pytest.mark.parametrize("failure", READ_FAILURES, ids=READ_IDS)
def test_credits_are_retried_until_they_succeed(failure, no_sleep):
    script = Script(failure, httpx.Response(200, json={"credits": 5000, "availableCredits": 4800}))
    assert run(lambda c: c.credits(), script) == sd.Credits(5000, 4800)
    assert script.count("/account/credits") == 2


@pytest.mark.parametrize("max_retries", [0, 1, 3])
@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.Response(503, json={"message": "down"}), sd.ServerError),
        (httpx.Response(429, json={"message": "busy"}), sd.ConcurrencyLimitError),
        (httpx.ReadTimeout("slow"), sd.APITimeoutError),
        (httpx.ConnectError("refused"), sd.APIConnectionError),
    ],
    ids=["503", "429", "read-timeout", "refused"],
)
def test_retries_stop_at_max_retries(max_retries, failure, error, no_sleep):
    script = Script(failure)
    with pytest.raises(error):
        run(lambda c: c.get_task("t"), script, max_retries=max_retries)
    assert script.count("/jobs/queryTask") == max_retries + 1
    assert len(no_sleep) == max_retries


def test_the_default_is_four_retries(no_sleep):
    script = Script(httpx.Response(500))
    with pytest.raises(sd.ServerError):
        run(lambda c: c.credits(), script)
    assert script.count("/account/credits") == 5


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, sd.BadRequestError),
        (401, sd.AuthenticationError),
        (402, sd.InsufficientCreditsError),
        (403, sd.PermissionDeniedError),
        (404, sd.TaskNotFoundError),
    ],
)
def test_client_errors_are_never_retried(status, error, no_sleep):
    script = Script(httpx.Response(status, json={"message": "no"}), task())
    with pytest.raises(error):
        run(lambda c: c.get_task("t"), script)
    assert len(script.calls) == 1 and no_sleep == []


def test_backoff_grows_with_jitter_and_is_capped(no_sleep):
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(sd.APIConnectionError):
        run(lambda c: c.credits(), script, max_retries=6, retry_backoff=1.0)
    assert len(no_sleep) == 6
    for attempt, delay in enumerate(no_sleep):  # full jitter between half and all of the step
        step = min(8.0, 1.0 * 2**attempt)
        assert step / 2 <= delay <= step
    assert no_sleep[3] > no_sleep[0] and max(no_sleep) <= 8.0


# ---- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "delay"), [("7", 7.0), ("1", 1.0), ("2.5", 2.5), ("60", 60.0)])
def test_retry_after_seconds_is_honoured(header, delay, no_sleep):
    script = Script(httpx.Response(503, headers={"Retry-After": header}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [delay]


def test_retry_after_on_429_is_honoured(no_sleep):
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [3.0] and script.count("/jobs/queryTask") == 2


@pytest.mark.parametrize("ahead", [1, 20, 45])
def test_retry_after_http_date_is_honoured(ahead, no_sleep, frozen_now):
    header = formatdate(frozen_now + ahead, usegmt=True)
    script = Script(httpx.Response(429, headers={"Retry-After": header}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [float(ahead)]


@pytest.mark.parametrize("header", ["86400", "61", "1e9", "inf"])
def test_retry_after_seconds_is_capped(header, no_sleep):
    script = Script(httpx.Response(503, headers={"Retry-After": header}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [_transport.MAX_RETRY_AFTER] == [60.0]


def test_retry_after_http_date_is_capped(no_sleep, frozen_now):
    header = formatdate(frozen_now + 3600, usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": header}), task())
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [60.0]


@pytest.mark.parametrize("header", ["soon", "", "-5", "Thu, 01 Jan 1970 00:00:00 GMT"])
def test_a_useless_retry_after_falls_back_to_backoff(header, no_sleep, frozen_now):
    script = Script(httpx.Response(503, headers={"Retry-After": header}), task())
    run(lambda c: c.get_task("t"), script, retry_backoff=0.001)
    assert len(no_sleep) == 1 and 0 < no_sleep[0] <= 0.001


def test_retry_after_is_read_from_each_answer(no_sleep, frozen_now):
    script = Script(
        httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(429, headers={"Retry-After": formatdate(frozen_now + 5, usegmt=True)}),
        httpx.Response(503, headers={"Retry-After": "999"}),
        task(),
    )
    run(lambda c: c.get_task("t"), script)
    assert no_sleep == [2.0, 5.0, 60.0]


# ---- the error table ---------------------------------------------------------------------------

ERROR_TABLE = [
    (400, sd.BadRequestError),
    (401, sd.AuthenticationError),
    (402, sd.InsufficientCreditsError),
    (403, sd.PermissionDeniedError),
    (404, sd.TaskNotFoundError),
    (429, sd.ConcurrencyLimitError),
    (500, sd.ServerError),
    (502, sd.ServerError),
    (503, sd.ServerError),
]


@pytest.mark.parametrize(("status", "error"), ERROR_TABLE)
def test_each_status_has_its_error_on_create(status, error, no_sleep):
    body = {"message": f"server says {status}"}
    script = Script(httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        run(lambda c: c.create_task(sd.TextToVideo("x")), script)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.message == f"server says {status}"
    assert info.value.body == body
    assert str(info.value) == f"[{status}] server says {status}"
    assert isinstance(info.value, sd.APIError) and isinstance(info.value, sd.SeedanceError)


@pytest.mark.parametrize(("status", "error"), ERROR_TABLE)
def test_each_status_has_its_error_on_query(status, error, no_sleep):
    script = Script(httpx.Response(status, json={"message": f"server says {status}"}))
    with pytest.raises(error) as info:
        run(lambda c: c.get_task("t"), script, max_retries=0)
    assert info.value.status_code == status and info.value.message == f"server says {status}"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(400, json={"error": "bad duration"}), "bad duration"),
        (httpx.Response(400, json={"detail": "bad duration"}), "bad duration"),
        (httpx.Response(400, text="plain text reason"), "plain text reason"),
        (httpx.Response(400), "Bad Request"),
        (httpx.Response(418, json={"message": "teapot"}), "teapot"),
    ],
)
def test_the_message_comes_from_whatever_the_server_sent(response, message):
    with pytest.raises(sd.APIError) as info:
        run(lambda c: c.get_task("t"), Script(response))
    assert info.value.message == message and info.value.status_code == response.status_code


# ---- the key stays secret ----------------------------------------------------------------------

FAILURES = [
    httpx.Response(401, json={"message": "bad key"}),
    httpx.Response(500, json={"message": "boom"}),
    httpx.Response(429, headers={"Retry-After": "1"}),
    httpx.ReadTimeout("slow"),
    httpx.ConnectError("refused"),
    httpx.RemoteProtocolError("dropped"),
    httpx.Response(200, json={"garbage": True}),
]


@pytest.mark.parametrize("failure", FAILURES)
def test_the_key_never_shows(failure, caplog, no_sleep):
    caplog.set_level(logging.DEBUG)
    script = Script(failure)
    client = sync_client(script, max_retries=2)
    errors = []
    try:
        shown = [repr(client), repr(client.aio), str(client.aio.copy())]
        for call in (
            lambda: client.credits(),
            lambda: client.get_task("t"),
            lambda: client.create_task(sd.TextToVideo("x")),
            lambda: client.wait("t", timeout=1, poll_interval=0),
        ):
            with pytest.raises(sd.SeedanceError) as info:
                call()
            errors.append(info.value)
    finally:
        client.close()
    assert script.calls and all(r.headers["Authorization"] == f"Bearer {KEY}" for r in script.calls)
    for error in errors:
        shown += [str(error), repr(error), repr(error.args), str(error.__cause__)]
        shown += [repr(vars(error))]
    assert any(r.name == "seedance_nb" for r in caplog.records)  # the logs were captured
    shown += [record.getMessage() for record in caplog.records] + [caplog.text]
    text = "\n".join(shown)
    assert KEY not in text and "SECRET" not in text


def test_the_key_never_shows_in_wait_errors(caplog):
    caplog.set_level(logging.DEBUG)
    for script, error in (
        (Script(task("FAILED", error="moderation")), sd.TaskFailedError),
        (Script(task("PROCESSING")), sd.WaitTimeoutError),
    ):
        with pytest.raises(error) as info:
            run(lambda c: c.wait("t", timeout=0.05, poll_interval=0.01), script)
        assert KEY not in f"{info.value} {info.value!r}"
    assert KEY not in caplog.text


def test_repr_says_only_whether_a_key_is_set(monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    assert "api_key=set" in repr(sd.AsyncClient(api_key=KEY))
    assert "api_key=not set" in repr(sd.AsyncClient())
    client = sd.Client(api_key=KEY, base_url=BASE)
    try:
        assert repr(client) == f"Client(base_url={BASE!r}, api_key=set)"
    finally:
        client.close()


# ---- a missing key fails before any request ----------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_task("t"),
        lambda c: c.credits(),
        lambda c: c.create_task(sd.TextToVideo("x")),
        lambda c: c.wait("t", timeout=1),
        lambda c: c.generate(sd.TextToVideo("x")),
    ],
    ids=["get_task", "credits", "create_task", "wait", "generate"],
)
@pytest.mark.parametrize("key", [None, ""])
def test_a_missing_key_fails_before_any_request(call, key, monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    script = Script(task())

    async def main():
        client = sd.AsyncClient(api_key=key, base_url=BASE, transport=httpx.MockTransport(script))
        try:
            assert not client.has_api_key
            await call(client)
        finally:
            await client.aclose()

    with pytest.raises(sd.ValidationError) as info:
        asyncio.run(main())
    assert info.value.field == "api_key" and "SEEDANCE_API_KEY" in str(info.value)
    assert script.calls == []


def test_a_missing_key_fails_before_any_request_in_the_sync_client(monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    script = Script(task())
    client = sd.Client(base_url=BASE, transport=httpx.MockTransport(script))
    try:
        with pytest.raises(sd.ValidationError) as info:
            client.create_task(sd.TextToVideo("x"))
    finally:
        client.close()
    assert info.value.field == "api_key" and script.calls == []


def test_key_and_base_url_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEEDANCE_API_KEY", KEY)
    monkeypatch.setenv("SEEDANCE_BASE_URL", BASE + "/")
    client = sd.AsyncClient()
    assert client.base_url == BASE and client.has_api_key
    monkeypatch.delenv("SEEDANCE_BASE_URL")
    assert sd.AsyncClient().base_url == sd.api.DEFAULT_BASE_URL == "https://seedance2-ai.ai/api/v1"
    assert sd.AsyncClient(api_key="other", base_url="http://x.test/v1").base_url == (
        "http://x.test/v1"
    )


def test_the_env_key_is_sent_as_a_bearer_token(monkeypatch):
    monkeypatch.setenv("SEEDANCE_API_KEY", KEY)
    script = Script(httpx.Response(200, json={"credits": 1, "availableCredits": 1}))

    async def main():
        client = sd.AsyncClient(base_url=BASE, transport=httpx.MockTransport(script))
        try:
            return await client.credits()
        finally:
            await client.aclose()

    asyncio.run(main())
    assert script.calls[0].headers["Authorization"] == f"Bearer {KEY}"
    assert str(script.calls[0].url) == f"{BASE}/account/credits"


# ---- waiting -----------------------------------------------------------------------------------


def test_wait_reports_each_change_once_and_returns_the_final_task():
    script = Script(
        task("PENDING"),
        task("PENDING"),
        task("PENDING"),
        task("PROCESSING"),
        task("PROCESSING"),
        task("COMPLETED"),
    )
    seen = []
    final = run(
        lambda c: c.wait("task_abc123", on_update=lambda t: seen.append(t.status), poll_interval=0),
        script,
    )
    assert seen == ["PENDING", "PROCESSING", "COMPLETED"]
    assert script.count("/jobs/queryTask") == 6
    assert final.status is sd.TaskStatus.COMPLETED
    assert final.video_url == SEED_TASK["output"][0]["url"]


def test_wait_accepts_an_async_callback():
    script = Script(task("PENDING"), task("PROCESSING"), task("COMPLETED"))
    seen = []

    async def on_update(t):
        await asyncio.sleep(0)
        seen.append(t.status)

    final = run(lambda c: c.wait("t", on_update=on_update, poll_interval=0), script)
    assert seen == ["PENDING", "PROCESSING", "COMPLETED"] and final.done


def test_wait_returns_at_once_for_a_finished_task():
    script = Script(task("COMPLETED"))
    seen = []
    run(lambda c: c.wait("t", on_update=seen.append, poll_interval=60), script)
    assert len(seen) == 1 and len(script.calls) == 1


def test_wait_raises_task_failed_with_the_task():
    script = Script(task("PENDING"), task("FAILED", error="moderation", output=None, creditsUsed=0))
    seen = []
    with pytest.raises(sd.TaskFailedError, match="moderation") as info:
        run(lambda c: c.wait("task_abc123", on_update=seen.append, poll_interval=0), script)
    failed = info.value.task
    assert isinstance(failed, sd.Task) and failed.id == "task_abc123"
    assert failed.status is sd.TaskStatus.FAILED and failed.error == "moderation"
    assert failed.credits_used == 0 and failed.outputs == ()
    assert [t.status for t in seen] == ["PENDING", "FAILED"]  # the callback saw the end too


def test_wait_timeout_carries_the_task_id_and_last_state():
    script = Script(task("PENDING"), task("PROCESSING"))
    with pytest.raises(sd.WaitTimeoutError) as info:
        # half a second for two polls 10 ms apart: 50 ms missed the second one on a loaded box
        run(lambda c: c.wait("task_abc123", timeout=0.5, poll_interval=0.01), script)
    assert info.value.task_id == "task_abc123"
    assert info.value.last.status is sd.TaskStatus.PROCESSING
    assert info.value.timeout == 0.5 and "PROCESSING" in str(info.value)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, sd.SeedanceError)


def test_wait_timeout_before_any_answer_has_no_last_state():
    async def hang(request):
        await asyncio.sleep(5)
        return task()

    with pytest.raises(sd.WaitTimeoutError) as info:
        run(lambda c: c.wait("task_abc123", timeout=0.05), hang)
    assert info.value.task_id == "task_abc123" and info.value.last is None
    assert "nothing yet" in str(info.value)


def test_wait_passes_api_errors_through(no_sleep):
    script = Script(task("PENDING"), httpx.Response(404, json={"message": "no such task"}))
    with pytest.raises(sd.TaskNotFoundError, match="no such task"):
        run(lambda c: c.wait("t", poll_interval=0), script)


def test_wait_survives_a_flaky_poll(no_sleep):
    script = Script(task("PENDING"), httpx.Response(503), httpx.ReadTimeout("x"), task("COMPLETED"))
    seen = []
    final = run(lambda c: c.wait("t", on_update=seen.append, poll_interval=0), script)
    assert final.done and [t.status for t in seen] == ["PENDING", "COMPLETED"]
    assert len(no_sleep) == 2


def test_a_timeout_error_from_the_callback_is_not_a_wait_timeout():
    def on_update(t):
        raise TimeoutError("the callback's own")

    with pytest.raises(TimeoutError, match="the callback's own"):
        run(lambda c: c.wait("t", on_update=on_update, poll_interval=0), Script(task()))


def test_generate_is_create_then_wait():
    script = Script(
        httpx.Response(200, json={"taskId": "task_abc123"}), task("PENDING"), task("COMPLETED")
    )
    result = run(lambda c: c.generate(sd.TextToVideo("x"), poll_interval=0), script)
    assert result.id == "task_abc123" and result.done
    assert [r.url.path.rsplit("/", 1)[1] for r in script.calls] == [
        "createTask",
        "queryTask",
        "queryTask",
    ]


# ---- parsing -----------------------------------------------------------------------------------


def test_task_from_the_seed_example():
    parsed = sd.Task.from_wire(SEED_TASK)
    assert parsed.id == "task_abc123" and parsed.model == "seedance2"
    assert parsed.status is sd.TaskStatus.COMPLETED and parsed.status == "COMPLETED"
    assert parsed.credits_used == 200 and parsed.done and parsed.error is None
    assert parsed.outputs == (
        sd.Output("https://static.seedance2-pro.com/videos/result.mp4", 1280, 720),
    )
    out = parsed.outputs[0]
    assert (out.url, out.width, out.height) == (SEED_TASK["output"][0]["url"], 1280, 720)
    assert parsed.video_url == out.url
    for moment in (parsed.created_at, parsed.completed_at):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert parsed.created_at == datetime(2024, 3, 23, 22, 56, 7, 890000, tzinfo=timezone.utc)
    assert parsed.completed_at.timestamp() == 1711234612.345
    assert (parsed.completed_at - parsed.created_at).total_seconds() == pytest.approx(44.455)
    assert parsed.raw == SEED_TASK


def test_a_task_still_running():
    body = {**SEED_TASK, "status": "PROCESSING", "output": None, "completeTime": None}
    parsed = sd.Task.from_wire(body)
    assert parsed.status is sd.TaskStatus.PROCESSING and not parsed.done
    assert parsed.outputs == () and parsed.video_url is None and parsed.completed_at is None


def test_a_task_with_only_the_required_fields():
    parsed = sd.Task.from_wire({"taskId": "t", "status": "PENDING"})
    assert (parsed.id, parsed.outputs, parsed.created_at) == ("t", (), None)
    assert parsed.credits_used is None  # not said, so not known: never a made-up 0


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "COMPLETED",
        {},
        {"taskId": "t"},
        {"status": "COMPLETED"},
        {**SEED_TASK, "status": "x"},
        {**SEED_TASK, "status": "completed"},
        {**SEED_TASK, "output": [{"width": 1}]},
        {**SEED_TASK, "output": ["https://x/y.mp4"]},
        {**SEED_TASK, "output": 5},
        {**SEED_TASK, "creditsUsed": "lots"},
    ],
)
def test_malformed_task_bodies_are_api_errors(body):
    with pytest.raises(sd.APIError, match="queryTask answer did not have the documented shape"):
        sd.Task.from_wire(body)


@pytest.mark.parametrize(
    "parse",
    [
        lambda: sd.Task.from_wire(
            json.loads('{"taskId": "t", "status": "PENDING", "creditsUsed": 1e400}')
        ),
        lambda: sd.Credits.from_wire(json.loads('{"credits": 1e400, "availableCredits": 1}')),
    ],
    ids=["creditsUsed-inf", "credits-inf"],
)
def test_out_of_range_numbers_are_api_errors(parse):
    with pytest.raises(sd.APIError):
        parse()


@pytest.mark.parametrize("task_id", [None, ""])
def test_a_task_id_must_be_a_non_empty_string(task_id):
    with pytest.raises(sd.APIError):
        sd.Task.from_wire({"taskId": task_id, "status": "PENDING"})


def test_a_malformed_query_answer_is_an_api_error_from_the_client():
    for response in (httpx.Response(200, json={"status": "x"}), httpx.Response(200, text="<html>")):
        with pytest.raises(sd.APIError):
            run(lambda c: c.get_task("t"), Script(response))


def test_credits_from_the_seed_example():
    credits = sd.Credits.from_wire({"credits": 5000, "availableCredits": 4800})
    assert credits == sd.Credits(credits=5000, available=4800)
    assert (credits.credits, credits.available, credits.reserved) == (5000, 4800, 200)


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"credits": 1},
        {"availableCredits": 1},
        {"credits": "x", "availableCredits": 1},
    ],
)
def test_malformed_credit_bodies_are_api_errors(body):
    with pytest.raises(sd.APIError, match="credits answer"):
        sd.Credits.from_wire(body)


def test_the_client_reads_credits():
    script = Script(httpx.Response(200, json={"credits": 5000, "availableCredits": 4800}))
    assert run(lambda c: c.credits(), script) == sd.Credits(5000, 4800)
    assert script.calls[0].method == "GET"


# ---- the sync client ---------------------------------------------------------------------------


def answers():
    return [
        httpx.Response(200, json={"taskId": "task_abc123"}),
        httpx.Response(200, json={"credits": 10, "availableCredits": 7}),
        task("PROCESSING"),
        task("PENDING"),
        task("COMPLETED"),
    ]


def test_sync_client_gives_the_same_results_as_async():
    async def with_async():
        client = client_for(Script(*answers()))
        try:
            return (
                await client.create_task(sd.TextToVideo("x")),
                await client.credits(),
                await client.get_task("task_abc123"),
                await client.wait("task_abc123", poll_interval=0),
            )
        finally:
            await client.aclose()

    script = Script(*answers())
    with sync_client(script) as client:
        blocking = (
            client.create_task(sd.TextToVideo("x")),
            client.credits(),
            client.get_task("task_abc123"),
            client.wait("task_abc123", poll_interval=0),
        )
    assert blocking == asyncio.run(with_async())
    assert blocking[0] == "task_abc123" and blocking[1] == sd.Credits(10, 7)
    assert blocking[2].status is sd.TaskStatus.PROCESSING
    assert blocking[3].status is sd.TaskStatus.COMPLETED


def test_sync_client_raises_the_same_errors(no_sleep):
    script = Script(httpx.Response(200, json={"taskId": "t"}), task("FAILED", error="nope"))
    with sync_client(script) as client, pytest.raises(sd.TaskFailedError, match="nope") as info:
        client.generate(sd.TextToVideo("x"), poll_interval=0)
    assert info.value.task.status is sd.TaskStatus.FAILED
    with sync_client(Script(httpx.Response(503))) as client, pytest.raises(sd.ServerError):
        client.credits()


def test_sync_client_works_inside_a_running_loop():
    script = Script(
        httpx.Response(200, json={"credits": 10, "availableCredits": 7}),
        task("PENDING"),
        task("COMPLETED"),
    )
    seen = []

    async def cell():  # what a Jupyter cell is: code running while the kernel's loop runs
        asyncio.get_running_loop()
        with sync_client(script) as c:
            return c.credits(), c.wait("t", on_update=seen.append, poll_interval=0)

    credits, final = asyncio.run(cell())
    assert credits == sd.Credits(10, 7) and final.done
    assert [t.status for t in seen] == ["PENDING", "COMPLETED"]


def test_sync_client_works_from_a_thread_while_a_loop_runs_elsewhere():
    script = Script(task("COMPLETED"))
    results = []

    async def busy_kernel():
        worker = threading.Thread(target=lambda: results.append(use_client()))
        worker.start()
        while worker.is_alive():
            await asyncio.sleep(0.005)
        worker.join()

    def use_client():
        with sync_client(script) as c:
            return c.get_task("t")

    asyncio.run(busy_kernel())
    assert len(results) == 1 and results[0].done


def test_sync_client_refuses_to_block_its_own_loop():
    script = Script(task("PENDING"), task("COMPLETED"))
    with sync_client(script) as client:

        def on_update(t):
            client.get_task("t")

        with pytest.raises(RuntimeError, match="use AsyncClient"):
            client.wait("t", on_update=on_update, poll_interval=0)
