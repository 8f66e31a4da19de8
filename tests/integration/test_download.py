"""Downloads of paid videos against real loopback servers that misbehave: a file at `dest` exists
only if it is a whole video, every failure says what to do, and memory stays bounded.

Also the retry policy of the transport, as pure functions with no server.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import pytest

import seedance_nb as sd
from seedance_nb.api import _transport
from seedance_nb.api._transport import (
    RETRY_SAFE,
    STREAM,
    RetryTransport,
    retry_delay,
    should_retry,
)
from seedance_nb.runtime import _download
from seedance_nb.runtime._download import download, new_downloader, part_path, verify_video
from seedance_nb.simulator._render import render_video
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


# ---- a real small video, and a loopback server that serves it (or worse) ----------------------


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a real 2 s H.264 MP4 from the simulator's renderer."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    render_video(
        path, mode="text-to-video", width=320, height=180, seconds=2, prompt="x", images=[]
    )
    return path.read_bytes()


class Handler(BaseHTTPRequestHandler):
    """Hands every GET to the server's `answer`, after recording its headers."""

    protocol_version = "HTTP/1.1"
    server: Origin

    def do_GET(self) -> None:
        self.server.requests.append(dict(self.headers.items()))
        self.server.answer(self, len(self.server.requests))

    def log_message(self, format: str, *args: object) -> None:
        pass

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()


class Origin(ThreadingHTTPServer):
    """A loopback server playing `answer(handler, n)` for the n-th request (1-based)."""

    daemon_threads = True

    def __init__(self, answer: Callable[[Handler, int], None]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.requests: list[dict[str, str]] = []
        self.release = threading.Event()  # lets a stalled answer finish
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/videos/result.mp4?sig=abc"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up mid-body is what several tests do on purpose

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def origin() -> Iterator[Callable[[Callable[[Handler, int], None]], Origin]]:
    started: list[Origin] = []

    def start(answer: Callable[[Handler, int], None]) -> Origin:
        server = Origin(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


def whole(body: bytes, *, ranges: bool = True) -> Callable[[Handler, int], None]:
    """Answer like a CDN: the whole file, or the asked range of it (if its ETag still holds)."""
    etag = etag_of(body)

    def answer(h: Handler, n: int) -> None:
        common = {"Content-Type": "video/mp4", "ETag": etag}
        if ranges:
            common["Accept-Ranges"] = "bytes"
        wanted = h.headers.get("Range", "")
        if ranges and wanted.startswith("bytes=") and h.headers.get("If-Range") == etag:
            start = int(wanted[6:].split("-")[0])
            part = body[start:]
            h.head(
                206,
                {
                    **common,
                    "Content-Length": str(len(part)),
                    "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}",
                },
            )
            h.wfile.write(part)
            return
        h.head(200, {**common, "Content-Length": str(len(body))})
        h.wfile.write(body)

    return answer


def cut(body: bytes, at: int, **headers: str) -> Callable[[Handler, int], None]:
    """Promise the whole body in Content-Length, send `at` bytes of it, and hang up."""

    def answer(h: Handler, n: int) -> None:
        h.head(200, {"Content-Type": "video/mp4", "Content-Length": str(len(body)), **headers})
        h.wfile.write(body[:at])
        h.close_connection = True

    return answer


def status(code: int, text: bytes = b"<html>no</html>") -> Callable[[Handler, int], None]:
    def answer(h: Handler, n: int) -> None:
        h.head(code, {"Content-Type": "text/html", "Content-Length": str(len(text))})
        h.wfile.write(text)

    return answer


def then(first: Callable[[Handler, int], None], rest: Callable[[Handler, int], None]):
    """Play `first` for the first request and `rest` for every later one."""
    return lambda h, n: (first if n == 1 else rest)(h, n)


def fetch(url: str, dest: Path, **options: object) -> Path:
    """download() on a fresh downloader whose transport retries without waiting."""

    async def main() -> Path:
        async with new_downloader(retry_backoff=0) as http:
            return await download(http, url, dest, retry_backoff=0, **options)  # type: ignore[arg-type]

    return asyncio.run(main())


def refused(url: str, dest: Path, **options: object) -> sd.DownloadError:
    with pytest.raises(sd.DownloadError) as info:
        fetch(url, dest, **options)
    error = info.value
    assert "job.download()" in str(error), str(error)
    assert error.url == url and error.path == str(dest)
    assert not dest.exists() and not part_path(dest).exists()
    assert list(dest.parent.iterdir()) == []
    return error


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# ---- verify_video decodes through the last frame ----------------------------------------------


def packets(video: bytes, tmp_path: Path) -> list[tuple[int, int]]:
    """(offset, size) in the file of each video packet."""
    path = tmp_path / "whole.mp4"
    path.write_bytes(video)
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size]


def test_a_whole_video_is_verified_with_its_length(video, tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(video)
    assert abs(verify_video(path) - 2.0) <= 1 / 24


def test_half_a_video_passes_the_header_but_not_verification(video, tmp_path):
    path = tmp_path / "half.mp4"
    path.write_bytes(video[: len(video) // 2])
    with av.open(str(path)) as container:  # the index is up front: the header says 2 s
        stream = container.streams.video[0]
        assert float(stream.duration * stream.time_base) == 2.0
    with pytest.raises(ValueError, match=r"cut short|does not decode"):
        verify_video(path)


def test_a_video_cut_between_two_frames_is_refused(video, tmp_path):
    """No packet is damaged, the last 16 are simply missing."""
    offset, _ = packets(video, tmp_path)[32]
    path = tmp_path / "cut.mp4"
    path.write_bytes(video[:offset])
    with pytest.raises(ValueError, match="decodes to 32 of its 48 frames"):
        verify_video(path)


def test_a_video_missing_its_last_bytes_is_refused(video, tmp_path):
    path = tmp_path / "nearly.mp4"
    path.write_bytes(video[:-10])
    with pytest.raises(ValueError, match="cut short"):
        verify_video(path)


def test_a_damaged_frame_in_the_middle_is_refused(video, tmp_path):
    offset, size = packets(video, tmp_path)[24]
    damaged = bytearray(video)
    damaged[offset : offset + size] = bytes(size)
    path = tmp_path / "damaged.mp4"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="does not decode"):
        verify_video(path)


@pytest.mark.parametrize(
    "body", [b"<html><body>Not found</body></html>", b"", b"\x00\x00\x00\x18ftypisom" + bytes(64)]
)
def test_something_that_is_not_a_video_is_refused(tmp_path, body):
    path = tmp_path / "v.mp4"
    path.write_bytes(body)
    with pytest.raises(ValueError, match=r"v\.mp4"):
        verify_video(path)


# ---- downloads ---------------------------------------------------------------------------------


def test_a_whole_video_is_saved_verified_and_nothing_else_is_left(origin, video, tmp_path):
    server = origin(whole(video))
    dest = tmp_path / "exp" / "task_1.mp4"
    assert fetch(server.url, dest) == dest
    assert dest.read_bytes() == video and decoded_frames(dest) == 48
    assert sorted(p.name for p in dest.parent.iterdir()) == ["task_1.mp4"]
    assert server.requests[0]["Accept-Encoding"] == "identity"


def test_a_second_download_replaces_a_stale_part_and_the_old_file(origin, video, tmp_path):
    server = origin(whole(video))
    dest = tmp_path / "task_1.mp4"
    dest.write_bytes(b"an older file")
    part_path(dest).write_bytes(b"left by a process that was killed" * 1000)
    fetch(server.url, dest)
    assert dest.read_bytes() == video and not part_path(dest).exists()


@pytest.mark.parametrize("code", [403, 404, 410])
def test_an_expired_link_is_refused_at_once_and_says_so(origin, tmp_path, code):
    server = origin(status(code))
    error = refused(server.url, tmp_path / "v.mp4")
    assert error.expired is True
    assert f"HTTP {code}" in str(error) and "fresh link" in str(error)
    assert len(server.requests) == 1  # a 4xx is an answer, not a hiccup
    assert "sig=abc" not in str(error)  # the message names the host, not the signed URL


def test_a_server_error_is_retried_before_the_body_then_refused(origin, tmp_path):
    server = origin(status(503))
    error = refused(server.url, tmp_path / "v.mp4")
    assert error.expired is False and "HTTP 503" in str(error)
    assert len(server.requests) == 5  # the transport's four retries, streaming or not


def test_a_server_error_then_the_video_is_saved(origin, video, tmp_path):
    server = origin(then(status(502), whole(video)))
    dest = tmp_path / "v.mp4"
    fetch(server.url, dest)
    assert dest.read_bytes() == video and len(server.requests) == 2


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("text/html; charset=utf-8", b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML"),
        ("video/mp4", b"<html><body>Access denied</body></html>" * 100, "HTML"),  # it lies
        ("application/json", b'{"error": "expired", "code": 7}', "JSON"),
        ("video/mp4", b"", "empty body"),
        ("video/mp4", b"GIF89a" + bytes(200), "not an MP4"),
    ],
    ids=["html", "html-labelled-video", "json", "empty", "gif"],
)
def test_a_page_instead_of_a_video_is_refused(origin, tmp_path, content_type, body, kind):
    def answer(h: Handler, n: int) -> None:
        h.head(200, {"Content-Type": content_type, "Content-Length": str(len(body))})
        h.wfile.write(body)

    server = origin(answer)
    error = refused(server.url, tmp_path / "v.mp4")
    assert kind in str(error) and "not a video" in str(error) and error.expired is False


def test_a_body_shorter_than_its_content_length_is_refused(origin, video, tmp_path):
    server = origin(cut(video, len(video) // 2))
    error = refused(server.url, tmp_path / "v.mp4")
    assert f"after {len(video) // 2} of {len(video)} bytes" in str(error)
    assert "dropped mid-body 3 times" in str(error)
    assert len(server.requests) == 3  # bounded


def test_a_chunked_body_cut_in_half_is_refused(origin, video, tmp_path):
    def answer(h: Handler, n: int) -> None:
        h.head(200, {"Content-Type": "video/mp4", "Transfer-Encoding": "chunked"})
        half = video[: len(video) // 2]
        h.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")  # no closing 0 chunk
        h.close_connection = True

    server = origin(answer)
    error = refused(server.url, tmp_path / "v.mp4", attempts=2)
    assert "dropped mid-body 2 times" in str(error) and len(server.requests) == 2


@pytest.mark.parametrize("framing", ["until-close", "chunked"])
def test_half_a_video_that_ends_cleanly_is_refused_by_decoding(origin, video, tmp_path, framing):
    """The transport sees a complete answer; only decoding shows half the frames are missing."""
    half = video[: len(video) // 2]

    def answer(h: Handler, n: int) -> None:
        if framing == "chunked":
            h.head(200, {"Content-Type": "video/mp4", "Transfer-Encoding": "chunked"})
            h.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n0\r\n\r\n")
        else:
            h.head(200, {"Content-Type": "video/mp4", "Connection": "close"})
            h.wfile.write(half)
            h.close_connection = True

    server = origin(answer)
    error = refused(server.url, tmp_path / "v.mp4")
    assert "not a whole video" in str(error) and len(server.requests) == 1


def test_a_dropped_connection_resumes_with_a_range_request(origin, video, tmp_path):
    half = len(video) // 2
    ranges = {"Accept-Ranges": "bytes", "ETag": etag_of(video)}
    server = origin(then(cut(video, half, **ranges), whole(video)))
    dest = tmp_path / "v.mp4"
    fetch(server.url, dest)
    assert dest.read_bytes() == video and decoded_frames(dest) == 48
    assert len(server.requests) == 2
    assert server.requests[1]["Range"] == f"bytes={half}-"
    assert server.requests[1]["If-Range"] == etag_of(video)


def test_a_dropped_connection_without_ranges_starts_over(origin, video, tmp_path):
    server = origin(then(cut(video, len(video) // 3), whole(video, ranges=False)))
    dest = tmp_path / "v.mp4"
    fetch(server.url, dest)
    assert dest.read_bytes() == video and len(server.requests) == 2
    assert "Range" not in server.requests[1]


def test_a_range_request_answered_whole_starts_over(origin, video, tmp_path):
    """The file changed (If-Range no longer matches): the server sends all of it with 200."""
    server = origin(
        then(cut(video, 1000, **{"Accept-Ranges": "bytes", "ETag": '"old"'}), whole(video))
    )
    dest = tmp_path / "v.mp4"
    fetch(server.url, dest)
    assert server.requests[1]["Range"] == "bytes=1000-"
    assert dest.read_bytes() == video


def test_an_unreachable_server_is_refused_with_what_to_do(tmp_path):
    server = Origin(status(200))
    url = server.url
    server.stop()  # nothing listens on that port now
    error = refused(url, tmp_path / "v.mp4")
    assert "could not be reached" in str(error) and error.expired is False


def test_verification_runs_off_the_event_loop(origin, video, tmp_path, monkeypatch):
    threads: list[threading.Thread] = []

    def spy(path: Path) -> float:
        threads.append(threading.current_thread())
        return verify_video(path)

    monkeypatch.setattr(_download, "verify_video", spy)
    fetch(origin(whole(video)).url, tmp_path / "v.mp4")
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_a_cancelled_download_leaves_no_file(origin, video, tmp_path):
    def stall(h: Handler, n: int) -> None:
        h.head(200, {"Content-Type": "video/mp4", "Content-Length": str(len(video))})
        h.wfile.write(video[:5000])
        h.wfile.flush()
        h.server.release.wait(30)  # type: ignore[attr-defined]

    server = origin(stall)
    dest = tmp_path / "v.mp4"

    async def main() -> None:
        async with new_downloader() as http:
            task = asyncio.ensure_future(download(http, server.url, dest))
            while not (part_path(dest).exists() and part_path(dest).stat().st_size >= 5000):
                await asyncio.sleep(0.005)  # waiting on a condition, inside the loop
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []


# ---- a full disk -------------------------------------------------------------------------------

FULL_DISK_CHILD = r"""
import asyncio, json, os, sys
from pathlib import Path
import seedance_nb as sd
from seedance_nb.runtime._download import download, new_downloader

url, folder = sys.argv[1], Path(sys.argv[2])
stat = os.statvfs(folder)

async def main():
    async with new_downloader() as http:
        await download(http, url, folder / "exp" / "v.mp4")

try:
    asyncio.run(main())
    outcome = {"error": None}
except sd.DownloadError as exc:
    cause = exc.__context__
    outcome = {"error": str(exc), "expired": exc.expired,
               "errno": getattr(cause, "errno", None)}
outcome["left"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
outcome["capacity"] = stat.f_blocks * stat.f_frsize
print(json.dumps(outcome))
"""


def in_tiny_tmpfs(folder: Path, size: str) -> list[str] | None:
    """A command prefix that runs a program with a `size` tmpfs mounted at `folder`, in a private
    mount namespace (so it vanishes with the process), or None if this machine cannot."""
    if not shutil.which("unshare"):
        return None
    mount = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'
    for flags in (["--mount"], ["--mount", "--map-root-user"]):
        prefix = ["unshare", *flags, "sh", "-c", mount, "sh", size, str(folder)]
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return prefix
    return None


def test_a_full_disk_is_refused_and_leaves_nothing(origin, video, tmp_path):
    """A real ENOSPC: a 16 KiB tmpfs, smaller than the video, in a private mount namespace."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    prefix = in_tiny_tmpfs(folder, "16k")
    if prefix is None:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces, and unshare)")
    server = origin(whole(video))
    child = subprocess.run(
        [*prefix, sys.executable, "-c", FULL_DISK_CHILD, server.url, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    assert 0 < outcome["capacity"] < len(video)  # the download really could not fit
    assert outcome["errno"] == errno.ENOSPC
    assert "the disk is full" in outcome["error"] and "free some space" in outcome["error"]
    assert "job.download() fetches it again" in outcome["error"]
    assert outcome["expired"] is False and outcome["left"] == []
    assert list(folder.iterdir()) == []  # and the tmpfs went with its namespace


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_write_error_from_dev_full_is_a_full_disk_too(origin, video, tmp_path):
    """The same ENOSPC from /dev/full, through a .part that a symlink points there."""
    dest = tmp_path / "v.mp4"
    part_path(dest).symlink_to("/dev/full")
    error = refused(origin(whole(video)).url, dest)
    assert "the disk is full" in str(error)
    assert isinstance(error.__context__, OSError) and error.__context__.errno == errno.ENOSPC


# ---- kill -9 mid-download ----------------------------------------------------------------------

KILLED_CHILD = r"""
import asyncio, sys
from pathlib import Path
from seedance_nb.runtime._download import download, new_downloader

async def main():
    async with new_downloader() as http:
        await download(http, sys.argv[1], Path(sys.argv[2]))

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL")
def test_kill_9_mid_download_leaves_no_video_and_the_next_download_succeeds(
    origin, video, tmp_path
):
    half = len(video) // 2
    state = {"stall": True}

    def answer(h: Handler, n: int) -> None:
        if not state["stall"]:
            return whole(video)(h, n)
        h.head(200, {"Content-Type": "video/mp4", "Content-Length": str(len(video))})
        h.wfile.write(video[:half])
        h.wfile.flush()
        h.server.release.wait(60)  # type: ignore[attr-defined]
        return None

    server = origin(answer)
    dest = tmp_path / "exp" / "task_1.mp4"
    part = part_path(dest)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, server.url, str(dest)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_until(lambda: part.exists() and part.stat().st_size >= half, timeout=60), (
            "the child never wrote half the body"
        )
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()  # type: ignore[union-attr]
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == [part.name]  # at most the .part

    state["stall"] = False
    server.release.set()
    assert fetch(server.url, dest) == dest
    assert decoded_frames(dest) == 48 and dest.read_bytes() == video
    assert not part.exists()


# ---- bounded memory ----------------------------------------------------------------------------

SIZE = 256 * MiB

RSS_CHILD = r"""
import asyncio, json, resource, sys
from pathlib import Path
import httpx
from seedance_nb.runtime._download import download, new_downloader

url, dest, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

async def ours():
    async with new_downloader() as http:
        await download(http, url, dest, verify=False)

async def plain():
    async with httpx.AsyncClient() as http, http.stream("GET", url) as response:
        with dest.open("wb") as out:
            async for chunk in response.aiter_bytes(1 << 20):
                out.write(chunk)

async def buffered():  # the old way: the retry transport reads the whole body
    async with new_downloader() as http:
        response = await http.get(url)
        dest.write_bytes(response.content)

async def warm_up():  # imports, the loop, a connection, the thread pool: not the download
    async with new_downloader() as http:
        await http.get(url + "&small=1")
    await asyncio.to_thread(int)

def now_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

asyncio.run(warm_up())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
current = now_kib()
asyncio.run({"ours": ours, "httpx": plain, "buffered": buffered}[mode]())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "current_kib": current, "after_kib": after,
                  "size": dest.stat().st_size}))
"""


def big(h: Handler, n: int) -> None:
    """256 MiB made on the fly: an MP4's first box, then zeros, a MiB at a time."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41"
    size = len(head) if "small=1" in h.path else SIZE
    h.head(200, {"Content-Type": "video/mp4", "Content-Length": str(size)})
    h.wfile.write(head)
    block = bytes(MiB)
    left = size - len(head)
    while left > 0:
        h.wfile.write(block[: min(left, MiB)])
        left -= min(left, MiB)


# Linux carries a process's peak RSS across exec, so a child spawned straight from this test
# process would start with pytest's peak as its ru_maxrss. A small launcher in between has
# its own, small peak to pass on.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def rise(server: Origin, tmp_path: Path, mode: str) -> float:
    """MiB by which the peak RSS of a fresh process rose during one 256 MiB download."""
    dest = tmp_path / f"{mode}.mp4"
    launch = [sys.executable, "-c", LAUNCHER, sys.executable, "-c", RSS_CHILD]
    child = subprocess.run(
        [*launch, server.url, str(dest), mode],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    assert outcome["size"] == SIZE
    # the peak so far is about what the process holds now, so a rise above it is the download's
    assert outcome["before_kib"] - outcome["current_kib"] < 8 * 1024
    dest.unlink()
    return (outcome["after_kib"] - outcome["before_kib"]) / 1024


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and ru_maxrss in KiB")
def test_a_256_mib_download_raises_peak_memory_by_less_than_64_mib(origin, tmp_path, capsys):
    server = origin(big)
    ours = rise(server, tmp_path, "ours")
    plain = rise(server, tmp_path, "httpx")
    buffered = rise(server, tmp_path, "buffered")
    with capsys.disabled():
        print(
            f"\npeak RSS rise for 256 MiB: download() {ours:.1f} MiB, plain httpx stream "
            f"{plain:.1f} MiB, whole body through the transport {buffered:.1f} MiB"
        )
    assert ours < 64
    assert buffered > 200  # the measure does see a body held in memory


# ---- the transport's policy, as pure functions -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "extensions", "outcome", "attempt", "expected"),
    [
        ("GET", {}, 503, 0, True),
        ("GET", {}, 500, 3, True),
        ("GET", {}, 500, 4, False),  # max_retries is 4
        ("GET", {}, 429, 0, True),
        ("GET", {}, 404, 0, False),
        ("GET", {}, 200, 0, False),
        ("GET", {}, httpx.ConnectError("refused"), 0, True),
        ("GET", {}, httpx.ReadTimeout("slow"), 2, True),
        ("GET", {}, ValueError("a bug"), 0, False),
        ("GET", {STREAM: True}, httpx.RemoteProtocolError("dropped"), 0, True),
        ("HEAD", {}, 502, 1, True),
        ("POST", {}, 503, 0, False),
        ("POST", {}, httpx.ReadTimeout("slow"), 0, False),
        ("POST", {}, httpx.ConnectError("refused"), 0, False),
        ("POST", {STREAM: True}, 503, 0, False),
        ("POST", {RETRY_SAFE: True}, 503, 0, True),
        ("POST", {RETRY_SAFE: True}, httpx.ReadError("reset"), 1, True),
        ("POST", {RETRY_SAFE: True}, 400, 0, False),
    ],
)
def test_should_retry(method, extensions, outcome, attempt, expected):
    assert should_retry(method, extensions, outcome, attempt, 4) is expected


def test_retry_delay_backs_off_with_jitter_up_to_a_cap():
    low = [retry_delay(a, None, 0.5, 8.0, rand=lambda: 0.0) for a in range(7)]
    high = [retry_delay(a, None, 0.5, 8.0, rand=lambda: 0.999999) for a in range(7)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [round(h, 3) for h in high] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("86400", 60.0), ("soon", 0.25), ("0", 0.25), ("nan", 0.25)],
)
def test_retry_delay_honours_a_useful_retry_after(header, expected):
    response = httpx.Response(503, headers={"Retry-After": header})
    assert retry_delay(0, response, 0.5, 8.0, rand=lambda: 0.0) == expected


# ---- the transport's streaming mode ------------------------------------------------------------


class Body(httpx.AsyncByteStream):
    """A response body that counts how much of it was read, and may break half-way."""

    def __init__(self, *, breaks: bool = False) -> None:
        self.read = 0
        self.breaks = breaks

    async def __aiter__(self):
        for _ in range(4):
            self.read += 1
            yield b"x" * 1000
            if self.breaks and self.read == 2:
                raise httpx.RemoteProtocolError("peer closed connection")


def send(transport: RetryTransport, extensions: dict) -> httpx.Response:
    async def main() -> httpx.Response:
        request = httpx.Request("GET", "https://cdn.test/v.mp4", extensions=extensions)
        return await transport.handle_async_request(request)

    return asyncio.run(main())


def test_a_streamed_body_is_handed_over_unread():
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(Body())
        return httpx.Response(200, stream=bodies[-1])

    send(RetryTransport(httpx.MockTransport(handler)), {STREAM: True})
    send(RetryTransport(httpx.MockTransport(handler)), {})
    assert [b.read for b in bodies] == [0, 4]


def test_a_streamed_body_cut_off_is_left_to_the_caller(monkeypatch):
    monkeypatch.setattr(_transport, "asyncio", type("A", (), {"sleep": staticmethod(_no_wait)}))
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, stream=Body(breaks=True))

    response = send(RetryTransport(httpx.MockTransport(handler)), {STREAM: True})

    async def drain() -> None:
        async for _ in response.aiter_raw():
            pass

    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(drain())
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(httpx.RemoteProtocolError):  # read here: retried, then raised
        send(RetryTransport(httpx.MockTransport(handler)), {})
    assert len(calls) == 5


async def _no_wait(seconds: float) -> None:
    return None


def test_a_streamed_get_is_still_retried_before_its_body(monkeypatch):
    monkeypatch.setattr(_transport, "asyncio", type("A", (), {"sleep": staticmethod(_no_wait)}))
    answers = [httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200)]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert send(RetryTransport(httpx.MockTransport(handler)), {STREAM: True}).status_code == 200
    assert answers == []
