"""`X-Simulator-Speed` on every answer: how fast this simulator runs against the published
timing (its `--speed`), so a client can scale its prior before the first task completes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

HEADER = b"x-simulator-speed"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SpeedHeader:
    """Pure ASGI middleware adding the header to every HTTP answer."""

    def __init__(self, app: App, speed: float) -> None:
        self.app = app
        self.value = f"{speed:g}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_speed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, self.value)]
            await send(message)

        await self.app(scope, receive, with_speed)
