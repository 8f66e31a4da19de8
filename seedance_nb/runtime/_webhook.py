"""A small callback receiver. Callbacks are unsigned, so each one is only a hint: the engine
re-fetches the task with queryTask before believing anything, and ignores ids it never sent.

Anyone who can reach the port can send anything, so every request is bounded (head size, body
size, time, open connections) and answered with headers only. Nothing of a request, neither its
body nor its headers (either may carry secrets), is ever logged or echoed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

log = logging.getLogger("seedance_nb")
MAX_HEAD = 8 * 1024  # request line and headers
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 64  # more at once are answered 503 and closed, so none can exhaust our sockets
READ_TIMEOUT = 5.0  # for a whole request, so a slow client cannot hold a connection for long
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Refused(Exception):
    """Stop reading the request and answer `status`."""

    def __init__(self, status: int) -> None:
        self.status = status


class Receiver:
    """Listen on the host and port of `url`; answer every request with a status and no body.

    The port is bound here, not in `start()`, so that with port 0 `url` already names the real
    port when the studio passes it to createTask as `callBackUrl`.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("webhook_url: must be http://host:port/path on this machine")
        self.host, self.path = parts.hostname, parts.path or "/"
        port = 80 if parts.port is None else parts.port  # 0 asks for a free port
        family, _, _, _, address = socket.getaddrinfo(self.host, port, type=socket.SOCK_STREAM)[0]
        self._sock: socket.socket | None = socket.create_server(address, family=family)
        self.port: int = self._sock.getsockname()[1]
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{netloc}:{self.port}{self.path}"
        self.read_timeout = READ_TIMEOUT
        self.received = 0  # well-formed callbacks taken as hints
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._on_task: Callable[[str], object] = lambda task_id: None

    @property
    def open_connections(self) -> int:
        """Connections being read now (each holds a slot of MAX_CONNECTIONS)."""
        return len(self._open)

    async def start(self, on_task: Callable[[str], object]) -> None:
        """Serve on the studio's loop; `on_task(task_id)` gets each well-formed callback's id."""
        self._on_task = on_task
        self._server = await asyncio.start_server(self._serve, sock=self._sock, limit=MAX_HEAD)
        self._sock = None  # the server owns it now

    async def stop(self) -> None:
        """Stop listening and drop connections still being read."""
        if self._sock is not None:
            self._sock.close()
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request under the limits, answer it, close. Never raises, never logs it."""
        status = 503
        if len(self._open) < MAX_CONNECTIONS:
            self._open.add(writer)
            try:
                status = await asyncio.wait_for(self._handle(reader), self.read_timeout)
            except _Refused as refused:
                status = refused.status
            except asyncio.TimeoutError:
                status = 408
            except Exception:  # whatever else a hostile request provokes
                status = 400
            finally:
                self._open.discard(writer)
        head = f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Length: 0\r\nConnection: close"
        try:
            writer.write(f"{head}\r\n\r\n".encode())
            await writer.drain()
        except Exception:  # the client has gone: nothing to tell it
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader) -> int:
        """The status for one request; hands a well-formed callback's taskId to the engine."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # closed before the head ended
            raise _Refused(400) from None
        except asyncio.LimitOverrunError:  # no end of the head within MAX_HEAD bytes
            raise _Refused(431) from None
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400
        if urlsplit(parts[1]).path != self.path:
            return 404
        if parts[0] != "POST":
            return 405
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                return 400
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "")
        if "transfer-encoding" in headers or not (length.isascii() and length.isdigit()):
            return 400  # a callback is a small JSON body with its length given up front
        if int(length) > MAX_BODY:
            return 413  # refused before reading any of it
        try:
            body = json.loads(await reader.readexactly(int(length)))
        except (ValueError, RecursionError, asyncio.IncompleteReadError):
            return 400
        task_id = body.get("taskId") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id:
            return 400
        self.received += 1
        try:
            self._on_task(task_id)  # a hint only: the engine checks with queryTask
        except Exception as exc:  # our bug, not the sender's; named by type only
            log.error("seedance_nb webhook: a callback was not handled (%s)", type(exc).__name__)
            return 500
        return 200
