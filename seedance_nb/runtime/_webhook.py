"""A small callback receiver. Callbacks are unsigned, so each one is only a hint: the engine
re-fetches the task with queryTask before believing anything, and ignores ids it never sent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

log = logging.getLogger("seedance_nb")
MAX_BODY = 64 * 1024
READ_TIMEOUT = 5.0


class Receiver:
    """Listen on the host and port of `url`; answer every well-formed POST at once."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("webhook_url: must be http://host:port/path on this machine")
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.url = url
        self.received = 0
        self._server: asyncio.Server | None = None
        self._on_task: Callable[[str], object] = lambda task_id: None

    async def start(self, on_task: Callable[[str], object]) -> None:
        self._on_task = on_task
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        if self.port == 0:  # a free port was asked for: publish the real one
            self.port = self._server.sockets[0].getsockname()[1]
            self.url = f"http://{self.host}:{self.port}{self.path}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        status = 400
        try:
            status = await asyncio.wait_for(self._handle(reader), READ_TIMEOUT)
        except (asyncio.TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            status = 400
        finally:
            reason = {200: "OK", 404: "Not Found", 413: "Too Large"}.get(status, "Bad Request")
            try:
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                await writer.drain()
                writer.close()
            except ConnectionError:
                pass

    async def _handle(self, reader: asyncio.StreamReader) -> int:
        request_line = (await reader.readline()).decode("latin-1").split()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(request_line) < 2 or request_line[0] != "POST":
            return 400
        if urlsplit(request_line[1]).path != self.path:
            return 404
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            return 413
        body = json.loads(await reader.readexactly(length))
        self.received += 1
        task_id = body.get("taskId") if isinstance(body, dict) else None
        if isinstance(task_id, str):
            self._on_task(task_id)  # a hint: the engine checks with queryTask
        return 200
