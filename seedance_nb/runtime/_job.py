"""Job: one submission as the user holds it, from the local queue to a video on disk."""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import time
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import JobStatus, Request, SeedanceError, Task, TaskFailedError, WaitTimeoutError
from ._listeners import Listeners

if TYPE_CHECKING:
    from ._host import Host
    from ._lifecycle import Step

log = logging.getLogger("seedance_nb")
Fetch = Callable[["Job"], Coroutine[Any, Any, Path]]


class JobError(SeedanceError):
    """Raised by `result()` for a job that ended without a video; `job` says how and why."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(f"job #{job.id} ended {job.status}: {job.error or 'no reason given'}")


class JobCancelled(JobError):
    """Raised by `result()` for a job cancelled before it was sent."""


class Job:
    """A submission: queued locally, then a task on the server, then a video on disk.

    Its fields change on the studio's loop; read them from anywhere. `result()` blocks,
    `await job` does not, `on_update(cb)` calls `cb(job)` on every change.
    """

    view: Callable[[Job], Any] | None = None  # set by the widgets layer: how a job displays

    def __init__(
        self,
        host: Host,
        row_id: int,
        request: Request,
        model: str,
        experiment: str,
        label: str | None,
        estimated_credits: int,
        fingerprint: str,
    ) -> None:
        self._host = host
        self.id = row_id
        self.request = request
        self.model = model
        self.experiment = experiment
        self.label = label
        self.estimated_credits = estimated_credits
        self.fingerprint = fingerprint
        self.take = 1  # which sample of this request (studio.submit(req, take=2))
        self.status = JobStatus.QUEUED
        self.task_id: str | None = None
        self.task: Task | None = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.local_path: Path | None = None
        self.submitted = time.time()
        self.sent: float | None = None  # when createTask returned (epoch seconds)
        self.predicted_seconds: float | None = None  # expected time from send to completion
        self.p90_seconds: float | None = None  # by then 9 in 10 such tasks have completed
        self.ended: float | None = None  # when the job ended here (epoch seconds)
        self.warning: str | None = None  # a problem that does not end the job (a ledger write)
        self.show_progress = False  # result() shows a live line while it blocks
        self.callback_errors: list[BaseException] = []
        self._callbacks: Listeners[Job] = Listeners()
        self._done: concurrent.futures.Future[Task] = concurrent.futures.Future()
        self._displays: list[Any] = []
        self._views: list[tuple[Any, Any]] = []  # (display handle, widget view) to refresh
        self._canceller: Callable[[Job], bool] | None = None
        self._fetcher: Fetch | None = None
        self._resender: Callable[[Job], Job] | None = None
        self.settled: str | None = None  # what the balance said of an unclear send (_settle)

    # ---- reading -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done.done()

    @property
    def outcome(self) -> concurrent.futures.Future[Task]:
        """The future of the job's result (a new one if the job is reopened to fetch again)."""
        return self._done

    @property
    def credits_used(self) -> int | None:
        return self.task.credits_used if self.task and self.task.done else None

    @property
    def elapsed(self) -> float:
        """Seconds since the task was sent (0 while queued); it stops when the job ends, and
        never goes backwards (both ends are this machine's clock)."""
        return max(0.0, (self.ended or time.time()) - self.sent) if self.sent else 0.0

    @property
    def eta(self) -> float | None:
        """Predicted seconds until the task completes, from the runtime's history."""
        if self.done or self.sent is None or self.predicted_seconds is None:
            return None
        return max(0.0, self.predicted_seconds - self.elapsed)

    def eta_text(self) -> str | None:
        """`~40s` while the prediction lies ahead; once it has passed, `any moment (p90 ~12s)`
        rather than a 0 s that would read as stuck. None when there is no ETA."""
        left = self.eta
        if left is None:
            return None
        if left >= 0.5:
            return f"~{left:.0f}s"
        late = (self.p90_seconds or 0.0) - self.elapsed
        return f"any moment (p90 ~{late:.0f}s)" if late >= 0.5 else "any moment"

    @property
    def progress(self) -> float:
        """0..1, by time against the prediction; 1 once finished."""
        if self.status.is_terminal:
            return 1.0
        if not self.sent or not self.predicted_seconds:
            return 0.0
        return min(0.99, self.elapsed / self.predicted_seconds)

    # ---- waiting -------------------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> Task:
        """Block until the job ends: the COMPLETED task, or the error that ended it.

        Raises sd.WaitTimeoutError if `timeout` seconds pass first (the job goes on).
        """
        if not self.done:
            from ._progress import Progress, follow

            progress = Progress([self], 1) if self.show_progress else None
            try:
                self._host.block(self._host.submit(follow([self], timeout, progress)))
            finally:
                if progress is not None:
                    progress.close()
            if not self.done:
                raise WaitTimeoutError(
                    self.task_id or f"of job #{self.id}", self.task, timeout or 0.0
                )
        return self.result_now()

    def result_now(self) -> Task:
        """The result of a job that has ended (raises its error); never blocks."""
        return self._done.result(timeout=0)

    def download(self) -> Path:
        """Fetch this job's paid video again and return its path.

        For a job whose video could not be saved (DOWNLOAD_FAILED), or whose file is gone: the
        task is queried for a fresh URL (hosted URLs expire), then the file is fetched and
        checked to its last frame.
        """
        if self._fetcher is None:
            raise SeedanceError(f"job #{self.id} is not attached to a running studio")
        fetch = self._fetcher
        self._host.block(self._host.submit(fetch(self)))
        assert self.local_path is not None
        return self.local_path

    def __await__(self) -> Generator[Any, None, Task]:
        return asyncio.wrap_future(self._done).__await__()

    def on_update(
        self, callback: Callable[[Job], Any], *, remove: bool = False
    ) -> Callable[[], None]:
        """Call `callback(job)` on every change, on the studio's loop; its errors are kept.

        Returns a function that unsubscribes it; `on_update(callback, remove=True)` does the
        same (as lonboard's `on_click` does). Removing twice is harmless."""
        return self._callbacks.subscribe(callback, remove=remove)

    def cancel(self) -> bool:
        """Take the job out of the local queue; False once it has been sent."""
        if self.status is not JobStatus.QUEUED or self._canceller is None:
            return False
        canceller = self._canceller

        async def on_loop() -> bool:
            return canceller(self)

        return self._host.block(self._host.submit(on_loop()))

    def resend(self, *, force: bool = False) -> Job:
        """Send this request again, as a new job. Only once an unclear send was settled "not
        charged" by the account's balance (`settled`), or with `force=True`, at the risk of
        paying twice for a task that exists but whose id was lost."""
        from ._settle import NOT_CHARGED

        if not force and self.settled != NOT_CHARGED:
            said = {None: "it was not an unclear send settled by the balance"}.get(
                self.settled, f"its send was settled {self.settled!r}"
            )
            raise RuntimeError(
                f"job #{self.id} may not be sent again: {said}. Only a send settled "
                "'not_charged' is safe to repeat; force=True sends anyway (and may pay twice)"
            )
        if self._resender is None:
            raise RuntimeError(f"job #{self.id} is not held by a studio")
        return self._resender(self)

    # ---- the engine's interface (on the studio's loop) -----------------------------------------
    def bind(self, *, cancel: Callable[[Job], bool], fetch: Fetch) -> None:
        """The engine that moves this job: how to cancel it and how to fetch its video."""
        self._canceller, self._fetcher = cancel, fetch

    def reopen(self) -> None:
        """Give an ended job another outcome (its video is being fetched again)."""
        if self._done.done():
            self._done = concurrent.futures.Future()
            self.ended = None

    def changed(self) -> None:
        """Tell callbacks and live displays that a field changed."""
        self._changed()

    def apply(self, step: Step) -> None:
        """Take a lifecycle step: the one place a job's status changes and listeners hear it.

        A step that ends the job settles `result()`; one with no status changes only what it
        carries (a warning). The ledger fields it names that the job mirrors (task id, file)
        are copied too.
        """
        fields = step.fields
        if "settled" in fields:
            self.settled = fields["settled"]
        if "task_id" in fields:
            self.task_id = fields["task_id"]
        if fields.get("local_path"):
            self.local_path = Path(fields["local_path"])
        if step.warning is not None:
            self.warning = step.warning
        if step.status is None:
            if step.warning is not None:
                self._changed()
            return
        if step.ends:
            self._finish(step.status, error=step.error, exception=step.cause)
            return
        self.status = step.status
        self.error = step.error
        self._changed()

    def _changed(self) -> None:
        for callback in self._callbacks:
            try:
                callback(self)
            except Exception as exc:  # a broken callback must not stop the poller
                self.callback_errors.append(exc)
                log.exception("on_update callback of job #%s failed", self.id)
        for handle in self._displays:
            handle.update(self._repr_mimebundle_(), raw=True)
        if self.done and self._views:
            views, self._views = self._views, []
            for handle, view in views:
                handle.update(view)

    def _finish(
        self, status: JobStatus, *, error: str | None = None, exception: BaseException | None = None
    ) -> None:
        if self._done.done():  # ended already (two paths raced): the first outcome stands
            return
        self.status = status
        self.error = error if status is JobStatus.COMPLETED else (error or self.error)
        self.ended = time.time()
        if status is JobStatus.COMPLETED and self.task is not None:
            self._done.set_result(self.task)
        elif status is JobStatus.FAILED and self.task is not None and exception is None:
            self._done.set_exception(TaskFailedError(self.task))
        elif status is JobStatus.CANCELLED:
            self._done.set_exception(JobCancelled(self))
        elif status is JobStatus.FAILED and exception is not None:
            self.exception = exception  # refused by the server or locally: its own error
            self._done.set_exception(exception)
        else:  # what happened and what to do, with the underlying error as its cause
            self.exception = exception
            error_ = JobError(self)
            error_.__cause__ = exception
            self._done.set_exception(error_)
        self._changed()

    # ---- showing -------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: who, what, where it is, what it costs."""
        who = f"#{self.id} [{self.experiment}{'/' + self.label if self.label else ''}]"
        if self.take != 1:
            who += f" take {self.take}"
        credits = (
            f"{self.credits_used} credits"
            if self.credits_used is not None
            else f"~{self.estimated_credits} credits"
        )
        parts = [who, self.request.mode, self.model, str(self.status), credits]
        eta = self.eta_text()
        if eta is not None:
            parts.append(f"eta {eta}")
        if self.error:
            parts.append(f"error: {self.error}")
        if self.local_path:
            parts.append(str(self.local_path))
        return " · ".join(parts)

    def __repr__(self) -> str:
        return f"<Job {self.summary()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, str]:
        text = self.summary()
        body = f"<code>{html.escape(text)}</code>"
        if self.local_path and self.status is JobStatus.COMPLETED:
            body += (
                f'<br><video src="{html.escape(self.local_path.as_posix())}" controls loop '
                'muted style="max-width:480px"></video>'
            )
        return {"text/plain": text, "text/html": f"<div>{body}</div>"}

    def _ipython_display_(self) -> None:
        """Show the job live: as its widget view when one is registered, else as text."""
        from IPython.display import display

        if type(self).view is not None:
            view = type(self).view(self)
            handle = display(view, display_id=True)
            if not self.done:  # once, at the end: the view's static fallback then shows the
                self._views.append((handle, view))  # result in a notebook saved without state
            return
        self._displays.append(display(self._repr_mimebundle_(), raw=True, display_id=True))
