"""The background engine of a studio: one local queue, one poller, downloads.

Everything here runs on the studio's loop. At most `concurrency` tasks are in flight; the rest
wait in a FIFO queue (a 429 puts the job back at its head). The engine does only the I/O: what
each answer means is decided by `_lifecycle` (pure functions returning a `Step`), whose fields
go to the job's row in one ledger write before `Job.apply(step)` moves the job. Promises:
* createTask is sent at most once per row: a queued row moves to SENDING only while this
  studio owns it (`Ledger.move`), and no unclear answer is ever retried (see `_lifecycle`).
* Every job ends: odd answers are bounded (`MAX_ODD`), a task running past `deadline` (this
  process's monotonic clock) ends UNKNOWN, anything unforeseen ends it with a visible error.
* Nothing is lost while the process lives: a failed ledger write is kept, retried and shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import AsyncClient, JobStatus, Request, Task, UnexpectedResponseError
from ..ledger import Fence, Ledger, Owner, current_user, wakes
from . import _lifecycle as life
from . import _settle as settle
from ._adoption import FOLLOW_EVERY, Adopting, finish_from_row
from ._download import new_downloader
from ._job import Job
from ._lifecycle import Next
from ._predict import Key, key_of
from ._rows import Rows
from ._saving import Saving
from ._scheduler import Scheduler
from ._settling import Settling

__all__ = ["DEADLINE", "Engine", "Track", "finish_from_row"]

log = logging.getLogger("seedance_nb")
Uploader = Callable[[Path, str], Awaitable[str]]
DEADLINE = 3600.0  # seconds of waiting on a task, after which one still running is given up on
SLOT_RETRY = 1.0  # seconds between asks for an account slot another studio holds (no NOTIFY)
ADOPT_EVERY = 3.0  # seconds between looks for sent rows of this account whose studio died
CLOSE_RETRY = 5.0  # seconds a closing studio keeps trying ledger writes that fail


@dataclass(eq=False)
class Track:
    """What the engine keeps for one job: one record, not parallel dicts keyed by job id."""

    job: Job
    key: Key | None = None
    sent_mono: float | None = None  # monotonic time of the send (or as if, on re-attach)
    since: float | None = None  # monotonic time this process sent it or began to follow it
    due: float | None = None  # next poll or look, monotonic; None while one is under way
    hinted: float | None = None  # when a callback hint last planned a poll
    following: bool = False  # another live studio owns the row: watch the ledger
    odd: int = 0  # odd answers or unforeseen failures in a row
    polls: int = 0  # queries so far that found the task still running
    slot: bool = False  # holds (or has asked for) one of the account's slots
    fence: Fence | None = None  # the row's owner and lease while this studio holds it
    fetching: bool = False  # a fetch of its video is under way here
    unsaved: dict[str, Any] = field(default_factory=dict)  # ledger fields not yet written
    saving: asyncio.Lock = field(default_factory=asyncio.Lock)
    retrying: bool = False


class Engine(Rows, Saving, Adopting, Settling):
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
        self._files = new_downloader(timeout=client.timeout)
        self._closing = False
        self.unrecorded: list[tuple[int, Fence | None, dict[str, Any]]] = []  # after aclose

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, history: list[dict[str, Any]]) -> None:
        """Begin the poller (call on the loop)."""
        self.scheduler.load(history)
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._main = loop.create_task(self._run())
        self._unlisten = self.ledger.listen(
            lambda said: loop.call_soon_threadsafe(self._woken)
            if wakes(said, self.account, self.owner.id)
            else None
        )

    def _woken(self) -> None:
        """This account freed a slot or granted this studio one (others' wake-ups go unheard)."""
        self._wakes += 1
        self._slot_retry_at = 0.0
        self._poke()

    async def aclose(self) -> None:
        """Stop everything; ledger writes still pending are tried for up to `CLOSE_RETRY`
        seconds, and what still fails is left in `unrecorded` (for the studio's journal)."""
        self._closing = True
        if self._unlisten is not None:
            self._unlisten()
        for task in [self._main, *self._background]:  # nothing moves on while it closes
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._main, *self._background] if t), return_exceptions=True
        )
        give_up = time.monotonic() + CLOSE_RETRY
        pending = [t for t in self.tracks.values() if t.unsaved]
        while pending:
            for track in pending:
                await self._flush(track)
            pending = [t for t in pending if t.unsaved and t.fence is not None]
            if not pending or time.monotonic() >= give_up:
                break
            await asyncio.sleep(0.2)
        self.unrecorded = [(t.job.id, t.fence, dict(t.unsaved)) for t in pending]
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
        assert exc is not None
        if track is not None and not track.job.done and not self._closing:
            log.error("job #%s: unexpected failure", track.job.id, exc_info=exc)
            if track.following:  # a follower writes nothing: it looks again later
                track.odd += 1
                track.job.apply(life.follower_failed(exc))
                self._plan(track, time.monotonic() + FOLLOW_EVERY)
                return
            step = life.unforeseen(track.job.status, track.job.task_id, exc)
            self._spawn(self._commit(track, step))
        else:
            log.error("seedance_nb background step failed", exc_info=exc)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _track(self, job: Job) -> Track:
        track = self.tracks.get(job.id)
        if track is None:
            track = self.tracks[job.id] = Track(job)  # Studio._track bound it to us
        return track

    # ---- entry points (on the loop) ------------------------------------------------------------
    def enqueue(self, job: Job) -> None:
        """Queue a job for sending; its expected render time gives it an ETA at once."""
        track = self._track(job)
        if track.fence is None:  # a row this studio has just written: its first lease
            track.fence = Fence(self.owner.id, 1)
        track.key = key_of(job.model, job.request.to_inputs(allow_local=True))
        speed = self.client.server_speed  # a simulator's declared pace scales the ETA
        job.predicted_seconds, job.p90_seconds = self.scheduler.ahead(track.key, speed)
        self.queue.append(job)
        self._poke()

    def attach(self, job: Job) -> None:
        """Follow a task that was already sent (resume, adoption): poll it at once.

        Its deadline runs from now, on this process's monotonic clock: the sender's clock is
        never compared with ours, and a task adopted late is still polled and its video saved.
        """
        assert job.task_id is not None
        track = self._track(job)
        track.key = key_of(job.model, job.request.to_inputs(allow_local=True))
        now = time.monotonic()
        track.sent_mono = now - min(job.elapsed, self.deadline)  # for the poll plan only
        track.since = now
        track.slot = True  # a task on the server holds one of the account's slots
        self.inflight[job.task_id] = track
        self._plan(track, now)

    def follow(self, job: Job) -> None:
        """Watch a row another live studio owns; take it over if that studio goes away."""
        track = self._track(job)
        track.following = True
        self._plan(track, time.monotonic())

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
        at = self.scheduler.hint_slot(track.due, track.hinted, track.key)
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
        job.apply(life.cancelled())  # at once: cancel() answers True only for a job now ended
        self._spawn(self._release(track))
        self._spawn(self._record(track, **life.cancelled().fields))
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
                # a cooldown after a 429 ends by the clock; a free slot pokes the loop (a wait
                # of 0 here, as when none is cooling down, would spin it while jobs queue)
                if (cooling := self.scheduler.cooldown_left()) > 0:
                    waits.append(cooling)
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
                job.apply(life.sending())
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
            params = json.dumps(payload if job.take == 1 else {**payload, "take": job.take})
            moved, half = await asyncio.gather(
                self._move(track, JobStatus.QUEUED, life.granted(params)),
                self._before_send(job),  # to settle an unclear send by the balance
                return_exceptions=True,
            )
            if isinstance(moved, BaseException):
                raise moved
        except Exception as exc:  # nothing was sent: a clear, final error
            await self._commit(track, life.not_sent(exc))
            return
        if not moved:  # another studio took the row (this one looked dead): never send twice
            track.fence = None
            job.apply(life.send_lost())
            self.follow(job)
            return
        self.stats["creates"] += 1
        assert not isinstance(half, BaseException)  # _before_send never raises
        result, before = await self._send_reading(
            job, self.client.create_task(request, job.model, self.callback_url), half
        )
        step = life.after_send(result, await self._clock())
        if step.status is JobStatus.SEND_FAILED and isinstance(result, Exception):
            found = await self._settle(track, before, step.cause)
            self.stats[f"settled_{found.kind}"] += 1
            step = settle.settled(step, found)
        if step.next is Next.QUEUE:  # the account is busy beyond what the ledger knows
            self.stats["rejected_429"] += 1
            self.scheduler.rejected()
            self.queue.appendleft(job)
            await self._commit(track, step)
            return
        if step.next is not Next.POLL:
            await self._commit(track, step)
            return
        self.scheduler.accepted()
        assert isinstance(result, str)
        job.task_id = result  # from here on the id lives in memory whatever the disk does
        job.sent = time.time()
        track.key = key_of(job.model, payload["inputs"])
        speed = self.client.server_speed  # a simulator's declared pace scales the ETA
        job.predicted_seconds, job.p90_seconds = self.scheduler.ahead(track.key, speed)
        track.sent_mono = track.since = time.monotonic()
        track.polls = 0
        self.inflight[result] = track
        self._plan(track, self._next_poll(track))
        await self._commit(track, step)

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
            result: Task | BaseException = await self.client.get_task(job.task_id)
        except UnexpectedResponseError as exc:
            result = exc
            self.stats["odd_answers"] += 1
        except Exception as exc:
            result = exc
            self.stats["poll_errors"] += 1
            log.info("polling %s failed (%s)", job.task_id, exc)
        track.odd = life.odd_after(result, track.odd)
        step = life.after_poll(
            result,
            task_id=job.task_id,
            current=job.status,
            odd=track.odd,
            elapsed=self._waited(track),
            deadline=self.deadline,
        )
        if isinstance(result, Task):
            job.task = result
        if step.next is Next.RETRY:
            self._plan(track, time.monotonic() + self.spacing)
            return
        if step.next is Next.POLL:
            if not await self._commit(track, step):
                return
            self._schedule(track)
            return
        if step.next is Next.FETCH and isinstance(result, Task):
            self.stats["detected"] += 1
            self._learn(track, result)
        elif step.status is JobStatus.FAILED:
            self.stats["detected"] += 1
        if await self._commit(track, step) and step.next is Next.FETCH:
            await self._fetch(track, result)

    def _waited(self, track: Track) -> float:
        """Seconds this process has waited on the task (its own monotonic clock)."""
        return 0.0 if track.since is None else time.monotonic() - track.since

    def _learn(self, track: Track, task: Task) -> None:
        if task.created_at and task.completed_at and track.key is not None:
            seconds = (task.completed_at - task.created_at).total_seconds()
            self.scheduler.finished(track.key, seconds)

    def _schedule(self, track: Track) -> None:
        """Plan the next poll of a task still running, and refresh its job's ETA."""
        track.polls += 1
        assert track.key is not None and track.sent_mono is not None
        elapsed = time.monotonic() - track.sent_mono
        track.job.predicted_seconds = elapsed + self.scheduler.eta(track.key, elapsed)
        track.job.p90_seconds = elapsed + self.scheduler.late(track.key, elapsed)
        self._plan(track, self._next_poll(track))

    def _next_poll(self, track: Track) -> float:
        assert track.key is not None and track.sent_mono is not None
        return self.scheduler.next_poll(
            track.key, track.sent_mono, time.monotonic(), track.polls, bool(self.queue)
        )
