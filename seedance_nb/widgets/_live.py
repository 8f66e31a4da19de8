"""What every view shares: weak subscriptions that let go, heavy work off the kernel's loop at
most once a second, and honest words for credits and times."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..runtime import Job, JobStatus
from ..runtime._settle import CHARGED, NOT_CHARGED

# posters, PyAV probes, pandas summaries and matplotlib: never on the studio's loop
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sd-views")


def listen(view: Any, subscribe: Callable[..., Any], method: str) -> Callable[[], None]:
    """Subscribe `view.<method>` through `subscribe(callback)` holding only a weak reference to
    the view: once the view is gone (garbage-collected) the subscription removes itself.
    Returns the unsubscribe function (views also call it from `close()`)."""
    ref = weakref.ref(view)
    unsubscribe: Callable[[], None] = lambda: None  # noqa: E731 - replaced below

    def callback(*args: Any) -> None:
        target = ref()
        if target is None:
            unsubscribe()
            return
        getattr(target, method)(*args)

    unsubscribe = subscribe(callback)
    weakref.finalize(view, unsubscribe)
    return unsubscribe


class Redraw:
    """Run `work()` on a worker thread, at most once per `interval` seconds: calls that arrive
    while a run is pending fold into it. Errors go to `on_error` (the view's error area)."""

    def __init__(
        self,
        work: Callable[[], None],
        on_error: Callable[[BaseException | None], None],
        interval: float = 1.0,
    ) -> None:
        self._work, self._on_error, self.interval = work, on_error, interval
        self._lock = threading.Lock()
        self._pending = False
        self._last = -interval
        self.runs = 0

    def __call__(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
            delay = max(0.0, self._last + self.interval - time.monotonic())
        timer = threading.Timer(delay, self._submit)
        timer.daemon = True
        timer.start()

    def _submit(self) -> None:
        try:
            _POOL.submit(self._run)
        except RuntimeError:  # the interpreter is shutting down: nothing left to show
            with self._lock:
                self._pending = False

    def _run(self) -> None:
        with self._lock:
            self._pending = False
            self._last = time.monotonic()
        self.runs += 1
        try:
            self._work()
        except Exception as exc:  # shown under the view, never lost in a log
            self._on_error(exc)
        else:
            self._on_error(None)

    def now(self) -> None:
        """Run at once on this thread (a refresh button, a test)."""
        with self._lock:
            self._last = time.monotonic()
        self._work()


def off_loop(
    work: Callable[[], Any], then: Callable[[Any], None]
) -> concurrent.futures.Future[None]:
    """Run `work()` on a worker thread and hand its result to `then` there."""
    return _POOL.submit(lambda: then(work()))


def describe_error(exc: BaseException) -> str:
    """An exception as a view shows it: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def credits_text(job: Job) -> str:
    """What a job cost, honestly: what the server charged (an unclear send as its balance
    settled it); 'refused, 0 credits' for a job the
    server turned down when it was sent (moderation, a bad request), 'failed, 0 credits' for a
    render that failed uncharged, 'not sent, 0 credits' for one cancelled locally; otherwise
    the estimate, labelled as one."""
    used = job.credits_used
    if job.settled == CHARGED:  # an unclear send the balance showed was paid: never hidden
        return f"{job.estimated_credits} credits, paid, no video (its task id was lost)"
    if job.settled == NOT_CHARGED:
        return "not charged, 0 credits (safe to send again)"
    if job.done and not job.status.holds_credits and not used:
        if job.status is JobStatus.CANCELLED:
            return "not sent, 0 credits"
        return "failed, 0 credits" if job.sent else "refused, 0 credits"
    if used is not None:
        return f"{used} credits"
    return f"~{job.estimated_credits} credits (estimate)"


def render_seconds(job: Job) -> float:
    """How long the server took to render it (completed - sent, the server's own times), or 0
    when unknown: never the time since the request was first submitted."""
    task = job.task
    if task is not None and task.completed_at and task.created_at:
        return max(0.0, (task.completed_at - task.created_at).total_seconds())
    return 0.0
