"""Writing a job's row: each lifecycle step in one ledger write, never lost, never another's.

`_commit` carries out a step: the slot goes back if it says so, its fields are written in one
write, then `Job.apply` moves the job. A write that fails (a full disk, a locked file) is kept,
shown on the job and retried; one that finds the row has changed hands writes nothing, and the
job is followed through the ledger from then on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..api import JobStatus
from ..ledger import Fence
from . import _lifecycle as life
from ._lifecycle import Next, Step

if TYPE_CHECKING:
    from ._engine import Engine, Track

log = logging.getLogger("seedance_nb")
RECORD_RETRY = (0.2, 5.0)  # first and longest pause between tries of a failed ledger write


class Rows:
    """The engine's ledger writes (a mixin of `Engine`)."""

    async def _commit(self: Engine, track: Track, step: Step) -> bool:
        """Carry out a lifecycle step: give back the slot if it says so, write its fields in
        one fenced ledger write, then move the job. False when the row has changed hands (the
        job is then followed, not moved)."""
        job = track.job
        if step.fields and track.fence is None:  # a row this studio does not hold
            self._lose(track)
            return False
        if step.release:
            await self._release(track)
        if step.fields and not await self._record(track, **step.fields):
            return False
        if step.release and job.task_id is not None and step.next is not Next.POLL:
            self.inflight.pop(job.task_id, None)  # off the poller only once the step holds
        job.apply(step)
        if step.ends:
            track.due = None
            self._poke()
        return True

    async def _move(self: Engine, track: Track, expect: JobStatus, step: Step) -> bool:
        """Write a step only while the row is still `expect` and this studio's (its fence)."""
        fence = track.fence or Fence(self.owner.id, 1)
        return await asyncio.to_thread(
            self.ledger.move, track.job.id, fence, expect.value, **step.fields
        )

    async def _clock(self: Engine) -> datetime:
        """The ledger's time now (the one clock its studios share), for the row's timestamps;
        this machine's if the ledger cannot say (a task id must never wait on it)."""
        try:
            return await asyncio.to_thread(self.ledger.clock)
        except Exception as exc:
            log.warning("the ledger's clock could not be read (%s); using this machine's", exc)
            return datetime.now(timezone.utc)

    def _lose(self: Engine, track: Track) -> None:
        """The row changed hands (this studio looked stopped, and another took it over): stop
        moving it here at once, say so in one line, and follow it through the ledger."""
        job = track.job
        self.stats["lost"] += 1
        track.unsaved.clear()
        track.fence = None
        track.slot = False  # the slot went with the row
        if job.task_id is not None:
            self.inflight.pop(job.task_id, None)
        if job in self.queue:
            self.queue.remove(job)
        step = life.lost(None)
        log.warning("job #%s: %s", job.id, step.warning)
        job.apply(step)
        self.follow(job)

    async def _record(self: Engine, track: Track, **fields: Any) -> bool:
        """Write fields of the job's row, off the loop, fenced by the row's owner and lease.
        Never raises and never loses a field: a write that fails (a full disk, a locked file)
        is kept, shown on the job, and retried until it succeeds or the studio closes. False
        only when the row is no longer this studio's (then nothing was written)."""
        track.unsaved.update(fields)
        if await self._flush(track) is None:
            self._lose(track)
            return False
        return True

    async def _flush(self: Engine, track: Track) -> bool | None:
        """True: written (or nothing to write); False: failed, kept for a retry; None: the
        row is no longer ours (nothing written, nothing kept)."""
        job = track.job
        async with track.saving:
            if not track.unsaved:
                return True
            fields = dict(track.unsaved)
            fence = track.fence
            if fence is None:
                return None
            try:
                ours = await asyncio.to_thread(self.ledger.write, job.id, fence, **fields)
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
            if not ours:
                return None
            for name, value in fields.items():
                if track.unsaved.get(name, object()) is value:
                    del track.unsaved[name]
        if job.warning is not None and not track.unsaved:
            job.warning = None
            job.changed()
        return True

    async def _retry(self: Engine, track: Track) -> None:
        pause = RECORD_RETRY[0]
        try:
            while track.unsaved and not self._closing:
                await asyncio.sleep(pause)
                done = await self._flush(track)
                if done is None:
                    self._lose(track)
                    return
                if done:
                    return
                pause = min(RECORD_RETRY[1], pause * 2)
        finally:
            track.retrying = False
