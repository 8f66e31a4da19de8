"""Retries live here and only here: idempotent methods are retried with backoff, honouring
Retry-After; anything else (createTask's POST) goes through exactly once, unless the caller
marks the request safe to repeat with the `RETRY_SAFE` extension (an asset upload is).

The policy is a few pure functions (`should_retry`, `retry_delay`, `retry_after`) apart from the
send loop, so each rule can be tested without a server. Every transport the package makes
(`http_transport`) shares one TLS context.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

log = logging.getLogger("seedance_nb")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_RETRY_AFTER = 60.0
RETRY_SAFE = "seedance_nb.retry_safe"  # request extension: repeating it cannot spend credits
# Request extension: hand the body over unread, for the caller to stream (a video download).
# Only failures before the body starts are retried then; a body cut off half-way is the caller's.
STREAM = "seedance_nb.stream"
# Request extension: one try, whatever the method (a reading that may simply be missing).
ONCE = "seedance_nb.once"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of this process (httpx's default: certifi, or SSL_CERT_FILE). Each
    new one reads the whole CA bundle, a tenth of a second or more on a busy machine, and a
    studio makes several clients; a context may be shared by all of them."""
    return httpx.create_ssl_context()


def http_transport() -> httpx.AsyncHTTPTransport:
    """A plain HTTP transport (its own connection pool) on the shared TLS context."""
    return httpx.AsyncHTTPTransport(verify=tls_context())


def may_repeat(method: str, extensions: Mapping[str, Any]) -> bool:
    """True if sending this request twice cannot spend credits: an idempotent method, or a
    request marked RETRY_SAFE. A POST that timed out may still have created a task."""
    return method.upper() in IDEMPOTENT or bool(extensions.get(RETRY_SAFE))


def should_retry(
    method: str,
    extensions: Mapping[str, Any],
    outcome: int | BaseException,
    attempt: int,
    max_retries: int,
) -> bool:
    """Whether attempt number `attempt` (0 for the first) deserves another, given its `outcome`:
    an HTTP status, or the exception it raised. Only transport errors, 429 and 5xx gateway
    statuses are worth repeating, only for requests that may repeat, and only `max_retries` times.
    """
    if attempt >= max_retries or extensions.get(ONCE) or not may_repeat(method, extensions):
        return False
    if isinstance(outcome, BaseException):
        return isinstance(outcome, httpx.TransportError)
    return outcome in RETRY_STATUSES


def retry_delay(
    attempt: int,
    response: httpx.Response | None,
    backoff: float,
    max_backoff: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` + 1: what the server asked for in
    Retry-After if it asked for a positive wait, else exponential backoff with jitter (between
    half and all of the step, so many clients do not retry in step). `rand` gives [0, 1)."""
    asked = retry_after(response) if response is not None else None
    if asked:
        return asked
    step = min(max_backoff, backoff * 2**attempt)
    return (0.5 + 0.5 * rand()) * step


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
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


class RetryTransport(httpx.AsyncBaseTransport):
    """Wrap a transport so GETs survive dropped connections, 5xx and 429, and POSTs never repeat.

    A POST that times out or answers 5xx may still have created a task, so sending it again
    could spend credits twice; the caller gets the error instead and decides. A body is read
    here, so one cut off half-way is retried like any other failure, unless the request carries
    the STREAM extension: then the response comes back unread and memory stays bounded.
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
        streaming = bool(request.extensions.get(STREAM))
        attempt = 0
        while True:
            try:
                response = await self._inner.handle_async_request(request)
                if not streaming:
                    try:
                        await response.aread()  # a body cut off half-way is a failed attempt too
                    except httpx.TransportError:
                        await response.aclose()
                        raise
            except httpx.TransportError as exc:
                if not should_retry(
                    request.method, request.extensions, exc, attempt, self.max_retries
                ):
                    raise
                delay = retry_delay(attempt, None, self.backoff, self.max_backoff)
                why = type(exc).__name__
            else:
                if not should_retry(
                    request.method,
                    request.extensions,
                    response.status_code,
                    attempt,
                    self.max_retries,
                ):
                    return response
                delay = retry_delay(attempt, response, self.backoff, self.max_backoff)
                why = str(response.status_code)
                await response.aclose()
            log.debug("retrying %s %s after %s", request.method, request.url.path, why)
            attempt += 1
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self._inner.aclose()
