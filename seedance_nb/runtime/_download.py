"""Fetch a finished video to disk at once (hosted URLs expire) and check it is a real video."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from ..api._transport import RetryTransport

CHUNK = 1 << 20


def new_downloader() -> httpx.AsyncClient:
    """An HTTP client for video files: retried GETs, and no API key (the files are public)."""
    return httpx.AsyncClient(
        transport=RetryTransport(httpx.AsyncHTTPTransport()),
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=True,
    )


def destination(outputs: Path, experiment: str, task_id: str) -> Path:
    """outputs/<experiment>/<task_id>.mp4, with both names made safe for any file system."""

    def safe(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "default"

    return outputs / safe(experiment) / f"{safe(task_id)}.mp4"


async def download(http: httpx.AsyncClient, url: str, dest: Path) -> Path:
    """Stream `url` to `dest` through a .part file, verify it, then move it into place."""
    import asyncio

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        async with http.stream("GET", url) as response:
            response.raise_for_status()
            with part.open("wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    out.write(chunk)
        await asyncio.to_thread(verify_video, part)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def verify_video(path: Path) -> float:
    """The video's length in seconds; raises ValueError if the file is not a playable video."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = (container.duration or 0) / av.time_base
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a readable video: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"{path.name} is empty")
    return seconds
