"""Fetch a finished video to disk at once (hosted URLs expire) and check it is a real video.

A paid video is never half-saved: it streams to `<dest>.part` in bounded memory, is synced to
disk and decoded through its last frame, and only then renamed to `dest`. A file at `dest` is
therefore always a whole video; anything else raises `DownloadError` and leaves no file behind
(a process killed mid-way leaves only the `.part`, which the next download overwrites).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import httpx

from ..api._exceptions import DownloadError
from ..api._transport import STREAM, RetryTransport, http_transport, retry_delay

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

ATTEMPTS = 3  # a connection dropped mid-body is retried; fetching a video again costs nothing
EXPIRED = frozenset({403, 404, 410})  # what a CDN answers for a signed link that has expired
AGAIN = "job.download() fetches it again"
FRESH = "job.download() asks the server for a fresh link and fetches it again"
# The first box of an ISO-BMFF file (MP4, MOV): `ftyp` as a rule; older QuickTime files may
# open with one of the others.
BOXES = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})
HEAD = 12  # bytes needed to tell a video from an error page
SLUG = 80  # characters of a name kept in a file name (the rest is told apart by a hash)


def new_downloader(
    *, max_retries: int = 4, retry_backoff: float = 0.5, timeout: float | None = 60.0
) -> httpx.AsyncClient:
    """An HTTP client for video files: retried GETs, and no API key (the files are public).

    `download()` asks its transport to stream (the STREAM extension), so a video is never held
    in memory; refused connections, 5xx and 429 before the body are retried here.
    """
    return httpx.AsyncClient(
        transport=RetryTransport(
            http_transport(), max_retries=max_retries, backoff=retry_backoff
        ),
        timeout=httpx.Timeout(timeout, connect=None if timeout is None else min(10.0, timeout)),
        follow_redirects=True,
    )


def safe_name(name: str, limit: int = SLUG) -> str:
    """`name` as one file-name component any common file system takes: the name itself when
    it is already plain ASCII of at most `limit` characters, else a bounded slug of it plus a
    short hash of the whole name (so two names never share a folder by losing characters)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:limit].rstrip("._")
    if slug == name:
        return slug
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}" if slug else digest


def destination(outputs: Path, experiment: str, task_id: str) -> Path:
    """outputs/<experiment>/<task_id>.mp4, each a bounded, safe name (well under the 255
    bytes a file name may have on any common file system, with room for a temporary suffix)."""
    return outputs / safe_name(experiment) / f"{safe_name(task_id)}.mp4"


def part_path(dest: Path) -> Path:
    """Where a download is written before it is verified: `<dest>.part` beside it."""
    return dest.with_name(dest.name + ".part")


def unique_part(dest: Path) -> Path:
    """A temporary file of this fetch alone beside `dest` (two processes fetching one video at
    once never share one), renamed into place atomically once verified."""
    return dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")


def whole_video(dest: Path) -> bool:
    """True if a video that decodes to its end is already at `dest` (another process saved
    it: renames are atomic, so a file there was verified before it was put there)."""
    try:
        return dest.is_file() and verify_video(dest) > 0
    except (OSError, ValueError):
        return False


def looks_like_video(head: bytes) -> bool:
    """True if these first bytes open an ISO-BMFF file (an MP4 has a `ftyp` box first)."""
    return len(head) >= 8 and head[4:8] in BOXES


def describe(head: bytes, content_type: str) -> str:
    """A few words for what came instead of a video, for the error message."""
    text = head.lstrip().lower()
    if "html" in content_type or text.startswith((b"<!doctype", b"<html", b"<")):
        kind = "an HTML page"
    elif "json" in content_type or text.startswith((b"{", b"[")):
        kind = "a JSON document"
    elif not head:
        kind = "an empty body"
    else:
        kind = "something that is not an MP4"
    return f"{kind} ({content_type})" if content_type else kind


async def download(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    verify: bool = True,
    attempts: int = ATTEMPTS,
    retry_backoff: float = 0.5,
    part: Path | None = None,
) -> Path:
    """Stream `url` to `dest` through `part` (default `<dest>.part`): fsync, verify, then
    rename into place.

    A connection dropped mid-body is retried up to `attempts` times in all, resuming with a
    Range request when the server allows it. `verify=False` skips the decoding check (tests of
    memory use only). Raises DownloadError, after removing the `.part`, on any failure;
    `expired=True` means the link is gone (403/404/410) and a fresh one must be asked for.
    """
    dest = Path(dest)
    part = part_path(dest) if part is None else part
    host = urlsplit(url).hostname or url

    def fail(reason: str, *, expired: bool = False, advice: str = "") -> NoReturn:
        advice = advice or (FRESH if expired else AGAIN)
        raise DownloadError(
            f"the video from {host} was not saved to {dest}: {reason}; {advice}",
            url=url,
            path=str(dest),
            expired=expired,
        )

    try:
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        out = await asyncio.to_thread(open, part, "wb")
        try:
            await _fetch(http, url, out, fail, attempts=attempts, retry_backoff=retry_backoff)
            await asyncio.to_thread(_sync, out)
        finally:
            await asyncio.to_thread(out.close)
        if verify:
            try:
                await asyncio.to_thread(verify_video, part)
            except ValueError as exc:
                fail(f"the file is not a whole video ({exc})")
        await asyncio.to_thread(_commit, part, dest)
    except OSError as exc:
        part.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            fail(f"the disk is full ({exc.strerror})", advice=f"free some space, then {AGAIN}")
        fail(f"it could not be written ({type(exc).__name__}: {exc})")
    except BaseException:  # DownloadError, and a cancelled task too: never leave a .part
        part.unlink(missing_ok=True)
        raise
    return dest


async def _fetch(
    http: httpx.AsyncClient,
    url: str,
    out: IO[bytes],
    fail: Callable[..., NoReturn],
    *,
    attempts: int,
    retry_backoff: float,
) -> None:
    """Write the body at `url` to `out`, retrying a body cut off half-way. Failures before the
    body starts (refused, 5xx, 429) are the transport's to retry; here they end the download."""
    have = 0  # bytes of the body on disk
    head = b""  # its first bytes, to tell a video from an error page
    total: int | None = None  # the body's length, when the server says
    validator = ""  # ETag or Last-Modified: resume with Range only if the file is the same
    drops = 0
    while True:
        headers = {"Accept-Encoding": "identity"}  # byte offsets must be the file's
        if have and validator:
            headers.update({"Range": f"bytes={have}-", "If-Range": validator})
        started = False
        try:
            async with http.stream("GET", url, headers=headers, extensions={STREAM: True}) as r:
                started = True
                status = r.status_code
                if status in EXPIRED:
                    fail(f"the link has expired or is gone (HTTP {status})", expired=True)
                if status == 206 and have and _range_start(r) == have:
                    total = _range_total(r)
                elif status == 200:
                    if have:  # the server sent the whole file again: start over
                        await asyncio.to_thread(_rewind, out)
                        have, head = 0, b""
                    total = _length(r)
                    validator = _validator(r)
                elif have and status in (206, 416):  # not the range asked for: start over
                    await asyncio.to_thread(_rewind, out)
                    have, head, validator = 0, b"", ""
                    raise httpx.RemoteProtocolError(f"HTTP {status} to a Range request")
                else:
                    fail(f"the server answered HTTP {status} {r.reason_phrase}".rstrip())
                async for chunk in r.aiter_bytes():  # as it comes: a drop loses nothing
                    if len(head) < HEAD:
                        head += chunk[: HEAD - len(head)]
                        if len(head) == HEAD and not looks_like_video(head):
                            fail(f"the server sent {describe(head, _type(r))}, not a video")
                    await asyncio.to_thread(out.write, chunk)
                    have += len(chunk)
                if total is not None and have != total:
                    raise httpx.RemoteProtocolError(f"body ended at {have} of {total} bytes")
                if not looks_like_video(head):
                    fail(f"the server sent {describe(head, _type(r))}, not a video")
                return
        except httpx.TransportError as exc:
            if not started:
                fail(f"the server could not be reached ({type(exc).__name__}: {exc})")
            drops += 1
            if drops >= attempts:
                of = f" of {total}" if total is not None else ""
                fail(
                    f"the connection dropped mid-body {drops} times, the last after "
                    f"{have}{of} bytes ({type(exc).__name__})"
                )
            if not validator:  # no safe way to resume: fetch the whole file again
                await asyncio.to_thread(_rewind, out)
                have, head = 0, b""
            await asyncio.sleep(retry_delay(drops - 1, None, retry_backoff, 8.0))
        except httpx.HTTPError as exc:  # too many redirects, an undecodable body, a bad URL
            fail(f"{type(exc).__name__}: {exc}")


def _validator(response: httpx.Response) -> str:
    """What a later Range request may send as If-Range, so a changed file is sent whole: a
    strong ETag, else Last-Modified; empty when the server does not take byte ranges."""
    if response.headers.get("Accept-Ranges", "").lower() != "bytes":
        return ""
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified", "")


def _type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _length(response: httpx.Response) -> int | None:
    """The body's length from Content-Length, if it counts the bytes we write (no encoding)."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _range_start(response: httpx.Response) -> int | None:
    """The first byte of a 206 answer, from `Content-Range: bytes <start>-<end>/<total>`."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _range_total(response: httpx.Response) -> int | None:
    match = re.fullmatch(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _rewind(out: IO[bytes]) -> None:
    out.seek(0)
    out.truncate()


def _sync(out: IO[bytes]) -> None:
    """Flush the file to the disk itself, so a power cut cannot leave a renamed empty file."""
    out.flush()
    os.fsync(out.fileno())


def _commit(part: Path, dest: Path) -> None:
    """Rename the verified file into place atomically, and make the rename itself durable."""
    os.replace(part, dest)
    try:
        fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_video(path: Path) -> float:
    """The video's length in seconds, proven by decoding every frame through the last one.

    Raises ValueError if the file is not a whole, playable video: no video stream, a packet cut
    short (a truncated download), a frame that does not decode, fewer frames than the container
    promises, or a decoded span shorter than its stated duration. Slow-ish (it decodes all of
    it), so call it off the event loop.
    """
    import av

    name = Path(path).name
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{name} has no video stream")
            stream = container.streams.video[0]
            tb = stream.time_base
            stated = _stated_seconds(container, stream)
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            packets = decoded = 0
            first = last = None
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue  # the demuxer's flush packet
                if packet.is_corrupt:
                    raise ValueError(f"{name} is cut short: packet {packets + 1} is incomplete")
                packets += 1
                for frame in stream.codec_context.decode(packet):
                    decoded += 1
                    first, last = _span(frame, first, last, tb)
            for frame in stream.codec_context.decode(None):
                decoded += 1
                first, last = _span(frame, first, last, tb)
    except av.error.FFmpegError as exc:
        raise ValueError(f"{name} does not decode: {exc}") from None
    if decoded == 0 or first is None or last is None:
        raise ValueError(f"{name} has no frames that decode")
    if stream.frames and decoded < stream.frames:
        raise ValueError(f"{name} decodes to {decoded} of its {stream.frames} frames")
    span = last - first
    if stated and span < stated - 2.0 / fps:
        raise ValueError(f"{name} decodes to {span:.2f} s of its {stated:.2f} s")
    return span if span > 0 else stated


def _stated_seconds(container: InputContainer, stream: VideoStream) -> float:
    """The length the container claims, from the stream or else from the file."""
    import av

    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / av.time_base


def _span(
    frame: VideoFrame, first: float | None, last: float | None, tb: Fraction | None
) -> tuple[float | None, float | None]:
    """Stretch [first, last) to cover this frame, in seconds."""
    base = frame.time_base or tb
    if frame.pts is None or base is None:
        return first, last
    start = float(frame.pts * base)
    end = start + float((frame.duration or 0) * base)
    first = start if first is None else min(first, start)
    last = end if last is None else max(last, end)
    return first, last
