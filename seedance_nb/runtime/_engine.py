"""The background engine of a studio: one local queue, one poller, downloads.

Everything here runs on the studio's loop. At most `concurrency` tasks are in flight; the rest
wait in a FIFO queue and go out as slots free. A 429 puts the job back at the head of the queue.

What it promises, and how:
* createTask is sent at most once per row: a queued row moves to SENDING only while this
  studio owns it (`Ledger.move`), and after a timeout or a 5xx the job ends SEND_FAILED,
  because the task may exist and a second send could pay twice.
* Every job ends: an answer of an undocumented shape is retried `MAX_ODD` times and then ends
  the job UNKNOWN with the answer quoted; a task that outlives `deadline` ends UNKNOWN too;
  anything unforeseen ends the job with a visible error. The task id is always kept.
* Nothing is lost while the process lives: a ledger write that fails (a full disk) is kept and
  retried, and the job shows the problem meanwhile.
* A paid video is never lost: the job is COMPLETED only once a file that decodes to its last
  frame is on disk; until then the row says DOWNLOADING, or DOWNLOAD_FAILED with the reason,
  and `job.download()` or `studio.resume()` fetch it again, asking for a fresh URL.
* Rows another live studio owns are followed through the ledger, and taken over (claimed) only
  once that studio is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..api import (
    APIConnectionError,
    APIError,
    AsyncClient,
    ConcurrencyLimitError,
    DownloadError,
    JobStatus,
    Output,
    PermissionDeniedError,
    Request,
    SeedanceError,
    ServerError,
    Task,
    TaskNotFoundError,
    TaskStatus,
    UnexpectedResponseError,
)
from ..ledger import Ledger, Owner, current_user
from ._download import destination, download, new_downloader
from ._job import Job
from ._predict import Key, key_of
from ._scheduler import Scheduler

log = logging.getLogger("seedance_nb")
Uploader = Callable[[Path, str], Awaitable[str]]
MAX_ODD = 5  # answers in a row of an undocumented shape (or unforeseen failures) before giving up
FOLLOW_EVERY = 0.5  # seconds between looks at a row another live studio owns
DEADLINE = 3600.0  # seconds from send after which a task that has not ended is given up on
RECORD_RETRY = (0.2, 5.0)  # first and longest pause between tries of a failed ledger write
SLOT_RETRY = 1.0  # seconds between asks for an account slot another studio holds (no NOTIFY)
ADOPT_EVERY = 3.0  # seconds between looks for sent rows of this account whose studio died
ADOPTABLE = ("SENDING", "PENDING", "PROCESSING", "DOWNLOADING")  # on the server, or paid


@dataclass(eq=False)
class Track:
    """What the engine keeps for one job: one record, not parallel dicts keyed by job id."""

    job: Job
    key: Key | None = None
    sent_mono: float | None = None  # monotonic time of the send (or as if, on re-attach)
    due: float | None = None  # next poll or look, monotonic; None while one is under way
    hinted: float | None = None  # when a callback hint last planned a poll
    following: bool = False  # another live studio owns the row: watch the ledger
    odd: int = 0  # odd answers or unforeseen failures in a row
    polls: int = 0  # queries so far that found the task still running
    slot: bool = False  # holds (or has asked for) one of the account's slots
    unsaved: dict[str, Any] = field(default_factory=dict)  # ledger fields not yet written
    saving: asyncio.Lock = field(default_factory=asyncio.Lock)
    retrying: bool = False


class Engine:
    """Queue, send, poll and download for every job of one studio."""

    def __init__(
        self,
        client: AsyncClient,
        ledger: Ledger,
        *,
        owner: Owner,
        concurrency: int,
        outputs: Path,
        poll_interval: float,
        uploader: Uploader | None,
        callback_url: str | None = None,
        deadline: float = DEADLINE,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.owner = owner
        self.concurrency = concurrency
        self.outputs = outputs
        self.spacing = 0.9 * poll_interval  # how soon to look again after a failed poll
        self.uploader = uploader
        self.callback_url = callback_url
        self.deadline = deadline
        self.scheduler = Scheduler(
            concurrency=concurrency, poll_interval=poll_interval, callbacks=bool(callback_url)
        )
        self.account = client.account_id  # the account's slots are shared through the ledger
        self.user = current_user()
        self.stats: Counter[str] = Counter()
        self.queue: deque[Job] = deque()
        self.tracks: dict[int, Track] = {}
        self.inflight: dict[str, Track] = {}  # task id -> the track polling it
        self._sending = 0
        self._granting = False
        self._slot_retry_at = 0.0  # monotonic: when to ask again for a slot held elsewhere
        self._wakes = 0  # slot wake-ups heard so far: one during an ask means ask again now
        self._unlisten: Callable[[], None] | None = None
        self.orphan: Callable[[dict[str, Any]], Job | None] | None = None  # the studio's rebuild
        self._next_adopt = 0.0
        self._background: set[asyncio.Task[Any]] = set()
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task[None] | None = None
        self._files = new_downloader()
        self._closing = False

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, history: list[dict[str, Any]]) -> None:
        """Begin the poller (call on the loop)."""
        self.scheduler.load(history)
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._main = loop.create_task(self._run())
        self._unlisten = self.ledger.listen(lambda account: loop.call_soon_threadsafe(self._woken))

    def _woken(self) -> None:
        """A slot of some studio's account was freed (another process, or this one)."""
        self._wakes += 1
        self._slot_retry_at = 0.0
        self._poke()

    async def aclose(self) -> None:
        """Stop everything; a last try at ledger writes still pending."""
        self._closing = True
        if self._unlisten is not None:
            self._unlisten()
        for track in self.tracks.values():
            if track.unsaved:
                await self._flush(track)
        for task in [self._main, *self._background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._main, *self._background] if t), return_exceptions=True
        )
        await self._files.aclose()
        await self.client.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, Any], track: Track | None = None) -> None:
        """Background work held in a set until it ends, so none is fire-and-forget; with a
        track, anything unforeseen ends that job with a visible error instead of stranding it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._reap if track is None else lambda t: self._reap(t, track))

    def _reap(self, task: asyncio.Task[Any], track: Track | None = None) -> None:
        self._background.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if track is not None and not track.job.done and not self._closing:
            log.error("job #%s: unexpected failure", track.job.id, exc_info=exc)
            self._spawn(self._end_unforeseen(track, exc))  # type: ignore[arg-type]
        else:
            log.error("seedance_nb background step failed", exc_info=exc)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _track(self, job: Job) -> Track:
        track = self.tracks.get(job.id)
        if track is None:
            track = self.tracks[job.id] = Track(job)
            job.bind(cancel=self._cancel, fetch=self.fetch)
        return track

    # ---- entry points (on the loop) ------------------------------------------------------------
    def enqueue(self, job: Job) -> None:
        """Queue a job for sending; its expected render time gives it an ETA at once."""
        track = self._track(job)
        track.key = key_of(job.model, job.request.to_inputs(allow_local=True))
        job.predicted_seconds = self.scheduler.expected(track.key)
        self.queue.append(job)
        self._poke()

    def attach(self, job: Job) -> None:
        """Follow a task that was already sent (resume after a restart): poll it at once."""
        assert job.task_id is not None
        track = self._track(job)
        track.key = key_of(job.model, job.request.to_inputs(allow_local=True))
        track.sent_mono = time.monotonic() - job.elapsed
        track.slot = True  # a task on the server holds one of the account's slots
        self.inflight[job.task_id] = track
        self._plan(track, time.monotonic())

    def follow(self, job: Job) -> None:
        """Watch a row another live studio owns; take it over if that studio goes away."""
        track = self._track(job)
        track.following = True
        self._plan(track, time.monotonic())

    def refetch(self, job: Job) -> None:
        """Fetch a paid video that is not on disk yet (a re-run or resume found it so)."""
        self._spawn(self._fetch(self._track(job)), self._track(job))

    def hint(self, task_id: str) -> bool:
        """A callback said this task changed: poll it soon. Ids not in flight are ignored.

        Callbacks are unsigned and can be replayed, so a hint changes no job itself, and hints
        coalesce: none is needed while a poll is in flight or due about then anyway, and hints
        bring one job's poll forward at most once per `spacing`. A burst of hints thus costs
        no more queryTasks than the plain poller's rate, however many copies arrive.
        """
        track = self.inflight.get(task_id)
        self.stats["hints"] += 1
        if track is None:
            self.stats["hints_ignored"] += 1
            return False
        at = self.scheduler.hint_slot(track.due, track.hinted)
        if at is None:
            self.stats["hints_coalesced"] += 1
        else:
            track.hinted = at
            self._plan(track, at)
        return True

    def _cancel(self, job: Job) -> bool:
        if job.status is not JobStatus.QUEUED or job not in self.queue:
            return False
        self.queue.remove(job)
        track = self._track(job)
        self._spawn(self._release(track))
        self._spawn(self._record(track, status="CANCELLED"))
        job.end(JobStatus.CANCELLED, error="cancelled before it was sent")
        return True

    # ---- the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            self._dispatch()
            now = time.monotonic()
            for track in list(self.tracks.values()):
                if track.due is not None and track.due <= now:
                    track.due = None
                    step = self._look if track.following else self._poll
                    self._spawn(step(track), track)
            waits = [t.due - now for t in self.tracks.values() if t.due is not None]
            if self.orphan is not None:
                if now >= self._next_adopt:
                    self._next_adopt = now + ADOPT_EVERY
                    self._spawn(self._adopt())
                waits.append(self._next_adopt - now)
            if self.queue:
                waits.append(self.scheduler.cooldown_left())
                if self._slot_retry_at > now:
                    waits.append(self._slot_retry_at - now)
            self._wake.clear()
            # a timer that sets the event, not wait_for: cancelling wait_for at the wrong moment
            # can leave its inner task pending, and then close() waits for it in vain
            timer = loop.call_later(max(0.0, min(waits)), self._wake.set) if waits else None
            try:
                await self._wake.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def _dispatch(self) -> None:
        """Send queued jobs while this studio has room, the scheduler allows, and the ledger
        grants the account's slots (shared with every studio on the same account)."""
        if (
            self.queue
            and not self._granting
            and time.monotonic() >= self._slot_retry_at
            and self.scheduler.may_send(len(self.inflight) + self._sending)
        ):
            self._granting = True
            self._spawn(self._grant())

    async def _grant(self) -> None:
        try:
            while self.queue and self.scheduler.may_send(len(self.inflight) + self._sending):
                job = self.queue[0]
                track = self._track(job)
                track.slot = True
                wakes = self._wakes
                granted = await asyncio.to_thread(
                    self.ledger.acquire_slot,
                    self.account,
                    self.owner,
                    self.user,
                    job.id,
                    self.concurrency,
                )
                if not granted:  # held elsewhere: a release wakes us, or we ask again soon
                    if self._wakes != wakes:  # freed while we asked (our own task, often)
                        continue
                    self._slot_retry_at = time.monotonic() + SLOT_RETRY
                    self.stats["slot_waits"] += 1
                    return
                if not self.queue or self.queue[0] is not job:  # cancelled meanwhile
                    await self._release(track)
                    continue
                self.queue.popleft()
                self._sending += 1
                job.status = JobStatus.SENDING
                self._spawn(self._send(track), track)
        finally:
            self._granting = False
            self._poke()

    async def _release(self, track: Track) -> None:
        """Give the account's slot back once the server is done with the task (or it was
        never sent), so the next studio in line, here or elsewhere, may send."""
        if not track.slot:
            return
        track.slot = False
        try:
            await asyncio.to_thread(self.ledger.release_slot, self.account, track.job.id)
        except Exception as exc:  # its lease lapses with the row's state anyway
            log.warning("job #%s: could not release its slot: %s", track.job.id, exc)
        self._poke()

    def _plan(self, track: Track, at: float) -> None:
        """Poll (or look at) the job at monotonic time `at`; wakes the loop to re-plan."""
        track.due = at
        self._poke()

    # ---- sending -------------------------------------------------------------------------------
    async def _send(self, track: Track) -> None:
        try:
            await self._send_once(track)
        finally:
            self._sending -= 1
            self._poke()

    async def _send_once(self, track: Track) -> None:
        job = track.job
        job.changed()
        try:
            request = await self._uploaded(job.request)
            payload = {"model": job.model, "inputs": request.to_inputs()}
            if self.callback_url:
                payload["callBackUrl"] = self.callback_url
            ours = await asyncio.to_thread(
                self.ledger.move,
                job.id,
                self.owner,
                "QUEUED",
                status="SENDING",
                params=json.dumps(payload if job.take == 1 else {**payload, "take": job.take}),
            )
        except Exception as exc:  # nothing was sent: a clear, final error
            await self._end(track, JobStatus.FAILED, f"not sent: {exc}", exc)
            return
        if not ours:  # another studio took the row (this one looked dead): never send twice
            job.status = JobStatus.QUEUED
            self.follow(job)
            return
        self.stats["creates"] += 1
        try:
            task_id = await self.client.create_task(request, job.model, self.callback_url)
        except ConcurrencyLimitError:  # the account is busy beyond what the ledger knows
            self.stats["rejected_429"] += 1
            self.scheduler.rejected()
            await self._release(track)
            job.status = JobStatus.QUEUED
            self.queue.appendleft(job)
            await self._record(track, status="QUEUED")
            job.changed()
            return
        except (ServerError, APIConnectionError, UnexpectedResponseError) as exc:
            await self._end(
                track,
                JobStatus.SEND_FAILED,
                f"createTask got no clear answer ({exc}); the task may exist, so it was not "
                "sent again. Check your credits (studio.credits()), then resubmit with "
                "force=True if it did not run.",
                exc,
            )
            return
        except (APIError, SeedanceError) as exc:  # refused: nothing was created
            await self._end(track, JobStatus.FAILED, str(exc), exc)
            return
        self.scheduler.accepted()
        job.task_id = task_id  # from here on the id lives in memory whatever the disk does
        job.sent = time.time()
        job.status = JobStatus.PENDING
        track.key = key_of(job.model, payload["inputs"])
        job.predicted_seconds = self.scheduler.expected(track.key)
        track.sent_mono = time.monotonic()
        track.polls = 0
        self.inflight[task_id] = track
        self._plan(track, self._next_poll(track))
        job.changed()
        await self._record(track, status="PENDING", task_id=task_id, sent_at=_now())

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
    async def _poll(self, track: Track) -> None:
        job = track.job
        assert job.task_id is not None
        self.stats["queries"] += 1
        try:
            task = await self.client.get_task(job.task_id)
        except (TaskNotFoundError, PermissionDeniedError) as exc:
            await self._end(
                track,
                JobStatus.UNKNOWN,
                f"the server no longer answers for task {job.task_id} ({exc}); it may have "
                "run and been charged. The task id is kept in the ledger.",
                exc,
            )
            return
        except (APIConnectionError, ServerError, ConcurrencyLimitError) as exc:
            self.stats["poll_errors"] += 1  # transient: the task goes on; look again later
            log.info("polling %s failed (%s); trying again", job.task_id, exc)
            await self._again(track, None)
            return
        except UnexpectedResponseError as exc:
            self.stats["odd_answers"] += 1
            await self._again(
                track, f"queryTask answered in a shape the API does not document ({exc.text})"
            )
            return
        except Exception as exc:  # unforeseen: bounded like an odd answer
            self.stats["poll_errors"] += 1
            await self._again(track, f"polling failed: {type(exc).__name__}: {exc}")
            return
        track.odd = 0
        previous, job.task = job.task, task
        if not task.done:
            if previous is None or previous.status is not task.status:
                job.status = JobStatus(task.status.value)
                job.changed()
                await self._record(track, status=task.status.value)
            if self._past_deadline(track):
                await self._give_up(track, f"last seen {task.status.value}")
                return
            self._schedule(track)
            return
        self.inflight.pop(job.task_id, None)
        self._poke()
        await self._finalize(track, task)

    async def _again(self, track: Track, odd: str | None) -> None:
        """Poll again later; an odd answer counts toward `MAX_ODD`, the deadline always holds."""
        if odd is not None:
            track.odd += 1
            log.info("job #%s: %s (%d of %d)", track.job.id, odd, track.odd, MAX_ODD)
            if track.odd >= MAX_ODD:
                await self._end(
                    track,
                    JobStatus.UNKNOWN,
                    f"{odd}, {MAX_ODD} times in a row; gave up following task "
                    f"{track.job.task_id}, which may still run and be charged. Its id is kept: "
                    "studio.resume() follows it again later.",
                    None,
                )
                return
        if self._past_deadline(track):
            await self._give_up(track, odd or "no usable answer")
            return
        self._plan(track, time.monotonic() + self.spacing)

    def _past_deadline(self, track: Track) -> bool:
        return track.sent_mono is not None and time.monotonic() - track.sent_mono > self.deadline

    async def _give_up(self, track: Track, seen: str) -> None:
        await self._end(
            track,
            JobStatus.UNKNOWN,
            f"task {track.job.task_id} did not finish within the studio's deadline of "
            f"{self.deadline:g} s ({seen}); it may still finish and be charged. Its id is kept: "
            "studio.resume() follows it again, job.download() fetches its video.",
            None,
        )

    def _schedule(self, track: Track) -> None:
        """Plan the next poll of a task still running, and refresh its job's ETA."""
        track.polls += 1
        assert track.key is not None and track.sent_mono is not None
        elapsed = time.monotonic() - track.sent_mono
        track.job.predicted_seconds = elapsed + self.scheduler.eta(track.key, elapsed)
        self._plan(track, self._next_poll(track))

    def _next_poll(self, track: Track) -> float:
        assert track.key is not None and track.sent_mono is not None
        return self.scheduler.next_poll(
            track.key, track.sent_mono, time.monotonic(), track.polls, bool(self.queue)
        )

    async def _finalize(self, track: Track, task: Task) -> None:
        """Record the final state; on COMPLETED, fetch the video before calling the job done."""
        job = track.job
        self.stats["detected"] += 1
        await self._release(track)
        fields: dict[str, Any] = {
            "credits_used": task.credits_used,
            "error": task.error,
            "completed_at": task.completed_at,
            "video_url": task.video_url,
        }
        if task.created_at is not None:
            fields["sent_at"] = task.created_at
        if task.status is TaskStatus.FAILED:
            await self._record(track, status="FAILED", **fields)
            job.end(JobStatus.FAILED, error=task.error or "the server gave no reason")
            return
        if task.created_at and task.completed_at and track.key is not None:
            seconds = (task.completed_at - task.created_at).total_seconds()
            self.scheduler.finished(track.key, seconds)
        job.status = JobStatus.DOWNLOADING
        job.changed()
        await self._record(track, status="DOWNLOADING", **fields)
        await self._fetch(track, task)

    # ---- videos --------------------------------------------------------------------------------
    async def fetch(self, job: Job) -> Path:
        """`job.download()`: fetch a paid video again, asking the server for a fresh URL.

        The row is claimed first, so two studios never write the same file at once.
        """
        track = self._track(job)
        if job.status is JobStatus.DOWNLOADING and not job.done:  # one fetch per file at once
            await asyncio.wrap_future(job.outcome)
            assert job.local_path is not None
            return job.local_path
        if job.task_id is None or not (job.status.charged or job.status is JobStatus.UNKNOWN):
            raise SeedanceError(f"job #{job.id} has no paid video to fetch (it is {job.status})")
        task = None
        if not job.status.charged:  # UNKNOWN: only a task the server now calls done
            task = await self.client.get_task(job.task_id)
            if task.status is not TaskStatus.COMPLETED:
                raise SeedanceError(
                    f"job #{job.id}: the server says task {job.task_id} is {task.status}, "
                    "so there is no video yet; studio.resume() follows it again"
                )
        row = await asyncio.to_thread(self.ledger.claim, job.id, self.owner)
        if row is None:
            raise SeedanceError(
                f"job #{job.id} belongs to another studio that is still running; "
                "that studio saves its video"
            )
        job.reopen()
        job.status = JobStatus.DOWNLOADING
        job.changed()
        await self._record(track, status="DOWNLOADING")
        await self._fetch(track, task)
        job.result_now()  # raises what ended the fetch, if it failed again
        assert job.local_path is not None
        return job.local_path

    async def _fetch(self, track: Track, task: Task | None = None) -> None:
        """Save the video; COMPLETED only once a verified file is on disk.

        With no task (a resume, a re-run, `job.download()`), or when the URL has expired, the
        task is queried again for a fresh URL first.
        """
        job = track.job
        assert job.task_id is not None
        dest = destination(self.outputs, job.experiment, job.task_id)
        for attempt in range(2):
            if task is None:
                try:
                    task = await self.client.get_task(job.task_id)
                except SeedanceError as exc:
                    await self._unsaved(track, f"its task could not be read again ({exc})", exc)
                    return
                if task.status is not TaskStatus.COMPLETED:
                    await self._unsaved(
                        track, f"the server now says the task is {task.status.value}", None
                    )
                    return
                job.task = task
            job.task = task
            try:
                path = await download(self._files, str(task.video_url), dest)
            except DownloadError as exc:
                if exc.expired and attempt == 0:
                    task = None  # ask for a fresh URL once
                    continue
                await self._unsaved(track, str(exc), exc)
                return
            except Exception as exc:
                await self._unsaved(track, f"{type(exc).__name__}: {exc}", exc)
                return
            job.local_path = path
            await self._record(
                track,
                status="COMPLETED",
                local_path=str(path),
                file_host=self.owner.host,
                video_url=task.video_url,  # the link that worked (a fresh one after expiry)
                error=None,
            )
            job.error = None
            job.end(JobStatus.COMPLETED)
            return

    async def _unsaved(self, track: Track, why: str, exc: BaseException | None) -> None:
        error = (
            f"the task is paid but its video could not be saved: {why}. "
            "job.download() (or studio.resume()) fetches it again."
        )
        await self._end(track, JobStatus.DOWNLOAD_FAILED, error, exc or DownloadError(error))

    # ---- rows another studio owns --------------------------------------------------------------
    async def _look(self, track: Track) -> None:
        """Mirror a row another live studio owns; take it over once that studio is gone."""
        job = track.job
        row = await asyncio.to_thread(self.ledger.get, job.id)
        mirror(job, row)
        status = JobStatus(row["status"])
        if status.final:
            track.following = False
            finish_from_row(job, row)
            return
        alive = await asyncio.to_thread(self.ledger.owner_alive, row["owner"])
        if not alive:
            claimed = await asyncio.to_thread(self.ledger.claim, job.id, self.owner)
            if claimed is not None:
                track.following = False
                self.take_over(job, claimed)
                return
        self._plan(track, time.monotonic() + FOLLOW_EVERY)

    async def _adopt(self) -> None:
        """Take over tasks of this account that a dead studio sent (its heartbeat lapsed, or
        its process is gone): poll them to the end and save their videos here. Nothing is sent
        again; rows it never sent wait for a person's `studio.resume()`."""
        rows = await asyncio.to_thread(self.ledger.claimable, self.owner)
        for row in rows:
            if row["account"] != self.account or row["status"] not in ADOPTABLE:
                continue
            if row["id"] in self.tracks and not self.tracks[row["id"]].following:
                continue
            claimed = await asyncio.to_thread(self.ledger.claim, row["id"], self.owner)
            if claimed is None or self.orphan is None:
                continue
            job = self.orphan(claimed)
            if job is not None:
                self.stats["adopted"] += 1
                self.take_over(job, claimed)

    def take_over(self, job: Job, row: dict[str, Any]) -> None:
        """Carry on a row this studio has just claimed, from wherever it stands.

        A row caught mid-send is not sent again: it may exist, so it ends SEND_FAILED.
        """
        status = JobStatus(row["status"])
        held = self.tracks.get(job.id)
        if held is not None and not held.following and self._moving(held):
            return  # already carried on here (adopted, then resumed): once is enough
        self._track(job).following = False
        if status is JobStatus.QUEUED:
            job.status = status
            self.enqueue(job)
        elif status is JobStatus.SENDING and not row.get("task_id"):
            error = (
                "the studio sending it stopped while createTask was in flight; it may have "
                "been created, so it was not sent again (force=True resubmits)"
            )
            self._spawn(self._end(self._track(job), JobStatus.SEND_FAILED, error, None))
        elif status in (JobStatus.DOWNLOADING, JobStatus.DOWNLOAD_FAILED):
            job.status = JobStatus.DOWNLOADING
            job.reopen()
            self.refetch(job)
        else:
            job.status = status if status is not JobStatus.SENDING else JobStatus.PENDING
            self.attach(job)

    def _moving(self, track: Track) -> bool:
        """Whether this engine is moving the job on now (queued, sending, polling, fetching)."""
        job = track.job
        return not job.done and (
            job in self.queue
            or job.status in (JobStatus.SENDING, JobStatus.DOWNLOADING)
            or (job.task_id is not None and job.task_id in self.inflight)
        )

    # ---- ending and recording ------------------------------------------------------------------
    async def _end(
        self, track: Track, status: JobStatus, error: str, exception: BaseException | None
    ) -> None:
        if track.job.task_id is not None:
            self.inflight.pop(track.job.task_id, None)
        track.due = None
        await self._release(track)
        await self._record(track, status=status.value, error=error)
        track.job.end(status, error=error, exception=exception)
        self._poke()

    async def _end_unforeseen(self, track: Track, exc: BaseException) -> None:
        job = track.job
        what = f"{type(exc).__name__}: {exc}"
        if job.status.charged:
            await self._unsaved(track, what, exc)
        elif job.task_id is not None:
            await self._end(
                track,
                JobStatus.UNKNOWN,
                f"following task {job.task_id} failed unexpectedly ({what}); it may still run. "
                "Its id is kept: studio.resume() follows it again.",
                exc,
            )
        else:
            await self._end(track, JobStatus.FAILED, f"not sent: {what}", exc)

    async def _record(self, track: Track, **fields: Any) -> None:
        """Write fields of the job's row, off the loop. Never raises and never loses a field:
        a write that fails (a full disk, a locked file) is kept, shown on the job, and
        retried until it succeeds or the studio closes."""
        track.unsaved.update(fields)
        await self._flush(track)

    async def _flush(self, track: Track) -> bool:
        job = track.job
        async with track.saving:
            if not track.unsaved:
                return True
            fields = dict(track.unsaved)
            try:
                await asyncio.to_thread(self.ledger.update, job.id, **fields)
            except Exception as exc:
                self.stats["record_errors"] += 1
                job.warning = (
                    f"the ledger could not record this job ({type(exc).__name__}: {exc}); "
                    "retrying. Nothing is lost while this kernel runs."
                )
                log.warning("job #%s: %s", job.id, job.warning)
                job.changed()
                if not track.retrying and not self._closing:
                    track.retrying = True
                    self._spawn(self._retry(track))
                return False
            for name, value in fields.items():
                if track.unsaved.get(name, object()) is value:
                    del track.unsaved[name]
        if job.warning is not None and not track.unsaved:
            job.warning = None
            job.changed()
        return True

    async def _retry(self, track: Track) -> None:
        pause = RECORD_RETRY[0]
        try:
            while track.unsaved and not self._closing:
                await asyncio.sleep(pause)
                if await self._flush(track):
                    return
                pause = min(RECORD_RETRY[1], pause * 2)
        finally:
            track.retrying = False


def mirror(job: Job, row: dict[str, Any]) -> None:
    """Show on a followed job what its row says (another studio moves it on)."""
    status = JobStatus(row["status"])
    changed = status is not job.status or row.get("task_id") != job.task_id
    job.status = status
    job.task_id = row.get("task_id")
    job.error = row.get("error")
    if row.get("sent_at") is not None and job.sent is None:
        job.sent = row["sent_at"].timestamp()
    if changed:
        job.changed()


def task_from_row(row: dict[str, Any]) -> Task:
    """The task as the ledger remembers it (no server call)."""
    outputs = (Output(url=row["video_url"]),) if row.get("video_url") else ()
    status = TaskStatus.COMPLETED if JobStatus(row["status"]).charged else TaskStatus.FAILED
    return Task(
        id=row.get("task_id") or "",
        model=row.get("model") or "",
        status=status,
        credits_used=row.get("credits_used") or 0,
        outputs=outputs,
        error=row.get("error"),
        created_at=row.get("sent_at"),
        completed_at=row.get("completed_at"),
    )


def finish_from_row(job: Job, row: dict[str, Any]) -> None:
    """End a job as its (final) row says, without asking the server anything."""
    status = JobStatus(row["status"])
    if row.get("task_id"):
        job.task = task_from_row(row)
    job.local_path = Path(row["local_path"]) if row.get("local_path") else None
    exception = (
        DownloadError(row.get("error") or "") if status is JobStatus.DOWNLOAD_FAILED else None
    )
    job.end(status, error=row.get("error"), exception=exception)


def _now() -> datetime:
    return datetime.now(timezone.utc)
