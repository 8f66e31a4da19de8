"""The background engine of a studio: one local queue, one poller, downloads.

Everything here runs on the studio's loop. At most `concurrency` tasks are in flight; the rest
wait in a FIFO queue and go out as slots free. A 429 puts the job back at the head of the queue.
createTask is sent at most once per job: after a timeout or a 5xx the job ends SEND_FAILED,
because the task may exist and a second send could pay twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..api import (
    APIConnectionError,
    APIError,
    AsyncClient,
    ConcurrencyLimitError,
    PermissionDeniedError,
    Request,
    SeedanceError,
    ServerError,
    Task,
    TaskNotFoundError,
    TaskStatus,
)
from ..ledger import Ledger
from ._download import destination, download, new_downloader
from ._job import Job, JobStatus
from ._predict import Key, Predictor, key_of, next_poll

log = logging.getLogger("seedance_nb")
Uploader = Callable[[Path, str], Awaitable[str]]


class Engine:
    """Queue, send, poll and download for every job of one studio."""

    def __init__(
        self,
        client: AsyncClient,
        ledger: Ledger,
        *,
        concurrency: int,
        outputs: Path,
        poll_interval: float,
        uploader: Uploader | None,
        callback_url: str | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.concurrency = concurrency
        self.outputs = outputs
        self.spacing = 0.9 * poll_interval  # a little under the fixed loop's interval
        self.uploader = uploader
        self.callback_url = callback_url
        self.predictor = Predictor()
        self.stats: Counter[str] = Counter()
        self.queue: deque[Job] = deque()
        self.inflight: dict[str, Job] = {}
        self._sending = 0
        self._cooldown_until = 0.0
        self._rejections = 0
        self._due: dict[int, float] = {}  # job id -> monotonic time of its next poll
        self._sent_mono: dict[int, float] = {}
        self._keys: dict[int, Key] = {}
        self._hinted: dict[int, float] = {}  # job id -> when a hint last planned its poll
        self._background: set[asyncio.Task[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task[None] | None = None
        self._files = new_downloader()

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, history: list[dict[str, Any]]) -> None:
        """Begin the poller (call on the loop)."""
        self.predictor.load(history)
        self._wake = asyncio.Event()
        self._main = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        for task in [self._main, *self._background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._main, *self._background] if t), return_exceptions=True
        )
        await self._files.aclose()
        await self.client.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Background work held in a set until it ends, so none is fire-and-forget."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("seedance_nb background step failed", exc_info=task.exception())

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ---- entry points (on the loop) ------------------------------------------------------------
    def enqueue(self, job: Job) -> None:
        """Queue a job for sending."""
        job._canceller = self._cancel
        self.queue.append(job)
        self._poke()

    def attach(self, job: Job) -> None:
        """Follow a task that was already sent (resume after a restart): poll it at once."""
        assert job.task_id is not None
        self.inflight[job.task_id] = job
        self._keys[job.id] = key_of(job.model, job.request.to_inputs(allow_local=True))
        self._sent_mono[job.id] = time.monotonic() - job.elapsed
        self._plan(job, time.monotonic())

    def hint(self, task_id: str) -> bool:
        """A callback said this task changed: poll it soon. Ids not in flight are ignored.

        Callbacks are unsigned and can be replayed, so a hint changes no job itself, and hints
        coalesce: none is needed while a poll is in flight or due about then anyway, and hints
        bring one job's poll forward at most once per `spacing`. A burst of hints thus costs
        no more queryTasks than the plain poller's rate, however many copies arrive.
        """
        job = self.inflight.get(task_id)
        self.stats["hints"] += 1
        if job is None:
            self.stats["hints_ignored"] += 1
            return False
        at = self._hint_slot(job)
        if at is None:
            self.stats["hints_coalesced"] += 1
        else:
            self._plan(job, at)
        return True

    def _hint_slot(self, job: Job) -> float | None:
        """When a hint may poll `job`, or None when a poll in flight or due soon covers it."""
        due = self._due.get(job.id)
        if due is None:  # the loop has taken it: a query is on its way now
            return None
        now = time.monotonic()
        hinted = self._hinted
        for stale in [i for i, at in hinted.items() if at + self.spacing <= now]:
            del hinted[stale]  # no longer limits anything; keeps the map to recent hints
        at = max(now, hinted.get(job.id, now - self.spacing) + self.spacing)
        if due <= at + 0.25 * self.spacing:
            return None
        hinted[job.id] = at
        return at

    def _cancel(self, job: Job) -> bool:
        if job.status is not JobStatus.QUEUED or job not in self.queue:
            return False
        self.queue.remove(job)
        self._spawn(self._record(job, status="CANCELLED"))
        job._finish(JobStatus.CANCELLED, error="cancelled before it was sent")
        return True

    # ---- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._dispatch()
            now = time.monotonic()
            for job in list(self.inflight.values()):
                if self._due.get(job.id, float("inf")) <= now:
                    self._due.pop(job.id)
                    self._spawn(self._poll(job))
            waits = [t - now for t in self._due.values()]
            if self.queue and self._cooldown_until > now:
                waits.append(self._cooldown_until - now)
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(waits)) if waits else None)

    def _dispatch(self) -> None:
        while (
            self.queue
            and len(self.inflight) + self._sending < self.concurrency
            and time.monotonic() >= self._cooldown_until
        ):
            job = self.queue.popleft()
            self._sending += 1
            job.status = JobStatus.SENDING
            self._spawn(self._send(job))

    # ---- sending -------------------------------------------------------------------------------
    async def _send(self, job: Job) -> None:
        try:
            await self._send_once(job)
        finally:
            self._sending -= 1
            self._poke()

    async def _send_once(self, job: Job) -> None:
        job._changed()
        try:
            request = await self._uploaded(job.request)
            payload = {"model": job.model, "inputs": request.to_inputs()}
            if self.callback_url:
                payload["callBackUrl"] = self.callback_url
            await self._record(job, status="SENDING", params=json.dumps(payload))
        except Exception as exc:  # nothing was sent: a clear, final error
            await self._fail(job, JobStatus.FAILED, f"not sent: {exc}", exc)
            return
        self.stats["creates"] += 1
        try:
            task_id = await self.client.create_task(request, job.model, self.callback_url)
        except ConcurrencyLimitError:
            self.stats["rejected_429"] += 1
            self._rejections += 1
            self._cooldown_until = time.monotonic() + min(60.0, self.spacing * 2**self._rejections)
            job.status = JobStatus.QUEUED
            self.queue.appendleft(job)
            await self._record(job, status="QUEUED")
            job._changed()
            return
        except (ServerError, APIConnectionError) as exc:
            await self._fail(
                job,
                JobStatus.SEND_FAILED,
                f"createTask got no clear answer ({exc}); the task may exist, so it "
                "was not sent again. Check your credits, then resubmit with "
                "force=True if it did not run.",
                exc,
            )
            return
        except (APIError, SeedanceError) as exc:  # refused: nothing was created
            await self._fail(job, JobStatus.FAILED, str(exc), exc)
            return
        self._rejections = 0
        job.task_id = task_id
        job.sent = time.time()
        job.status = JobStatus.PENDING
        self._keys[job.id] = key_of(job.model, payload["inputs"])
        window = self.predictor.window(self._keys[job.id])
        job.predicted_seconds = window.typical if window else None
        self.inflight[task_id] = job
        self._sent_mono[job.id] = time.monotonic()
        self._plan(job, self._sent_mono[job.id] + next_poll(0.0, window, self.spacing))
        await self._record(job, status="PENDING", task_id=task_id, sent_at=_now())
        job._changed()

    async def _uploaded(self, request: Request) -> Request:
        """The request with its local files uploaded, so it carries only URLs."""
        local = request.local_files()
        if not local:
            return request
        if self.uploader is None:
            raise ValueError("local files need an uploader")
        urls = {path: await self.uploader(path, kind) for _, kind, path in local}
        return request.with_uploads(lambda path, kind: urls[path])

    # ---- polling -------------------------------------------------------------------------------
    async def _poll(self, job: Job) -> None:
        assert job.task_id is not None
        self.stats["queries"] += 1
        try:
            task = await self.client.get_task(job.task_id)
        except (TaskNotFoundError, PermissionDeniedError) as exc:
            self.inflight.pop(job.task_id, None)
            await self._fail(
                job, JobStatus.FAILED, f"the server does not know this task: {exc}", exc
            )
            return
        except Exception as exc:  # transient (or unforeseen): the task goes on; look again later
            self.stats["poll_errors"] += 1
            reason = exc if isinstance(exc, SeedanceError) else type(exc).__name__
            log.info("polling %s failed (%s); trying again", job.task_id, reason)
            self._plan(job, time.monotonic() + self.spacing)
            return
        previous, job.task = job.task, task
        if not task.done:
            self._schedule(job)
            if previous is None or previous.status is not task.status:
                job.status = JobStatus(task.status.value)
                await self._record(job, status=task.status.value)
                job._changed()
            return
        self.inflight.pop(job.task_id, None)
        self._poke()
        await self._finalize(job, task)

    def _schedule(self, job: Job) -> None:
        window = self.predictor.window(self._keys[job.id])
        elapsed = time.monotonic() - self._sent_mono[job.id]
        self._plan(job, self._sent_mono[job.id] + next_poll(elapsed, window, self.spacing))

    def _plan(self, job: Job, at: float) -> None:
        """Poll `job` at monotonic time `at`; wakes the loop so it can re-plan its sleep."""
        self._due[job.id] = at
        self._poke()

    async def _finalize(self, job: Job, task: Task) -> None:
        """Record the final state; on COMPLETED, fetch the video before calling the job done."""
        self.stats["detected"] += 1
        job.status = JobStatus(task.status.value)
        fields: dict[str, Any] = {
            "status": task.status.value,
            "credits_used": task.credits_used,
            "error": task.error,
            "completed_at": task.completed_at,
            "video_url": task.video_url,
        }
        if task.created_at is not None:
            fields["sent_at"] = task.created_at
        await self._record(job, **fields)
        if task.status is TaskStatus.FAILED:
            job._finish(JobStatus.FAILED, error=task.error or "failed")
            return
        if task.created_at and task.completed_at:
            seconds = (task.completed_at - task.created_at).total_seconds()
            self.predictor.add(self._keys[job.id], seconds)
        job._changed()
        if task.video_url:
            dest = destination(self.outputs, job.experiment, task.id)
            try:
                job.local_path = await download(self._files, task.video_url, dest)
                await self._record(job, local_path=str(job.local_path))
            except Exception as exc:
                job.error = f"the video could not be downloaded: {exc}"
                await self._record(job, error=job.error)
        job._finish(JobStatus.COMPLETED)

    # ---- recording -----------------------------------------------------------------------------
    async def _fail(
        self, job: Job, status: JobStatus, error: str, exception: BaseException
    ) -> None:
        await self._record(job, status=status.value, error=error)
        job._finish(status, error=error, exception=exception)

    async def _record(self, job: Job, **fields: Any) -> None:
        """Write to the ledger off the loop, so a slow disk never stalls the poller."""
        await asyncio.to_thread(self.ledger.update, job.id, **fields)


def _now() -> datetime:
    return datetime.now(timezone.utc)
