"""Where a studio's background work runs: the kernel's own loop in Jupyter, else a private one.

Inside Jupyter the kernel's asyncio loop is already running in the main thread, so background
tasks go there and cells stay free. In scripts and tests there is no running loop, so a daemon
thread runs one. A blocking call that meets the kernel's running loop (``job.result()`` in a
cell) is the one place nest_asyncio2 is applied.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..api import Portal

T = TypeVar("T")


class Host:
    """One event loop for a studio, and safe ways to reach it from any thread."""

    def __init__(self) -> None:
        try:
            self.loop = asyncio.get_running_loop()
            self._portal: Portal | None = None
        except RuntimeError:
            self._portal = Portal("seedance-studio")
            self.loop = self._portal.loop
        self.thread_id = threading.get_ident() if self._portal is None else None

    @property
    def in_kernel(self) -> bool:
        """True when the work runs on a loop that some caller's thread is running (Jupyter)."""
        return self._portal is None

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return self.in_kernel and threading.get_ident() == self.thread_id

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the loop, from any thread."""
        self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start `coro` on the loop and return a thread-safe future of its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def block(self, future: concurrent.futures.Future[T], timeout: float | None = None) -> T:
        """Wait for `future` from synchronous code, even from a cell on the kernel's loop."""
        if not self._on_loop_thread():
            return future.result(timeout)
        import nest_asyncio2

        nest_asyncio2.apply(self.loop)
        waiter = asyncio.wait_for(asyncio.wrap_future(future), timeout)
        return self.loop.run_until_complete(waiter)

    def close(self) -> None:
        if self._portal is not None:
            self._portal.close()
