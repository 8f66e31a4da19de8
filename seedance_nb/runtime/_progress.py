"""One live progress line for a wait: done/total, credits and an ETA, so no wait goes silent.

In IPython it is a display that updates in place (plain text, so it reads the same in a saved
notebook, in nbviewer and in a terminal); elsewhere it is a line on stderr, rewritten in place
on a terminal and printed once at the start and once at the end otherwise.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..api._status import JobStatus

if TYPE_CHECKING:
    from ._job import Job

BAR = 24
PRIOR_SECONDS = 45.0  # the API's published example: about 45 s for 5 s of 720p


def line(jobs: Sequence[Job], concurrency: int, started: float) -> str:
    """`[████░░░░] 3/8 done · 480 credits (~1280 planned) · eta ~1m 10s · 2 failed`."""
    total = len(jobs)
    ended = [j for j in jobs if j.done]
    failed = sum(1 for j in ended if j.status.final and j.status is not JobStatus.COMPLETED)
    filled = round(BAR * len(ended) / total) if total else BAR
    used = sum(j.credits_used or 0 for j in ended)
    planned = sum(j.estimated_credits for j in jobs)
    parts = [
        f"[{'█' * filled}{'░' * (BAR - filled)}] {len(ended)}/{total} done",
        f"{used} credits (~{planned} planned)",
    ]
    left = eta(jobs, concurrency)
    if left is not None and left < 0.5:  # every running job is past its median: never "0s"
        late = max((j.p90_seconds or 0.0) - j.elapsed for j in jobs if not j.done)
        parts.append(f"eta any moment (p90 ~{_clock(late)})" if late >= 0.5 else "eta any moment")
    elif left is not None:
        parts.append(f"eta ~{_clock(left)}")
    parts.append(f"{_clock(time.monotonic() - started)} so far")
    if failed:
        parts.append(f"{failed} without a video")
    return " · ".join(parts)


def eta(jobs: Sequence[Job], concurrency: int) -> float | None:
    """Seconds until the last of `jobs` ends: the longest running one, then the queue in
    rounds of `concurrency`, each round as long as a typical task. None once all ended."""
    running = [j for j in jobs if not j.done and j.sent is not None]
    queued = [j for j in jobs if not j.done and j.sent is None]
    if not running and not queued:
        return None
    typical = [j.predicted_seconds for j in jobs if j.predicted_seconds]
    each = statistics.median(typical) if typical else PRIOR_SECONDS
    now = max((j.eta or 0.0 for j in running), default=0.0)
    return now + math.ceil(len(queued) / max(1, concurrency)) * each


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m {s % 60:02d}s"


class Progress:
    """A live line for jobs being waited on; `update()` redraws it, `close()` draws the last."""

    def __init__(self, jobs: Sequence[Job], concurrency: int) -> None:
        self.jobs = list(jobs)
        self.concurrency = concurrency
        self.started = time.monotonic()
        self._handle: Any = None
        self._tty = sys.stderr.isatty()
        self._last = ""
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is not None and getattr(shell, "kernel", None) is not None:
            from IPython.display import display

            self._handle = display(self._bundle(), raw=True, display_id=True)
        else:
            self._write(end="\n" if not self._tty else "")

    def _bundle(self) -> dict[str, str]:
        self._last = line(self.jobs, self.concurrency, self.started)
        return {"text/plain": self._last}

    def _write(self, end: str) -> None:
        text = line(self.jobs, self.concurrency, self.started)
        if text != self._last or end:
            self._last = text
            print(("\r" if self._tty else "") + text, end=end, file=sys.stderr, flush=True)

    def update(self) -> None:
        """Redraw with the jobs' current state (cheap when nothing changed)."""
        if self._handle is not None:
            if line(self.jobs, self.concurrency, self.started) != self._last:
                self._handle.update(self._bundle(), raw=True)
        elif self._tty:
            self._write(end="")

    def close(self) -> None:
        """The final state, left in place."""
        if self._handle is not None:
            self._handle.update(self._bundle(), raw=True)
        else:
            self._write(end="\n")


async def follow(jobs: Sequence[Job], timeout: float | None, progress: Progress | None) -> None:
    """Wait on the studio's loop until every job has ended or `timeout` passes, redrawing the
    progress line as jobs end and once a second (for the clock and the ETA). Never cancels a
    job's own outcome, and leaves no error 'never retrieved'."""
    import asyncio

    loop = asyncio.get_running_loop()
    futures = [asyncio.wrap_future(j.outcome) for j in jobs]
    for future in futures:
        future.add_done_callback(_retrieved)
    end = None if timeout is None else loop.time() + timeout
    pending = {f for f in futures if not f.done()}
    while pending:
        step = 1.0 if end is None else min(1.0, end - loop.time())
        if step <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=step, return_when=asyncio.FIRST_COMPLETED)
        if progress is not None:
            progress.update()


def _retrieved(future: Any) -> None:
    if not future.cancelled():
        future.exception()
