"""Rows of other studios: follow them while their owner lives, take them over once it is gone.

A follower only reads the row and waits (it never writes another owner's row, whatever fails
on its side); it claims the row once the owner's heartbeat has lapsed, and then carries it on
from where it stands, as `_lifecycle.take_over` decides. A live studio also adopts, on its own,
sent rows of its account whose studio died: it polls them to the end and saves their videos.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import DownloadError, JobStatus, Output, Task, TaskStatus
from ..api._status import ADOPTABLE
from ..ledger import row_fence
from . import _lifecycle as life
from ._lifecycle import Next

if TYPE_CHECKING:
    from ._engine import Engine, Track
    from ._job import Job

log = logging.getLogger("seedance_nb")
FOLLOW_EVERY = 0.5  # seconds between looks at a row another live studio owns


class Adopting:
    """The engine's following, adoption and take-over (a mixin of `Engine`)."""

    async def _look(self: Engine, track: Track) -> None:
        """Mirror a row another live studio owns; take it over once that studio is gone."""
        job = track.job
        row = await asyncio.to_thread(self.ledger.get, job.id)
        if track.odd:  # its reads work again: the warning they left goes
            track.odd = 0
            job.warning = None
            job.changed()
        status = JobStatus(row["status"])
        alive = status.final or await asyncio.to_thread(self.ledger.owner_alive, row["owner"])
        step = life.follower_sees(row, alive)
        if step.ends:
            track.following = False
            finish_from_row(job, row)
            return
        mirror(job, row)
        if step.next is Next.QUEUE:  # its owner is gone: try to take it over
            claimed = await asyncio.to_thread(self.ledger.claim, job.id, self.owner)
            if claimed is not None:
                track.following = False
                self.take_over(job, claimed)
                return
        self._plan(track, time.monotonic() + FOLLOW_EVERY)

    async def _adopt(self: Engine) -> None:
        """Take over tasks of this account that a dead studio sent (its heartbeat lapsed):
        poll them to the end and save their videos here. Nothing is sent again; rows it
        never sent wait for a person's `studio.resume()`."""
        rows = await asyncio.to_thread(self.ledger.claimable, self.owner)
        for row in rows:
            if row["account"] != self.account or JobStatus(row["status"]) not in ADOPTABLE:
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

    def take_over(self: Engine, job: Job, row: dict[str, Any]) -> None:
        """Carry on a row this studio has just claimed, from wherever it stands (once, however
        many paths claimed it: resume and adoption may race for one row)."""
        held = self.tracks.get(job.id)
        if held is not None and not held.following and self._moving(held):
            return
        track = self._track(job)
        track.following = False
        self._took(track, row)
        step = life.take_over(row)
        if step.next is Next.QUEUE:
            job.apply(step)
            self.enqueue(job)
        elif step.next is Next.FETCH:
            job.reopen()
            job.apply(step)
            self.refetch(job)
        elif step.next is Next.POLL:
            job.apply(step)
            self.attach(job)
        elif step.fields:  # ends here, and the row must say so (caught mid-send)
            self._spawn(self._commit(track, step), track)
        else:
            finish_from_row(job, row)

    def _took(self: Engine, track: Track, row: dict[str, Any]) -> None:
        """Hold the row as the claim returned it: its owner (this studio) and new lease."""
        track.fence = row_fence(row)

    def _moving(self: Engine, track: Track) -> bool:
        """Whether this engine is moving the job on now (queued, sending, polling, fetching)."""
        job = track.job
        return not job.done and (
            job in self.queue
            or track.fetching
            or job.status is JobStatus.SENDING
            or (job.task_id is not None and job.task_id in self.inflight)
        )


def mirror(job: Job, row: dict[str, Any]) -> None:
    """Show on a followed job what its row says (another studio moves it on)."""
    step = life.mirror(row)
    moved = step.status is not job.status or row.get("task_id") != job.task_id
    job.task_id = row.get("task_id")
    job.settled = row.get("settled")
    if row.get("sent_at") is not None and job.sent is None:
        job.sent = row["sent_at"].timestamp()
    if moved:
        job.apply(step)


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
    job.settled = row.get("settled")  # the owner's verdict on an unclear send, shown here too
    cause = DownloadError(row.get("error") or "") if status is JobStatus.DOWNLOAD_FAILED else None
    job.apply(life.Step(status, {}, row.get("error"), Next.END, cause=cause))
