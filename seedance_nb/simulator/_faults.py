"""Injected faults, as pure ASGI middleware: 500s and connections cut mid-response; and the
count of answers sent, by status code."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._state import Store

CREATE = "/api/v1/jobs/createTask"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class InjectedDrop(Exception):
    """Raised mid-response so the server closes the connection, as a flaky network would."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class FaultInjector:
    """Answer a share of API requests with 500 (before they take effect) or cut them off.

    A cut POST never reaches the handler (the client cannot know that); a cut GET is handled,
    then its body stops half-way.
    """

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith("/_simulator/"):
            send = _counting(send, self.store)
        if not scope["path"].startswith("/api/v1/"):
            await self.app(scope, receive, send)
            return
        config, stats = self.store.config, self.store.stats
        stats[f"requests {scope['method']} {scope['path']}"] += 1
        if scope["path"] == CREATE and await self._create_fault(scope, receive, send):
            return
        roll = self.store.rng.random()
        if roll < config.error_rate:
            stats["injected_500"] += 1
            message = "Internal server error (injected by the simulator)"
            if config.echo_key:
                message += _echo(scope)
            body = json.dumps(
                {"message": message, "detail": _echo(scope) if config.echo_key else None}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        if roll < config.error_rate + config.drop_rate:
            stats["injected_drop"] += 1
            self.store.responses["cut"] += 1
            if scope["method"] != "GET":
                await self._cut(send, b"{")
            await self.app(scope, receive, _cutting(send))
            return
        await self.app(scope, receive, send)

    async def _create_fault(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> bool:
        """createTask's own faults: the task created and its answer lost, or the connection cut
        before anything is created; either way the caller sees a cut connection. True if one
        was injected."""
        config, stats = self.store.config, self.store.stats
        lose, cut = config.lose_create_rate, config.cut_create_rate
        if self.store.create_faults:
            kind = self.store.create_faults.pop(0)
        elif lose + cut <= 0:
            return False
        else:
            roll = self.store.rng.random()
            if roll >= lose + cut:
                return False
            kind = "lose" if roll < lose else "cut"
        if kind == "lose":
            stats["create_lost"] += 1
            await self.app(scope, receive, _swallow)  # the task is created; its answer is not sent
        else:
            stats["create_cut"] += 1
        if config.create_fault_hold:
            await asyncio.sleep(config.create_fault_hold)
        self.store.responses["cut"] += 1
        await self._cut(send, b"{")
        return True  # pragma: no cover - _cut raises

    @staticmethod
    async def _cut(send: Callable[[Message], Awaitable[None]], head: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": head, "more_body": True})
        raise InjectedDrop


async def _swallow(message: Message) -> None:
    """A `send` that sends nothing: the handler's answer never leaves."""


def _echo(scope: Scope) -> str:
    """The caller's bearer key in the forms a careless server echoes it (a fault to test
    that clients redact every one of them)."""
    headers = dict(scope.get("headers") or [])
    value = headers.get(b"authorization", b"").decode("latin-1")
    key = value.removeprefix("Bearer ").strip()
    if not key:
        return ""
    raw = key.encode()
    forms = [
        key,
        key.replace("/", "\\/"),
        "".join(f"\\u{ord(c):04x}" for c in key),
        urllib.parse.quote(key, safe=""),
        urllib.parse.quote_plus(key).lower(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(b"Bearer " + raw).decode().rstrip("="),
    ]
    return " (your key: " + " | ".join(forms) + ")"


def _counting(
    send: Callable[[Message], Awaitable[None]], store: Store
) -> Callable[[Message], Awaitable[None]]:
    """Wrap `send` so each answer that is sent whole counts under its status code."""
    status = 0

    async def counting_send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif not message.get("more_body", False):  # counted before the client can see it
            store.responses[str(status)] += 1
        await send(message)

    return counting_send


def _cutting(send: Callable[[Message], Awaitable[None]]) -> Callable[[Message], Awaitable[None]]:
    """Wrap `send` so the response body stops half-way and the connection is closed."""

    async def cut_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            return
        body = message.get("body", b"")
        await FaultInjector._cut(send, body[: max(1, len(body) // 2)])

    return cut_send
