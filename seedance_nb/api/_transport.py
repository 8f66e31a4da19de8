"""Retries live here and only here: idempotent methods are retried with backoff, honouring
Retry-After; anything else (createTask's POST) goes through exactly once, unless the caller
marks the request safe to repeat with the `RETRY_SAFE` extension (an asset upload is)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time

import httpx

log = logging.getLogger("seedance_nb")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_RETRY_AFTER = 60.0
RETRY_SAFE = "seedance_nb.retry_safe"  # request extension: repeating it cannot spend credits


class RetryTransport(httpx.AsyncBaseTransport):
    """Wrap a transport so GETs survive dropped connections, 5xx and 429, and POSTs never repeat.

    A POST that times out or answers 5xx may still have created a task, so sending it again
    could spend credits twice; the caller gets the error instead and decides.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        self._inner = inner
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in IDEMPOTENT and not request.extensions.get(RETRY_SAFE):
            return await self._inner.handle_async_request(request)
        attempt = 0
        while True:
            try:
                response = await self._inner.handle_async_request(request)
                try:
                    await response.aread()  # a body cut off half-way is a failed attempt too
                except httpx.TransportError:
                    await response.aclose()
                    raise
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise
                delay = self._delay(attempt)
                log.debug(
                    "retrying %s %s after %s", request.method, request.url.path, type(exc).__name__
                )
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                    return response
                delay = retry_after(response) or self._delay(attempt)
                await response.aclose()
                log.debug(
                    "retrying %s %s after %d",
                    request.method,
                    request.url.path,
                    response.status_code,
                )
            attempt += 1
            await asyncio.sleep(delay)

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter, so many clients do not retry in step."""
        return random.uniform(0.5, 1.0) * min(self.max_backoff, self.backoff * 2**attempt)

    async def aclose(self) -> None:
        await self._inner.aclose()


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (delta-seconds or an HTTP date), capped."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))
