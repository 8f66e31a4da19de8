"""AsyncClient: the one implementation of the Seedance2 HTTP API. `Client` wraps it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    TaskFailedError,
    ValidationError,
    WaitTimeoutError,
    error_for_status,
)
from ._models import Credits, Task, TaskStatus
from ._requests import Request, check_callback_url, check_model
from ._transport import RETRY_SAFE, RetryTransport

__version__ = "0.1.0"
DEFAULT_BASE_URL = "https://seedance2-ai.ai/api/v1"
log = logging.getLogger("seedance_nb")

OnUpdate = Callable[[Task], Awaitable[None] | None]


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
        timeout: float = 30.0,
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
            transport or httpx.AsyncHTTPTransport(), max_retries=max_retries, backoff=retry_backoff
        )
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key})"

    def copy(self) -> AsyncClient:
        """A client with the same settings and its own connection pool (for another loop)."""
        return type(self)(self._api_key, self.base_url, **self._options)

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

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and return its JSON body, or raise the matching SeedanceError."""
        headers = self._auth()
        try:
            response = await self._client().request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"{method} {path}: no answer in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise APIConnectionError(
                self._redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            ) from None
        log.debug("%s %s -> %d", method, path, response.status_code)
        text = self._redact(response.text)  # a server that echoes the key must not leak it
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        if response.is_success:
            return body
        message = None
        if isinstance(body, dict):
            message = body.get("message") or body.get("error") or body.get("detail")
        raise error_for_status(
            response.status_code, str(message or text[:200] or response.reason_phrase), body
        )

    def _redact(self, text: str) -> str:
        """`text` with every copy of the API key replaced."""
        key = self._api_key
        return text.replace(key, "[api key redacted]") if key and key in text else text

    async def create_task(
        self, req: Request, model: str = "seedance2", callback_url: str | None = None
    ) -> str:
        """Send createTask once (never retried) and return the new task id."""
        if not isinstance(req, Request):
            raise ValidationError("req", f"must be a request object, not {type(req).__name__}")
        payload: dict[str, Any] = {"model": check_model(model), "inputs": req.to_inputs()}
        if (url := check_callback_url(callback_url)) is not None:
            payload["callBackUrl"] = url
        body = await self._request("POST", "/jobs/createTask", json=payload)
        if not isinstance(body, dict) or not isinstance(body.get("taskId"), str):
            raise APIConnectionError(f"createTask answered without a taskId: {body!r:.200}")
        return body["taskId"]

    async def get_task(self, task_id: str) -> Task:
        """One queryTask: the task's current state."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValidationError("task_id", "must be a non-empty string")
        body = await self._request("GET", "/jobs/queryTask", params={"taskId": task_id})
        return Task.from_wire(body)

    async def credits(self) -> Credits:
        """The account's credit balance."""
        return Credits.from_wire(await self._request("GET", "/account/credits"))

    async def upload_asset(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file to the simulator's asset store; returns its asset:// reference.

        The hosted API has no upload route: against it this raises TaskNotFoundError (404).
        An upload costs no credits, so unlike createTask it is retried like a GET.
        """
        path = Path(path)
        with path.open("rb") as fh:  # httpx rewinds the file for each attempt
            body = await self._request(
                "POST", "/assets", files={"file": (path.name, fh)}, extensions={RETRY_SAFE: True}
            )
        return str(body["url"])

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
            if not runner.done():
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
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
