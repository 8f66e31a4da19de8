"""AsyncClient: the one implementation of the Seedance2 HTTP API. `Client` wraps it.

Three promises hold for every call:

* `timeout` bounds the whole call (connection, headers, body, and the retries of a GET), so a
  server that trickles its answer cannot hold a caller past it;
* the API key is redacted from everything a server sends back, in every form it may echo it
  (raw, JSON-escaped, URL-encoded, HTML character references, base64 at any alignment), before
  the text is parsed or quoted;
* every SeedanceError raised here is built outside the `except` block that saw the httpx error,
  so its `__cause__` and `__context__` are None and nothing reachable from it holds the request
  (and with it the Authorization header).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import inspect
import json
import logging
import math
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    SeedanceError,
    TaskFailedError,
    UnexpectedResponseError,
    ValidationError,
    WaitTimeoutError,
    error_for_status,
)
from ._media import MAX_FILE_BYTES, size_rule
from ._models import Credits, Task, TaskStatus, quote_answer, readable_error
from ._requests import Request, check_callback_url, check_model
from ._transport import ONCE, RETRY_SAFE, RetryTransport, http_transport

__version__ = "0.1.0"
DEFAULT_BASE_URL = "https://seedance2-ai.ai/api/v1"
log = logging.getLogger("seedance_nb")
REDACTED = "[api key redacted]"
UPLOAD_BYTES_PER_SECOND = 1_000_000  # an upload's deadline grows by a second per MB sent

OnUpdate = Callable[[Task], Awaitable[None] | None]


def account_id(api_key: str, base_url: str) -> str:
    """The name an account goes by in a shared ledger: a hash of its API key and its server,
    so every studio on the same account agrees on it and the key is never stored."""
    server = base_url.strip().rstrip("/").lower()
    return hashlib.sha256(f"seedance-account\n{server}\n{api_key}".encode()).hexdigest()[:32]


class CreateTaskUnclearError(UnexpectedResponseError, APIConnectionError):
    """createTask answered 2xx in a shape we cannot read: the task may exist and be charged.

    It is an UnexpectedResponseError (it quotes the answer) and an APIConnectionError (no usable
    answer), so a caller that treats connection errors as "may have been created" stays safe.
    """


def redact(text: str, key: str | None) -> str:
    """`text` with every form of `key` a server may echo replaced by a marker."""
    if not key or not text:
        return text
    return _key_pattern(key).sub(REDACTED, text)


@functools.lru_cache(maxsize=8)
def _key_pattern(key: str) -> re.Pattern[str]:
    """One regex for the key as raw text, escaped or encoded, and its base64 at any offset."""
    needles = sorted({key, *_base64_middles(key)}, key=len, reverse=True)
    return re.compile("|".join("".join(_char_forms(c) for c in n) for n in needles))


def _char_forms(c: str) -> str:
    """A regex for one character as a server may write it: literal, JSON `\\uXXXX` or `\\/`
    (at any nesting depth), %XX (either case, once or twice encoded), `&#NN;` or `&#xHH;`."""
    units = c.encode("utf-16-be", "surrogatepass")
    forms = [
        re.escape(c),
        "".join(f"%(?:25)?(?i:{b:02x})" for b in c.encode("utf-8", "surrogatepass")),
        "".join(rf"\\+u(?i:{units[i]:02x}{units[i + 1]:02x})" for i in range(0, len(units), 2)),
        f"&#(?:0*{ord(c)}|(?i:x0*{ord(c):x}));",
    ]
    if c in '"\\/':
        forms.append(r"\\+" + re.escape(c))
    if c == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def _base64_middles(key: str) -> set[str]:
    """The base64 characters that depend on the key alone, at each of the three byte offsets it
    may sit at inside an encoded blob ("Bearer <key>", "<key>:", a whole header), in the standard
    and the URL-safe alphabet. Padding and the partial characters at the ends are left out."""
    data = key.encode("utf-8", "surrogatepass")
    middles: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start, end = -(-8 * offset // 6), 8 * (offset + len(data)) // 6
        middle = encoded[start:end]
        if len(middle) >= 8:  # a shorter run could match unrelated text
            middles |= {middle, middle.translate(str.maketrans("+/", "-_"))}
    return middles


class AsyncClient:
    """Talk to the Seedance2 API (or the local simulator) from async code.

    The key and base URL come from the arguments or from SEEDANCE_API_KEY and
    SEEDANCE_BASE_URL. GETs are retried on failure; createTask is sent once.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = 30.0,
        max_retries: int = 4,
        retry_backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("SEEDANCE_API_KEY")
        self.base_url = base_url or os.environ.get("SEEDANCE_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = self.base_url.rstrip("/")
        self.timeout = timeout
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "max_retries": max_retries,
            "retry_backoff": retry_backoff,
            "transport": transport,
        }
        self._transport = RetryTransport(
            transport or http_transport(), max_retries=max_retries, backoff=retry_backoff
        )
        self._http: httpx.AsyncClient | None = None
        self._server: dict[str, float] = {}  # what the server said of itself, shared by copies

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key})"

    def copy(self, **overrides: Any) -> AsyncClient:
        """A client with the same settings (but `overrides`) and its own connection pool."""
        twin = type(self)(self._api_key, self.base_url, **{**self._options, **overrides})
        twin._server = self._server  # same server: what one copy hears, the others know
        return twin

    @property
    def server_speed(self) -> float | None:
        """A simulator's declared pace (its `X-Simulator-Speed`), once any answer said it;
        None for the hosted API."""
        return self._server.get("speed")

    @property
    def account_id(self) -> str:
        """This client's account as a shared ledger names it (a hash: never the key)."""
        return account_id(self._api_key or "", self.base_url)

    @property
    def has_api_key(self) -> bool:
        """True when a key is configured (its value is never shown)."""
        return bool(self._api_key)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                timeout=self.timeout,
                headers={"User-Agent": f"seedance-nb/{__version__}"},
            )
        return self._http

    def _auth(self) -> dict[str, str]:
        if not self._api_key:
            raise ValidationError("api_key", "is required: pass api_key= or set SEEDANCE_API_KEY")
        return {"Authorization": f"Bearer {self._api_key}"}

    async def _request(
        self, method: str, path: str, *, what: str, deadline: float | None = None, **kwargs: Any
    ) -> Any:
        """Send one request and return its JSON body, or raise the matching SeedanceError.

        `deadline` (default: the client's timeout) bounds the whole exchange, retries included.
        A 2xx answer that is not JSON raises UnexpectedResponseError quoting its start.
        """
        headers = self._auth()
        limit = self.timeout if deadline is None else deadline
        response: httpx.Response | None = None
        failure: SeedanceError | None = None
        try:
            response = await within(
                self._client().request(method, path, headers=headers, **kwargs), limit
            )
        except httpx.TimeoutException as exc:
            failure = APITimeoutError(f"{method} {path}: no answer in time ({type(exc).__name__})")
        except asyncio.TimeoutError:
            failure = APITimeoutError(f"{method} {path}: no complete answer within {limit:g} s")
        except httpx.TransportError as exc:
            failure = APIConnectionError(
                self._redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            )
        if failure is not None or response is None:  # raised here, so nothing chains the request
            raise failure or APIConnectionError(f"{method} {path}: no answer")
        log.debug("%s %s -> %d", method, path, response.status_code)
        speed = _speed(response.headers.get("X-Simulator-Speed"))
        if speed is not None:
            self._server["speed"] = speed
        text = self._redact(response.text)  # before anything parses or quotes it
        body, readable = _parse_json(text)
        if response.is_success:
            if not readable:
                reason = "an empty answer" if not text.strip() else "not JSON"
                raise self._unexpected(what, text, reason, response.status_code)
            return body
        message = None
        if isinstance(body, dict):
            message = readable_error(body.get("message") or body.get("error") or body.get("detail"))
        raise error_for_status(
            response.status_code, message or text[:200] or response.reason_phrase, body
        )

    @staticmethod
    def _unexpected(
        what: str, answer: object, reason: str, status_code: int = 200
    ) -> UnexpectedResponseError:
        """The error for a 2xx answer we cannot use; for createTask, one that says it may exist."""
        cls = CreateTaskUnclearError if what == "createTask" else UnexpectedResponseError
        return cls(what, f"{reason}: {quote_answer(answer)}", status_code)

    def _redact(self, text: str) -> str:
        """`text` with every form of the API key replaced."""
        return redact(text, self._api_key)

    async def create_task(
        self, req: Request, model: str = "seedance2", callback_url: str | None = None
    ) -> str:
        """Send createTask once (never retried) and return the new task id."""
        if not isinstance(req, Request):
            raise ValidationError("req", f"must be a request object, not {type(req).__name__}")
        payload: dict[str, Any] = {"model": check_model(model), "inputs": req.to_inputs()}
        if (url := check_callback_url(callback_url)) is not None:
            payload["callBackUrl"] = url
        body = await self._request("POST", "/jobs/createTask", what="createTask", json=payload)
        task_id = body.get("taskId") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id.strip():
            raise self._unexpected("createTask", body, "no taskId string")
        return task_id

    async def get_task(self, task_id: str) -> Task:
        """One queryTask: the task's current state."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValidationError("task_id", "must be a non-empty string")
        body = await self._request(
            "GET", "/jobs/queryTask", what="queryTask", params={"taskId": task_id}
        )
        return Task.from_wire(body)

    async def credits(self, *, retry: bool = True) -> Credits:
        """The account's credit balance. A refused key raises AuthenticationError in one line
        that says where the key came from (the same words as `sd.Studio()`). `retry=False`
        tries once: for a reading that may simply be missing (one on a send's path)."""
        said: str | None = None
        try:
            body = await self._request(
                "GET", "/account/credits", what="credits", extensions={ONCE: not retry}
            )
        except AuthenticationError as exc:
            said = exc.message  # already redacted
        if said is not None:  # raised here, outside the except block: one short error, no chain
            raise key_refused(self.base_url, said)
        return Credits.from_wire(body)

    async def upload_asset(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file to the simulator's asset store; returns its asset:// reference.

        The hosted API has no upload route: against it this raises TaskNotFoundError (404).
        An upload costs no credits, so unlike createTask it is retried like a GET. A file over
        MAX_FILE_BYTES is refused from its size alone, before it is opened.
        """
        path = Path(path)
        problem = None
        try:
            size = path.stat().st_size
            handle = path.open("rb")
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
        if problem is not None:
            raise ValidationError("path", f"{path.name!r} {problem}")
        if size > MAX_FILE_BYTES:
            handle.close()
            raise ValidationError("path", size_rule(path, size, MAX_FILE_BYTES, "upload"))
        deadline = None if self.timeout is None else self.timeout + size / UPLOAD_BYTES_PER_SECOND
        with handle:  # httpx rewinds the file for each attempt
            body = await self._request(
                "POST",
                "/assets",
                what="upload",
                deadline=deadline,
                files={"file": (path.name, handle)},
                extensions={RETRY_SAFE: True},
            )
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.strip():
            raise self._unexpected("upload", body, "no url string")
        return url

    async def watch(self, task_id: str, *, poll_interval: float = 5.0) -> AsyncIterator[Task]:
        """Yield the task each time its status changes, ending with its final state."""
        last: TaskStatus | None = None
        while True:
            task = await self.get_task(task_id)
            if task.status is not last:
                last = task.status
                yield task
            if task.done:
                return
            await asyncio.sleep(poll_interval)

    async def wait(
        self,
        task_id: str,
        timeout: float = 600,
        on_update: OnUpdate | None = None,
        *,
        poll_interval: float = 5.0,
    ) -> Task:
        """Poll until the task ends; return it if COMPLETED, raise TaskFailedError if FAILED."""
        seen: list[Task] = []

        async def follow() -> None:
            async for task in self.watch(task_id, poll_interval=poll_interval):
                seen.append(task)
                if on_update is not None and inspect.isawaitable(result := on_update(task)):
                    await result

        # A task, not wait_for: a TimeoutError raised by on_update must stay the caller's own.
        runner = asyncio.ensure_future(follow())
        try:
            done, _ = await asyncio.wait({runner}, timeout=timeout)
        finally:
            # cancel until it is done: a cancel that lands as a request completes can be lost
            # (asyncio.wait_for before 3.12), and the watch would then poll on for ever
            while not runner.done():
                runner.cancel()
                await asyncio.wait({runner}, timeout=0.1)
        if not done:
            raise WaitTimeoutError(task_id, seen[-1] if seen else None, timeout)
        runner.result()
        final = seen[-1]
        if final.status is TaskStatus.FAILED:
            raise TaskFailedError(final)
        return final

    async def generate(
        self,
        req: Request,
        model: str = "seedance2",
        timeout: float = 600,
        *,
        on_update: OnUpdate | None = None,
        poll_interval: float = 5.0,
    ) -> Task:
        """Create a task and wait for its video."""
        task_id = await self.create_task(req, model)
        return await self.wait(task_id, timeout, on_update, poll_interval=poll_interval)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def within(awaitable: Awaitable[Any], limit: float | None) -> Any:
    """`awaitable`, or TimeoutError after `limit` seconds (None: no bound). On 3.11+
    `asyncio.timeout`, which never swallows a cancel from outside; `wait_for` before 3.12 may,
    when the cancel lands as the awaited work completes."""
    if hasattr(asyncio, "timeout"):
        async with asyncio.timeout(limit):
            return await awaitable
    return await asyncio.wait_for(awaitable, limit)


def _speed(header: str | None) -> float | None:
    """The speed a simulator declares (a positive finite number), else None."""
    try:
        value = float(header) if header is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _parse_json(text: str) -> tuple[Any, bool]:
    """(parsed body, True), or (None, False) when `text` is not JSON at all."""
    try:
        return json.loads(text), True
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None, False


def key_refused(base_url: str, said: str = "") -> AuthenticationError:
    """The error for a key the server refused: what to check, where it came from, and what the
    server said (its own words, already redacted, so nothing it explained is hidden)."""
    because = f" (the server said: {said})" if said else ""
    return AuthenticationError(
        401,
        f"the API key was refused by {base_url}{because}. Check SEEDANCE_API_KEY (or the "
        "api_key given to sd.Client), and SEEDANCE_BASE_URL if this is not the server you meant.",
    )
