"""The API layer's part of the job lifecycle (issue 12): odd answers are parsed or refused with a
quote, a whole request has a deadline, the key never leaks in any echoed form, and bad input is
refused before anything is sent or read.

Polite servers are the simulator; hostile ones are httpx.MockTransport or, for a server that
trickles its answer, a real asyncio server on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import _media
from seedance_nb.api._client import REDACTED, redact
from tests.secret_scan import key_forms

BASE = "https://api.test/api/v1"
KEY = "sk/live+SECRET=4f9c2a~7e1d.8b"  # '/', '+' and '=' change under every encoding
PLAIN_KEY = "sk-live-SECRET-4f9c2a7e1d8b6035"
DONE = {
    "taskId": "task_1",
    "model": "seedance2",
    "status": "COMPLETED",
    "creditsUsed": 200,
    "output": [{"url": "https://cdn.test/v/task_1.mp4", "width": 1280, "height": 720}],
    "error": None,
    "createTime": 1711234567890,
    "completeTime": 1711234612345,
}
FAILED = {**DONE, "status": "FAILED", "output": None, "creditsUsed": 0, "completeTime": None}

Handler = Callable[[httpx.Request], Any]


def run(call: Callable[[sd.AsyncClient], Awaitable[Any]], handler: Handler, **options: Any) -> Any:
    """`call(client)` on an AsyncClient whose server is `handler`; the client is closed after."""
    options.setdefault("retry_backoff", 0.001)
    options.setdefault("api_key", KEY)

    async def main() -> Any:
        transport = httpx.MockTransport(handler)
        async with sd.AsyncClient(base_url=BASE, transport=transport, **options) as client:
            return await call(client)

    return asyncio.run(main())


def answer(response: httpx.Response) -> Handler:
    """A server that always gives `response`, and counts the requests it saw."""

    def handler(request: httpx.Request) -> httpx.Response:
        handler.calls.append(request)  # type: ignore[attr-defined]
        return response

    handler.calls = []  # type: ignore[attr-defined]
    return handler


# ---- 1. every answer shape is parsed or refused with a quote ---------------------------------


@pytest.mark.parametrize(
    ("error", "text"),
    [
        ({"code": 7, "message": "moderation"}, "moderation"),
        ({"code": 7, "msg": "too dark"}, "too dark"),
        ({"detail": "no faces allowed"}, "no faces allowed"),
        ({"code": 7}, '{"code":7}'),
        ({"message": {"deep": 1}}, '{"message":{"deep":1}}'),
        (7, "7"),
        (2.5, "2.5"),
        (["a", "b"], '["a","b"]'),
        (True, "true"),
        ("plain words", "plain words"),
        ("", None),
        (None, None),
    ],
)
def test_a_failed_task_with_any_error_shape_parses_as_failed(error: object, text: str | None):
    task = sd.Task.from_wire({**FAILED, "error": error})
    assert task.status is sd.TaskStatus.FAILED and task.done
    assert task.error == text


def test_a_very_long_error_is_cut_short():
    task = sd.Task.from_wire({**FAILED, "error": {"message": "x" * 50_000}})
    assert task.error is not None and 900 < len(task.error) < 1100


def test_wait_on_a_task_failed_with_an_object_error_raises_task_failed():
    server = answer(httpx.Response(200, json={**FAILED, "error": {"code": 7, "message": "nsfw"}}))
    with pytest.raises(sd.TaskFailedError, match="nsfw") as info:
        run(lambda c: c.wait("task_1", timeout=5, poll_interval=0), server)
    assert info.value.task.status is sd.TaskStatus.FAILED and info.value.task.error == "nsfw"
    assert len(server.calls) == 1  # ended at once, not polled on


@pytest.mark.parametrize("status", ["CANCELLED", "QUEUED", "", "completed", 5, None, ["PENDING"]])
def test_an_unknown_status_is_unexpected(status: object):
    with pytest.raises(sd.UnexpectedResponseError, match="unknown status") as info:
        sd.Task.from_wire({**DONE, "status": status})
    assert info.value.status_code == 200 and "task_1" in info.value.text


@pytest.mark.parametrize(
    "output",
    [
        "missing",
        None,
        [],
        [{}],
        [{"url": None}],
        [{"url": ""}],
        [{"url": "/files/videos/task_1.mp4"}],
        [{"url": "ftp://cdn.test/v.mp4"}],
        [{"url": "https://"}],
        ["https://cdn.test/v.mp4"],
        {"url": "https://cdn.test/v.mp4"},
        [DONE["output"][0], {"url": "javascript:alert(1)"}],
    ],
)
def test_completed_without_a_video_url_is_unexpected(output: object):
    body = {k: v for k, v in DONE.items() if k != "output"}
    if output != "missing":
        body["output"] = output
    with pytest.raises(sd.UnexpectedResponseError, match="COMPLETED") as info:
        sd.Task.from_wire(body)
    assert info.value.what == "queryTask"


def test_outputs_of_an_unfinished_task_are_ignored_whatever_they_are():
    for output in (None, [], 5, [{"url": None}]):
        task = sd.Task.from_wire({**DONE, "status": "PROCESSING", "output": output})
        assert task.status is sd.TaskStatus.PROCESSING and task.outputs == ()


def test_odd_output_sizes_are_unknown_not_fatal():
    body = {**DONE, "output": [{"url": "https://cdn.test/a.mp4", "width": "wide", "height": 720.0}]}
    assert sd.Task.from_wire(body).outputs == (sd.Output("https://cdn.test/a.mp4", None, 720),)


@pytest.mark.parametrize(
    ("credits", "parsed"), [("missing", None), (None, None), (0, 0), (200, 200), (200.0, 200)]
)
def test_credits_used_is_none_when_not_said(credits: object, parsed: int | None):
    body = {k: v for k, v in DONE.items() if k != "creditsUsed"}
    if credits != "missing":
        body["creditsUsed"] = credits
    assert sd.Task.from_wire(body).credits_used == parsed


@pytest.mark.parametrize("credits", [-1, -200, 1.5, "lots", True, [200], {"n": 1}, float("nan")])
def test_a_negative_or_fractional_charge_is_unexpected(credits: object):
    with pytest.raises(sd.UnexpectedResponseError, match="creditsUsed"):
        sd.Task.from_wire({**DONE, "creditsUsed": credits})


@pytest.mark.parametrize("moment", ["yesterday", 1e400, 10**30, -(10**30), [1], {"ms": 1}])
def test_unreadable_timestamps_are_unknown_not_fatal(moment: object):
    task = sd.Task.from_wire({**DONE, "createTime": moment, "completeTime": moment})
    assert task.status is sd.TaskStatus.COMPLETED and task.video_url == DONE["output"][0]["url"]
    assert task.created_at is None and task.completed_at is None


def test_an_iso_timestamp_is_read():
    task = sd.Task.from_wire({**DONE, "createTime": "2024-03-23T22:56:07Z"})
    assert task.created_at is not None and task.created_at.timestamp() == 1711234567


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda c: c.get_task("task_1"), "queryTask"),
        (lambda c: c.credits(), "credits"),
        (lambda c: c.create_task(sd.TextToVideo("x")), "createTask"),
    ],
    ids=["queryTask", "credits", "createTask"],
)
@pytest.mark.parametrize(
    ("body", "start"),
    [
        ("<!DOCTYPE html><html><head><title>Login</title>" + "x" * 5000, "<!DOCTYPE html>"),
        ('{"taskId": "task_1", "sta', '{"taskId": "task_1", "sta'),
        ("", "''"),
        ("   ", "empty answer"),
        ("[1, 2, 3]", "[1,2,3]"),
        ('"COMPLETED"', "COMPLETED"),
        ("42", "42"),
        ("[" * 100_000, "[[[["),
    ],
    ids=["html", "cut-json", "empty", "blank", "list", "string", "number", "deep"],
)
def test_a_2xx_answer_that_is_not_the_shape_quotes_its_start(call, what, body, start):
    server = answer(httpx.Response(200, text=body, headers={"Content-Type": "text/html"}))
    with pytest.raises(sd.UnexpectedResponseError) as info:
        run(call, server)
    error = info.value
    assert error.what == what and error.status_code == 200
    assert start in error.text and len(error.text) < 300  # quoted, and cut short
    assert len(server.calls) == 1  # a readable-but-wrong answer is not retried here
    # createTask's unreadable answer may stand for a task that exists: never "refused"
    assert isinstance(error, sd.APIConnectionError) == (what == "createTask")


def test_a_page_echoing_the_key_is_quoted_redacted():
    page = f"<html><body>Hello, your key is {quote(KEY, safe='')}</body></html>"
    with pytest.raises(sd.UnexpectedResponseError) as info:
        run(lambda c: c.get_task("task_1"), answer(httpx.Response(200, text=page)))
    assert "Hello, your key is [api key redacted]" in info.value.text
    assert quote(KEY, safe="") not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [{"credits": "x", "availableCredits": 1}, {"credits": 1.5, "availableCredits": 1}, [1, 2]],
)
def test_a_credits_answer_that_is_not_whole_numbers_is_unexpected(body: object):
    with pytest.raises(sd.UnexpectedResponseError, match="credits answer"):
        sd.Credits.from_wire(body)


def test_an_overdrawn_balance_is_still_a_balance():
    assert sd.Credits.from_wire({"credits": 10, "availableCredits": -30}).reserved == 40


def test_a_polite_server_parses_cleanly(sim):
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url, timeout=10) as client:
        task = client.generate(sd.TextToVideo("a lantern", duration=4), poll_interval=0.02)
        again = client.get_task(task.id)
    assert task.status is sd.TaskStatus.COMPLETED and task.credits_used == 4 * 40
    assert again.video_url is not None and again.video_url.startswith("http://127.0.0.1")


# ---- 2. the client's timeout bounds a whole request --------------------------------------------


class Trickler:
    """A loopback HTTP server that answers one byte per `tick` seconds: the status line and
    headers (`part="headers"`) or a long body after prompt headers (`part="body"`). Each byte
    arrives well inside any per-read timeout, so only an overall deadline can stop a reader."""

    def __init__(self, part: str, tick: float = 0.05) -> None:
        self.part = part
        self.tick = tick
        self.requests = 0
        self.bytes_sent = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.AbstractServer | None = None
        self._closed = False

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._closed = True
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            body = json.dumps(DONE).encode() + b" " * 10_000
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            if self.part == "body":
                writer.write(head)
                slow = body
            else:
                slow = head + body
            for i in range(len(slow)):
                if self._closed:
                    return
                writer.write(slow[i : i + 1])
                await writer.drain()
                self.bytes_sent += 1
                await asyncio.sleep(self.tick)  # the server's pace, not the test waiting
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what a deadline does
        finally:
            writer.close()


@pytest.mark.parametrize("part", ["headers", "body"])
@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.get_task("task_1"), "queryTask"),
        (lambda c: c.credits(), "credits"),
        (lambda c: c.create_task(sd.TextToVideo("x")), "createTask"),
    ],
    ids=["queryTask", "credits", "createTask"],
)
def test_a_trickling_server_cannot_hold_a_call_past_the_timeout(part, call, path):
    async def main() -> tuple[BaseException, float, Trickler]:
        server = Trickler(part)
        async with server as base_url:
            client = sd.AsyncClient(api_key=PLAIN_KEY, base_url=base_url, timeout=0.6)
            started = time.monotonic()
            try:
                with pytest.raises(sd.APITimeoutError) as info:
                    await call(client)
            finally:
                elapsed = time.monotonic() - started
                await client.aclose()
        return info.value, elapsed, server

    error, elapsed, server = asyncio.run(main())
    assert 0.5 <= elapsed < 2.5, elapsed  # the deadline, not a per-read timeout, ended it
    assert 3 <= server.bytes_sent < 100  # bytes kept coming: no read ever timed out by itself
    assert path in str(error) and "0.6 s" in str(error)
    assert error.__cause__ is None and error.__context__ is None
    if path == "createTask":
        assert server.requests == 1  # never sent twice


def test_the_deadline_leaves_a_normal_call_alone(sim):
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url, timeout=5) as client:
        assert client.credits().available > 0


def test_a_server_that_never_finishes_gives_wait_timeout(start_sim):
    slow = start_sim(speed=1.0)  # a 4 s render takes about 20 s here
    with sd.Client(api_key=slow.api_key, base_url=slow.base_url) as client:
        task_id = client.create_task(sd.TextToVideo("slow", duration=4))
        with pytest.raises(sd.WaitTimeoutError) as info:
            client.wait(task_id, timeout=0.3, poll_interval=0.05)
    assert info.value.task_id == task_id and info.value.last is not None
    assert not info.value.last.done


# ---- 3. the key never leaks ---------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY, PLAIN_KEY])
def test_redact_removes_every_form_of_the_key(key: str):
    for name, form in key_forms(key).items():
        text = f'{{"message": "bad key ({form}) was sent"}}'
        out = redact(text, key)
        assert form not in out, name
        assert out.startswith('{"message": "bad key (') and out.endswith(') was sent"}'), name
        assert REDACTED in out, name


def test_redact_leaves_other_text_alone():
    text = json.dumps(DONE) + " sk-live SECRET 4f9c " + base64.b64encode(b"hello world").decode()
    assert redact(text, KEY) == text and redact(text, None) == text and redact("", KEY) == ""


def echo_everything(key: str) -> str:
    """A body echoing every form of the key, as a careless error page might."""
    forms = key_forms(key)
    return json.dumps({"message": f"bad key {forms['raw']}", "detail": forms}) + " ".join(
        forms.values()
    )


def _hang(request: httpx.Request) -> Awaitable[httpx.Response]:
    async def never() -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return never()


def hostile_servers(key: str) -> dict[str, Handler]:
    """Servers that make every kind of error _request raises, each echoing the key if it can."""
    echo = echo_everything(key)
    failed = {**FAILED, "error": {"message": echo}}

    def raising(exc: type[httpx.TransportError]) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc(f"failed sending {request.headers['Authorization']}", request=request)

        return handler

    return {
        **{
            f"{status}-echo": answer(httpx.Response(status, text=echo))
            for status in (400, 401, 402, 403, 404, 429, 500, 503)
        },
        "200-html-echo": answer(httpx.Response(200, text=f"<html>{echo}</html>")),
        "200-json-wrong-shape": answer(httpx.Response(200, json={"status": "X", "echo": echo})),
        "200-failed-task-echo": answer(httpx.Response(200, json=failed)),
        "read-timeout": raising(httpx.ReadTimeout),
        "connect-timeout": raising(httpx.ConnectTimeout),
        "connect-error": raising(httpx.ConnectError),
        "dropped": raising(httpx.RemoteProtocolError),
        "hangs": _hang,
    }


def error_texts(error: BaseException) -> Iterator[str]:
    """Everything reachable from an error that a user could print or save."""
    yield str(error)
    yield repr(error)
    yield repr(error.args)
    yield repr(vars(error))
    yield "".join(traceback.format_exception(error))
    task = getattr(error, "task", None)
    if task is not None:
        yield repr(task.raw)
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            yield from error_texts(linked)


@pytest.mark.parametrize("key", [KEY, PLAIN_KEY])
def test_no_error_carries_the_key_in_any_form(key: str, tmp_path: Path):
    upload = tmp_path / "still.png"
    upload.write_bytes(b"\x89PNG not really")
    calls: dict[str, Callable[[sd.AsyncClient], Awaitable[Any]]] = {
        "create_task": lambda c: c.create_task(sd.TextToVideo("x")),
        "get_task": lambda c: c.get_task("task_1"),
        "credits": lambda c: c.credits(),
        "wait": lambda c: c.wait("task_1", timeout=5, poll_interval=0),
        "upload_asset": lambda c: c.upload_asset(upload),
    }
    errors: list[tuple[str, BaseException]] = []
    for server_name, server in hostile_servers(key).items():
        failed = 0
        for call_name, call in calls.items():
            try:  # some calls succeed against some servers (a FAILED task is a fine answer)
                run(call, server, api_key=key, timeout=0.2, max_retries=1)
            except sd.SeedanceError as exc:
                errors.append((f"{server_name}/{call_name}", exc))
                failed += 1
        assert failed >= 1, server_name
    every_kind = (
        sd.APITimeoutError,
        sd.APIConnectionError,
        sd.UnexpectedResponseError,
        sd.BadRequestError,
        sd.AuthenticationError,
        sd.InsufficientCreditsError,
        sd.PermissionDeniedError,
        sd.TaskNotFoundError,
        sd.ConcurrencyLimitError,
        sd.ServerError,
        sd.TaskFailedError,
    )
    assert all(any(type(e) is kind for _, e in errors) for kind in every_kind)
    forms = key_forms(key)
    for where, error in errors:
        assert error.__cause__ is None and error.__context__ is None, where
        text = "\n".join(error_texts(error))
        leaked = [name for name, form in forms.items() if form in text]
        assert leaked == [], (where, leaked)
    echoed = [e for w, e in errors if "echo" in w]
    assert all(REDACTED in "\n".join(error_texts(e)) for e in echoed)  # not vacuous


def test_a_real_timeout_holds_no_request_headers():
    """A real socket (whichever of httpx's read timeout and the deadline fires first): httpx's
    exception carries the request with its headers; ours must not chain to it."""

    async def main() -> BaseException:
        async with (
            Trickler("headers", tick=10.0) as base_url,  # says almost nothing
            sd.AsyncClient(api_key=KEY, base_url=base_url, timeout=0.2) as client,
        ):
            with pytest.raises(sd.APITimeoutError) as info:
                await client.credits()
        return info.value

    error = asyncio.run(main())
    assert error.__cause__ is None and error.__context__ is None
    assert KEY not in "\n".join(error_texts(error))


# ---- 4. bad input is refused before anything is sent or read -----------------------------------

CREDENTIAL_URLS = [
    "https://alice:pw-7731@host.test/x.jpg",
    "https://alice@host.test/x.jpg",
    "https://:pw-7731@host.test/x.jpg",
    "https://@host.test/x.jpg",
    "HTTP://alice:pw-7731@host.test:8080/x.jpg?y=1",
    "https://alice:pw-7731@[::1/x.jpg",  # would not even parse: the rule comes first
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_a_url_with_credentials_is_refused_without_echoing_them(url: str):
    builders = {
        "image": lambda: sd.ImageToVideo(url),
        "last": lambda: sd.Keyframes("https://host.test/a.jpg", url),
        "videos[0]": lambda: sd.MultiReference(videos=[url]),
        "audios[0]": lambda: sd.MultiReference(images=["asset://a1"], audios=[url]),
        "callback_url": lambda: sd.api.check_callback_url(url),
        "inputs.urls[0]": lambda: sd.api.from_inputs({"urls": [url]}),
    }
    for field, build in builders.items():
        with pytest.raises(sd.ValidationError) as info:
            build()
        assert info.value.field == field
        assert "must not carry a user name or password" in info.value.rule
        assert "ledger" in info.value.rule and "pw-7731" not in str(info.value)


def test_a_url_with_an_at_sign_after_the_host_is_fine():
    req = sd.ImageToVideo("https://host.test/people/@alice/x.jpg?by=bob@host#a@b")
    assert req.to_inputs()["urls"] == ["https://host.test/people/@alice/x.jpg?by=bob@host#a@b"]


def test_a_callback_with_credentials_is_refused_before_sending():
    server = answer(httpx.Response(200, json={"taskId": "t"}))
    with pytest.raises(sd.ValidationError, match="callback_url"):
        run(lambda c: c.create_task(sd.TextToVideo("x"), callback_url=CREDENTIAL_URLS[0]), server)
    assert server.calls == []


@pytest.mark.parametrize(
    "prompt", ["a \ud800 b", "\udfff", "cut emoji \ud83d", "x" * 99 + "\udc00"]
)
def test_a_prompt_that_is_not_utf8_is_refused(prompt: str):
    for build in (
        lambda: sd.TextToVideo(prompt),
        lambda: sd.ImageToVideo("asset://a1", prompt=prompt),
        lambda: sd.MultiReference(images=["asset://a1"], prompt=prompt),
    ):
        with pytest.raises(sd.ValidationError) as info:
            build()
        assert info.value.field == "prompt" and "UTF-8" in info.value.rule
    with pytest.raises(sd.ValidationError) as info:
        sd.api.from_inputs({"prompt": prompt})
    assert info.value.field == "inputs.prompt"


def test_a_whole_emoji_is_fine():
    assert sd.TextToVideo("a fox \U0001f98a").to_inputs()["prompt"] == "a fox \U0001f98a"


def test_a_url_that_is_not_utf8_is_refused():
    with pytest.raises(sd.ValidationError, match="UTF-8") as info:
        sd.ImageToVideo("https://host.test/\ud800.jpg")
    assert info.value.field == "image"


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that uses no disk and takes no time to make."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


@pytest.fixture
def no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a file's content is read to measure it."""

    def refuse(*args: object) -> Any:
        raise AssertionError("the file was opened; its size alone should have refused it")

    monkeypatch.setattr(_media, "image_size", refuse)
    monkeypatch.setattr(_media, "clip_seconds", refuse)


def test_the_size_caps_are_documented():
    assert _media.MAX_IMAGE_BYTES == 30 * 2**20
    assert _media.MAX_VIDEO_BYTES == 200 * 2**20
    assert _media.MAX_AUDIO_BYTES == 50 * 2**20
    assert _media.MAX_FILE_BYTES == _media.MAX_VIDEO_BYTES
    doc = _media.__doc__ or ""
    assert "publishes no limit" in doc and "30 MiB" in doc and "200 MiB" in doc


@pytest.mark.parametrize(
    ("name", "build", "field", "cap"),
    [
        ("huge.png", lambda p: sd.ImageToVideo(p), "image", "30 MiB"),
        ("huge.png", lambda p: sd.Keyframes(p, "asset://a1"), "first", "30 MiB"),
        ("huge.mp4", lambda p: sd.MultiReference(videos=[p]), "videos[0]", "200 MiB"),
        ("huge.mp3", lambda p: sd.MultiReference(audios=[p]), "audios[0]", "50 MiB"),
        ("huge.png", lambda p: sd.ImageToVideo(str(p)), "image", "30 MiB"),
    ],
)
def test_a_file_over_its_cap_is_refused_from_its_size_alone(
    tmp_path: Path, no_measuring: None, name: str, build: Any, field: str, cap: str
):
    path = sparse(tmp_path / name, 3 * 2**30)
    started = time.monotonic()
    with pytest.raises(sd.ValidationError) as info:
        build(path)
    assert time.monotonic() - started < 1.0
    assert info.value.field == field and f"at most {cap}" in info.value.rule
    assert "3,072.0 MiB" in info.value.rule and name in info.value.rule


def test_each_kind_has_its_own_cap(tmp_path: Path, no_measuring: None):
    audio = sparse(tmp_path / "long.mp3", _media.MAX_AUDIO_BYTES + 1)
    with pytest.raises(sd.ValidationError, match="at most 50 MiB"):
        sd.MultiReference(audios=[audio])
    video = sparse(tmp_path / "ok-size.mp4", _media.MAX_AUDIO_BYTES + 1)
    with pytest.raises(AssertionError, match="was opened"):  # under the video cap: measured
        sd.MultiReference(videos=[video])


def test_an_upload_over_the_cap_is_refused_before_opening(tmp_path: Path):
    path = sparse(tmp_path / "film.mp4", _media.MAX_FILE_BYTES + 1)
    server = answer(httpx.Response(200, json={"url": "asset://a1"}))
    with pytest.raises(sd.ValidationError, match="at most 200 MiB") as info:
        run(lambda c: c.upload_asset(path), server)
    assert info.value.field == "path" and server.calls == []


def test_an_upload_of_a_missing_file_is_a_validation_error(tmp_path: Path):
    server = answer(httpx.Response(200, json={"url": "asset://a1"}))
    with pytest.raises(sd.ValidationError, match="cannot be read") as info:
        run(lambda c: c.upload_asset(tmp_path / "gone.png"), server)
    assert info.value.field == "path" and server.calls == []


@pytest.mark.parametrize("body", [{"url": 5}, {"assetId": "a1"}, {"url": ""}, [1]])
def test_an_upload_answer_without_a_url_is_unexpected(tmp_path: Path, body: object):
    path = tmp_path / "still.png"
    path.write_bytes(b"\x89PNG")
    with pytest.raises(sd.UnexpectedResponseError, match="upload answer"):
        run(lambda c: c.upload_asset(path), answer(httpx.Response(200, json=body)))


def test_an_upload_to_the_simulator_still_works(sim, tmp_path: Path):
    from PIL import Image

    path = tmp_path / "still.png"
    Image.new("RGB", (640, 480), "teal").save(path)
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url, timeout=5) as client:
        assert client.upload_asset(path).startswith("asset://")
