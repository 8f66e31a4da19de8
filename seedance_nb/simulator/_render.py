"""Real H.264 MP4s for the simulator, quick to make and useful to look at.

`render_video` writes one clip per completed task. Text-to-video draws the scene the prompt's
words describe (subjects, colours, time of day, weather, motion and camera: see `_scene`), the
rest of it chosen by the take's seed; the image modes move a camera over the given images (a
clear placeholder where an image cannot be fetched offline), each take its own way. One
(prompt, seed) always gives the same clip. Every clip carries a "SIMULATED" tag, the prompt as
a caption and a progress line, drawn once and blended per frame.
`output_size` (`_size`) says what size a task renders at and `cache_key` names a render for
reuse.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import queue
import tempfile
import textwrap
import threading
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from ._frames import (
    Planes,
    Sprite,
    blend_into,
    even,
    fill,
    font,
    pictures,
    planes,
    solid,
)
from ._landscape import landscape
from ._size import output_size

__all__ = ["cache_key", "output_size", "render_video"]

RENDERER_VERSION = 4  # part of every cache key: bump it when the pictures change
MODES = ("text-to-video", "image-to-video", "keyframes", "reference")
LARGE_SHORT_SIDE = 1440  # from here up, clips render at LARGE_FPS to keep render time sane
LARGE_FPS = 12

# encoder names in order of preference, and the options each understands
_ENCODERS: dict[str, dict[str, str]] = {
    "libx264": {"preset": "ultrafast", "crf": "29"},
    "libopenh264": {"allow_skip_frames": "0"},
    "h264": {},
}


def cache_key(**params: object) -> str:
    """A stable sha256 hex digest of the rendering parameters, to name a cached render.

    Local files count by path, size and modification time (so an edited file renders anew),
    strings (URLs) by themselves; the renderer's version is mixed in.
    """

    def describe(value: object) -> object:
        if isinstance(value, Path):
            try:
                stat = value.stat()
            except OSError:
                return ["missing", str(value)]
            return ["file", str(value), stat.st_size, stat.st_mtime_ns]
        if isinstance(value, list | tuple):
            return [describe(v) for v in value]
        return value

    described = {k: describe(v) for k, v in params.items()}
    described["renderer"] = RENDERER_VERSION
    canonical = json.dumps(described, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def render_video(
    dest: Path,
    *,
    mode: str,
    width: int,
    height: int,
    seconds: int,
    prompt: str | None,
    images: Sequence[Path | str],
    model: str = "seedance2",
    fps: int = 24,
    seed: int | None = None,
) -> Path:
    """Render a task's clip as an H.264 MP4 at `dest`, and return `dest`.

    `seed` is the take: each task draws its own, so two takes of one prompt differ, and one
    (prompt, seed) always renders the same clip; without one, the prompt alone decides.

    `images` are local Paths, or strings for URLs that cannot be fetched here (each becomes a
    placeholder). The file appears whole or not at all: it is written under a temporary name in
    the same folder and renamed. Clips whose short side is 1440 or more render at 12 fps.
    Raises ValueError for a size, length or mode it cannot render.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"cannot render {width}x{height}: need even sizes of at least 16")
    if seconds < 1 or fps < 1:
        raise ValueError(f"cannot render {seconds} s at {fps} fps")
    if min(width, height) >= LARGE_SHORT_SIDE:
        fps = min(fps, LARGE_FPS)
    count = seconds * fps
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    refs = [ref if isinstance(ref, Path | str) else str(ref) for ref in images]
    if mode == "text-to-video" or not refs:
        frames = landscape(width, height, count, prompt or "", seed=seed, fps=fps)
    else:
        frames = pictures(refs, width, height, count, mode, prompt=prompt, seed=seed)
    # a clip that starts from an image fades its caption in, so its first frame is the image
    fade = fps // 2 if mode in ("image-to-video", "keyframes") and refs else 0
    overlay = Overlay(width, height, prompt, model, fade=fade)
    fd, name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".mp4.tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        _encode(tmp, width, height, fps, _ahead(overlay.over(frames, count)))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


@functools.cache
def encoder() -> str:
    """The H.264 encoder this PyAV build has: libx264 if it can, else another one."""
    for name in _ENCODERS:
        try:
            av.Codec(name, "w")
        except Exception:  # PyAV raises several kinds for an absent codec
            continue
        return name
    raise RuntimeError("this PyAV build has no H.264 encoder")


def _encode(path: Path, width: int, height: int, fps: int, frames: Iterable[av.VideoFrame]) -> int:
    """Encode yuv420p frames to an MP4 with its index up front (faststart); returns the count."""
    name = encoder()
    time_base = Fraction(1, fps)
    count = 0
    options = {"movflags": "+faststart"}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream(name, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = dict(_ENCODERS[name])
        if name != "libx264":
            stream.bit_rate = width * height * fps // 10
        context = stream.codec_context
        context.thread_count = 0  # as many as the encoder likes
        context.color_range, context.colorspace = 1, 1  # limited range, BT.709: as drawn
        context.color_primaries, context.color_trc = 1, 1
        for frame in frames:
            frame.pts, frame.time_base = count, time_base
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode())
    return count


def _ahead(frames: Iterable[av.VideoFrame], depth: int = 4) -> Iterator[av.VideoFrame]:
    """The same frames, drawn in a worker thread up to `depth` ahead of the encoder.

    numpy, swscale and x264 all release the GIL, so drawing the next frames overlaps encoding
    the last ones (about a third off the render time on two cores). An error while drawing is
    raised here; if the consumer stops early the worker is told to stop and is waited for.
    """
    box: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                box.put((True, frame))
            box.put((False, None))
        except BaseException as exc:  # handed over to the consumer, which raises it
            box.put((False, exc))

    worker = threading.Thread(target=work, name="seedance-render", daemon=True)
    worker.start()
    try:
        while True:
            more, item = box.get()
            if not more:
                if isinstance(item, BaseException):
                    raise item
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a worker waiting to put, then let it finish
            with contextlib.suppress(queue.Empty):
                box.get(timeout=0.05)
        worker.join()


class Overlay:
    """What every clip carries, drawn once: the SIMULATED tag (top left), the prompt as a caption
    on a translucent band (bottom), and a thin line along the bottom edge showing time elapsed."""

    def __init__(
        self, width: int, height: int, prompt: str | None, model: str, fade: int = 0
    ) -> None:
        self.width, self.height = width, height
        self.fade = fade  # frames over which the caption fades in (0: there from the start)
        short = min(width, height)
        margin = even(short / 40)
        self.tag = Sprite(_label(f"SIMULATED · {model}", max(10, short // 40)))
        self.tag_at = (margin, margin)
        self.line_h = even(short / 240)
        self.accent = solid((255, 196, 64))
        self.band: Sprite | None = None
        if prompt and prompt.strip():
            band = _caption(prompt, width, max(11, short // 28), margin)
            self.band = Sprite(band)

    def draw(self, dst: Planes, index: int, count: int) -> None:
        """Blend the overlay onto frame `index` of `count`."""
        self.tag.blend(dst, *self.tag_at)
        if self.band is not None and index >= self.fade:
            self.band.blend(dst, 0, self.height - self.band.height)
        elif self.band is not None and index > 0:  # fading in: blend a copy with the caption
            top = self.height - self.band.height
            below = tuple(p[top // (1 if k == 0 else 2) :] for k, p in enumerate(dst))
            drawn = tuple(p.copy() for p in below)
            self.band.blend(drawn, 0, 0)  # type: ignore[arg-type]
            blend_into(below, drawn, index / self.fade)  # type: ignore[arg-type]
        done = even(self.width * (index + 1) / count) if index + 1 < count else self.width
        fill(dst, self.accent, 0, done, self.height - self.line_h, self.height)

    def over(self, frames: Iterable[av.VideoFrame], count: int) -> Iterable[av.VideoFrame]:
        """The frames with the overlay drawn on them."""
        for index, frame in enumerate(frames):
            self.draw(planes(frame), index, count)
            yield frame


def _label(text: str, size: int) -> np.ndarray:
    """A small rounded red tag with white text, RGBA."""
    face = font(size)
    left, top, right, bottom = face.getbbox(text)
    pad = max(3, size // 3)
    w, h = even(right - left + 2 * pad + 1), even(bottom - top + 2 * pad + 1)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=(200, 30, 60, 225))
    draw.text((pad - left, pad - top), text, font=face, fill=(255, 255, 255, 255))
    return np.asarray(img)


def _caption(prompt: str, width: int, size: int, margin: int) -> np.ndarray:
    """The prompt wrapped to at most three lines (the last ellipsised if cut) on a dark
    translucent band the width of the frame, RGBA."""
    face = font(size)
    room = width - 2 * margin
    chars = max(12, int(room / max(1.0, face.getlength("abcdefghij klmnopqrst") / 21)))
    lines = textwrap.wrap(" ".join(prompt.split()), chars)
    while chars > 12 and any(face.getlength(line) > room for line in lines):
        chars -= 2
        lines = textwrap.wrap(" ".join(prompt.split()), chars)
    if len(lines) > 3:
        lines = lines[:3]
        lines[2] = lines[2][: max(1, len(lines[2]) - 2)].rstrip() + "…"
    step = round(size * 1.3)
    band_h = even(step * len(lines) + size * 0.9)
    img = Image.new("RGBA", (width, band_h), (10, 10, 14, 150))
    draw = ImageDraw.Draw(img)
    for n, line in enumerate(lines):
        draw.text(
            (margin, round(size * 0.45) + n * step), line, font=face, fill=(245, 245, 245, 255)
        )
    return np.asarray(img)
