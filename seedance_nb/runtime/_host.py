"""Where a studio's background work runs, and how a blocking call waits for it.

Three hosts, told apart when the studio is made:

* **An IPython kernel** (JupyterLab, Notebook 7, VS Code, Colab). The kernel's asyncio loop runs
  in the main thread between cells, so background tasks go there and cells stay free. A
  blocking call from a cell (``job.result()``, ``studio.wait()``) meets that loop running, and
  it is the one place nest_asyncio2 is applied: the kernel runs one cell at a time and
  tolerates a nested run of its loop.
* **marimo** (``marimo edit``, ``marimo run``, apps). marimo runs every cell as a coroutine on
  its own loop, the same loop that reads the next control message (run this cell, a widget
  changed). Nesting that loop would let marimo start the next request inside a running cell,
  so its loop is never patched and never waited on: the work runs on a private loop in a daemon
  thread (the Portal), and a blocking call waits on a thread-safe future. marimo's widget comms
  are bound to their session and safe to send from that thread, so live cards still update.
* **Anything else** (scripts, the command line, tests, an asyncio program): the Portal too, so a
  blocking call never touches a loop that belongs to someone else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from ..api import Portal

T = TypeVar("T")
Kind = Literal["kernel", "marimo", "thread"]


def ipython_kernel() -> bool:
    """True inside an IPython kernel (not a terminal IPython, not marimo)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # a half-imported IPython: not a kernel we can rely on
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def marimo_notebook() -> bool:
    """True inside a marimo notebook or app (never imports marimo itself)."""
    marimo = sys.modules.get("marimo")
    if marimo is None:
        return False
    try:
        return bool(marimo.running_in_notebook())
    except Exception:  # an older or partial marimo: treat it as any other program
        return False


class Host:
    """One event loop for a studio, and safe ways to reach it from any thread."""

    def __init__(self) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        self._portal: Portal | None = None
        if running is not None and ipython_kernel():
            self.kind: Kind = "kernel"
            self.loop = running
            self.thread_id: int | None = threading.get_ident()
        else:
            self.kind = "marimo" if marimo_notebook() else "thread"
            self._portal = Portal("seedance-studio")
            self.loop = self._portal.loop
            self.thread_id = None

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
        """Wait for `future` from synchronous code: a cell, a script, another thread.

        Only a call made on the studio's own loop nests it (a kernel cell, or a job callback
        that blocks); every other caller, a marimo cell included, waits on the future and
        leaves its own loop alone.
        """
        if not self._on_loop_thread():
            return future.result(timeout)
        import nest_asyncio2

        nest_asyncio2.apply(self.loop)
        waiter = asyncio.wait_for(asyncio.wrap_future(future), timeout)
        return self.loop.run_until_complete(waiter)

    def close(self) -> None:
        if self._portal is not None:
            self._portal.close()
