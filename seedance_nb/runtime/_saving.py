"""Saving paid videos: the engine's fetches, each bounded, claimed, and never done twice.

* A fetch starts only once the row is this studio's (`claim`, which marks it DOWNLOADING in the
  same transaction), and only one fetch of a job runs here at a time.
* A whole video already at the destination (another process saved it) is adopted: COMPLETED,
  with no second fetch. Each fetch writes its own temporary file and renames it atomically.
* A fetch is bounded by the client's timeout for each whole request (not per read), its
  retries, and the job's deadline (though never below one whole request: a deadline ends
  waiting, never a paid result); it ends DOWNLOAD_FAILED with the reason.
* A link that has expired is asked for afresh once; when the server no longer knows the task
  either, the video is gone for good: EXPIRED, which nothing retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import DownloadError, JobStatus, SeedanceError, Task, TaskNotFoundError, TaskStatus
from ..api._client import within
from . import _lifecycle as life
from ._download import ATTEMPTS, destination, download, unique_part, whole_video
from ._lifecycle import Step

if TYPE_CHECKING:
    from ._engine import Engine, Track
    from ._job import Job

log = logging.getLogger("seedance_nb")


class Saving:
    """The engine's video fetching (a mixin of `Engine`)."""

    async def fetch(self: Engine, job: Job) -> Path:
        """`job.download()`: fetch a paid video again, asking the server for a fresh URL.

        The row is claimed first, so two studios never write the same file at once.
        """
        track = self._track(job)
        if track.fetching or (job.status is JobStatus.DOWNLOADING and not job.done):
            await asyncio.wrap_future(job.outcome)  # one fetch per file at once
            assert job.local_path is not None
            return job.local_path
        if not life.refetchable(job.status, job.task_id):
            raise SeedanceError(f"job #{job.id} has no paid video to fetch (it is {job.status})")
        assert job.task_id is not None
        task = None
        if not job.status.charged:  # UNKNOWN: only a task the server now calls done
            task = await self.client.get_task(job.task_id)
            if task.status is not TaskStatus.COMPLETED:
                raise SeedanceError(
                    f"job #{job.id}: the server says task {job.task_id} is {task.status}, "
                    "so there is no video yet; studio.resume() follows it again"
                )
        row = await self._claim(job, fetch=True)
        if row is None:
            raise SeedanceError(
                f"job #{job.id} belongs to another studio that is still running; "
                "that studio saves its video"
            )
        job.reopen()
        track.following = False
        if not await self._commit(track, life.fetching()):
            raise SeedanceError(f"job #{job.id} was taken over by another studio")
        await self._fetch(track, task)
        job.result_now()  # raises what ended the fetch, if it failed again
        assert job.local_path is not None
        return job.local_path

    def refetch(self: Engine, job: Job) -> None:
        """Fetch a paid video that is not on disk yet (a re-run or resume found it so)."""
        track = self._track(job)
        if not track.fetching:  # marked at once: a second take-over of the row sees it
            track.fetching = True
            self._spawn(self._fetching(track, None), track)

    async def _fetch(self: Engine, track: Track, task: Task | None = None) -> None:
        """Save the video and commit what came of it; COMPLETED only once a verified file is
        on disk. With no task (a resume, a re-run, `job.download()`), or when the URL has
        expired, the task is queried again for a fresh URL first."""
        if track.fetching:  # already being fetched here (adopted, then resumed): once is enough
            return
        track.fetching = True
        await self._fetching(track, task)

    async def _fetching(self: Engine, track: Track, task: Task | None) -> None:
        try:
            step = await self._save(track, task)
            await self._commit(track, step)
        finally:
            track.fetching = False

    async def _save(self: Engine, track: Track, task: Task | None) -> Step:
        job = track.job
        task_id = job.task_id
        assert task_id is not None
        dest = destination(self.outputs, job.experiment, task_id)
        if await asyncio.to_thread(whole_video, dest):  # another process saved it already
            self.stats["files_adopted"] += 1
            return life.adopted_file(str(dest), self.owner.host)
        remembered = job.task if task is None and job.task and job.task.video_url else None
        link_expired = False
        for _ in range(3):
            if task is None:
                try:
                    task = await self.client.get_task(task_id)
                except TaskNotFoundError as exc:
                    if remembered is None or link_expired:  # no link left that could work
                        return life.fetch_failed(
                            task_id, str(exc), exc, link_expired=True, record_gone=True
                        )
                    task = remembered  # the record is gone: the link we kept may still work
                except SeedanceError as exc:
                    return life.unsaved(f"its task could not be read again ({exc})", exc)
                else:
                    if task.status is not TaskStatus.COMPLETED:
                        why = f"the server now says the task is {task.status.value}"
                        return life.unsaved(why, None)
            job.task = task
            log.info("job #%s: fetching the video of task %s", job.id, task_id)
            try:
                path = await self._download(track, str(task.video_url), dest)
            except DownloadError as exc:
                if exc.expired and not link_expired:
                    link_expired, task = True, None  # ask for a fresh URL once
                    continue
                return life.fetch_failed(
                    task_id, str(exc), exc, link_expired=exc.expired, record_gone=False
                )
            except Exception as exc:
                return life.unsaved(f"{type(exc).__name__}: {exc}", exc)
            self.stats["fetches"] += 1
            return life.saved(str(path), self.owner.host, task.video_url)
        return life.unsaved("its link expired again", None)

    async def _download(self: Engine, track: Track, url: str, dest: Path) -> Path:
        """One download, bounded as a whole (see the module's docstring)."""
        bound = self._fetch_bound(track)
        try:
            return await within(download(self._files, url, dest, part=unique_part(dest)), bound)
        except asyncio.TimeoutError:
            raise DownloadError(
                f"the video was not saved to {dest}: the download did not finish within "
                f"{bound:g} s (the client's timeout for each try, {ATTEMPTS} tries, or the "
                "studio's deadline); job.download() fetches it again",
                url=url,
                path=str(dest),
            ) from None

    def _fetch_bound(self: Engine, track: Track) -> float | None:
        timeout = self.client.timeout
        whole = None if timeout is None else timeout * ATTEMPTS
        if track.since is None:
            return whole
        left = self.deadline - (time.monotonic() - track.since)
        floor = timeout if timeout is not None else 0.0
        return max(left, floor) if whole is None else min(whole, max(left, floor))

    async def _claim(self: Engine, job: Job, *, fetch: bool = False) -> dict[str, Any] | None:
        """Take the job's row for this studio (for a fetch: marked DOWNLOADING at once, so
        another studio asking next follows instead of fetching the same file)."""
        row = await asyncio.to_thread(self.ledger.claim, job.id, self.owner, fetch=fetch)
        if row is not None:
            self._took(self._track(job), row)
        return row
