"""Client: the blocking face of AsyncClient, for scripts and plain notebook cells.

Each call runs the async core on a private event loop in a daemon thread and waits for it.
That works the same in a script and inside Jupyter, where the kernel's own loop is already
running, and needs no nest_asyncio.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from ._client import AsyncClient, OnUpdate
from ._models import Credits, Task
from ._requests import Request

T = TypeVar("T")


class Portal:
    """A private event loop in a daemon thread that runs coroutines for synchronous callers."""

    def __init__(self, name: str = "seedance-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's loop, started on first use."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @property
    def started(self) -> bool:
        """Whether the loop is running (reading `loop` would start it)."""
        return self._loop is not None

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the portal's loop and block until it returns (or raises)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking Client call was made from its own callback; use AsyncClient there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in a cell stops the wait on the loop too
            raise

    def close(self) -> None:
        """Stop the loop and its thread."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


class Client:
    """Blocking client for the Seedance2 API; the same methods as AsyncClient."""

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, **options: Any
    ) -> None:
        self.aio = AsyncClient(api_key, base_url, **options)
        self._portal = Portal()

    def __repr__(self) -> str:
        return repr(self.aio).replace("AsyncClient", "Client", 1)

    @property
    def base_url(self) -> str:
        return self.aio.base_url

    @property
    def has_api_key(self) -> bool:
        return self.aio.has_api_key

    def create_task(
        self, req: Request, model: str = "seedance2", callback_url: str | None = None
    ) -> str:
        """Send createTask once and return the task id."""
        return self._portal.call(self.aio.create_task(req, model, callback_url))

    def get_task(self, task_id: str) -> Task:
        """The task's current state."""
        return self._portal.call(self.aio.get_task(task_id))

    def credits(self) -> Credits:
        """The account's credit balance."""
        return self._portal.call(self.aio.credits())

    def upload_asset(self, path: str | os.PathLike[str]) -> str:
        """Upload a local file to the simulator; returns an asset:// reference."""
        return self._portal.call(self.aio.upload_asset(path))

    def wait(
        self,
        task_id: str,
        timeout: float = 600,
        on_update: OnUpdate | None = None,
        *,
        poll_interval: float = 5.0,
    ) -> Task:
        """Block until the task ends; raise TaskFailedError or WaitTimeoutError."""
        return self._portal.call(
            self.aio.wait(task_id, timeout, on_update, poll_interval=poll_interval)
        )

    def generate(
        self,
        req: Request,
        model: str = "seedance2",
        timeout: float = 600,
        *,
        on_update: OnUpdate | None = None,
        poll_interval: float = 5.0,
    ) -> Task:
        """Create a task and block until its video is ready."""
        return self._portal.call(
            self.aio.generate(req, model, timeout, on_update=on_update, poll_interval=poll_interval)
        )

    def close(self) -> None:
        """Close connections and stop the private loop."""
        if self._portal.started:
            self._portal.call(self.aio.aclose())
        self._portal.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
