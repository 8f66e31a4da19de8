"""Real H.264 MP4s for the simulator, quick to make and useful to look at.

Text-to-video pans across a landscape whose colours and shapes come from the prompt; image modes
pan and zoom over the given images (a clear placeholder where an image cannot be fetched
offline); every clip carries the prompt as a caption and a "SIMULATED" tag. Everything that can
be drawn once is drawn once; the per-frame work is slicing, one blend at most, and swscale.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

DEFAULT_SIZE = (1280, 720)
UPSCALE_SHORT_SIDE = {"2k": 1440, "4k": 2160}
ZOOM = 1.12  # how far the camera moves in over a clip


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def output_size(
    resolution: str | None, upscale: str | None, images: Sequence[Path | str] = ()
) -> tuple[int, int]:
    """The size a task renders at: its resolution (or the first image's shape at about 720p),
    scaled up so the short side is 1440 (2k) or 2160 (4k)."""
    if resolution:
        width, height = (int(v) for v in resolution.split("x"))
    else:
        width, height = DEFAULT_SIZE
        shape = next((s for s in map(_image_shape, images) if s), None)
        if shape:
            scale = 720 / min(shape)
            width, height = _even(shape[0] * scale), _even(shape[1] * scale)
    if upscale:
        scale = UPSCALE_SHORT_SIDE[upscale] / min(width, height)
        width, height = _even(width * scale), _even(height * scale)
    return width, height


def cache_key(**params: object) -> str:
    """A stable digest of everything that changes the picture (files by size and mtime)."""

    def describe(value: object) -> object:
        if isinstance(value, Path):
            stat = value.stat() if value.exists() else None
            return [str(value), stat.st_size, stat.st_mtime_ns] if stat else str(value)
        if isinstance(value, list | tuple):
            return [describe(v) for v in value]
        return value

    canonical = json.dumps({k: describe(v) for k, v in params.items()}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


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
) -> Path:
    """Render the clip to `dest` atomically (a temporary name, then a rename)."""
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"cannot render {width}x{height}: need even sizes of at least 16")
    if min(width, height) >= 1440:
        fps = min(fps, 12)  # upscaled clips: same size and length, fewer frames to encode
    count = seconds * fps
    overlay = _Overlay(width, height, prompt, model)
    if mode == "text-to-video" or not images:
        frames = _landscape(width, height, count, prompt or "")
    else:
        pictures = [_load(ref, width, height) for ref in images]
        frames = _slideshow(pictures, width, height, count)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        _encode(tmp, width, height, fps, (overlay.apply(f, i, count) for i, f in enumerate(frames)))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _encode(path: Path, width: int, height: int, fps: int, frames: Iterator[np.ndarray]) -> None:
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        stream.codec_context.thread_count = 0
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


# ---- text-to-video: a landscape from the prompt ---------------------------------------------


def _palette(prompt: str) -> np.ndarray:
    """Four colours (sky top, sky bottom, far hills, near hills) chosen by the prompt."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    hue = rng.uniform(0, 1)

    def hsv(h: float, s: float, v: float) -> np.ndarray:
        rgb = Image.new("HSV", (1, 1), (int(h % 1 * 255), int(s * 255), int(v * 255)))
        return np.array(rgb.convert("RGB"))[0, 0].astype(np.float32)

    return np.stack(
        [
            hsv(hue, 0.55, 0.55),
            hsv(hue + 0.08, 0.45, 0.95),
            hsv(hue + 0.45, 0.5, 0.45),
            hsv(hue + 0.5, 0.6, 0.25),
        ]
    )


def _landscape(width: int, height: int, count: int, prompt: str) -> Iterator[np.ndarray]:
    """Pan across a canvas wider than the frame, with a sun crossing the sky."""
    colours = _palette(prompt)
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[8:16], "big")
    rng = np.random.default_rng(seed)
    travel = width // 3
    canvas_w = width + travel
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = colours[0] * (1 - t) + colours[1] * t
    canvas = np.broadcast_to(sky, (height, canvas_w, 3)).copy()
    x = np.arange(canvas_w, dtype=np.float32)
    rows = np.arange(height, dtype=np.float32)[:, None]
    for layer, (base, amp) in enumerate(((0.62, 0.10), (0.78, 0.08))):
        freq = rng.uniform(1.5, 4.0, size=3) * 2 * np.pi / canvas_w
        phase = rng.uniform(0, 2 * np.pi, size=3)
        ridge = base + amp * sum(np.sin(f * x + p) for f, p in zip(freq, phase, strict=True)) / 3
        mask = rows / height > ridge[None, :]
        canvas[mask] = colours[2 + layer]
    canvas = canvas.astype(np.uint8)
    radius = max(8, height // 12)
    yy, xx = np.mgrid[-radius:radius, -radius:radius]
    disk = (xx**2 + yy**2) < radius**2
    sun = np.array([255, 236, 180], np.uint8)
    for i in range(count):
        p = i / max(1, count - 1)
        frame = canvas[:, int(p * travel) : int(p * travel) + width].copy()
        cx = int(width * (0.15 + 0.7 * p))
        cy = int(height * (0.35 - 0.15 * np.sin(np.pi * p)))
        patch = frame[cy - radius : cy + radius, cx - radius : cx + radius]
        patch[disk[: patch.shape[0], : patch.shape[1]]] = sun
        yield frame


# ---- image modes: pan and zoom over pictures ------------------------------------------------


def _load(ref: Path | str, width: int, height: int) -> np.ndarray:
    """The picture scaled to cover the frame with room to zoom; a placeholder if unreadable."""
    cover = (_even(width * ZOOM), _even(height * ZOOM))
    try:
        with Image.open(ref) as img:
            picture = ImageOps.fit(img.convert("RGB"), cover, Image.Resampling.BILINEAR)
    except (OSError, ValueError, TypeError):
        picture = _placeholder(str(ref), cover)
    return np.asarray(picture)


def _placeholder(ref: str, size: tuple[int, int]) -> Image.Image:
    width, height = size
    stripes = ((np.add.outer(np.arange(height), np.arange(width)) // 40) % 2).astype(np.uint8)
    img = Image.fromarray((70 + 18 * stripes).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(14, height // 18))
    small = ImageFont.load_default(size=max(12, height // 30))
    shown = ref if len(ref) <= 60 else ref[:28] + "…" + ref[-28:]
    draw.text(
        (width / 2, height / 2),
        "reference unavailable offline",
        font=font,
        fill=(235, 235, 235),
        anchor="md",
    )
    draw.text(
        (width / 2, height / 2 + height // 30), shown, font=small, fill=(200, 200, 200), anchor="ma"
    )
    return img


def _slideshow(
    pictures: list[np.ndarray], width: int, height: int, count: int
) -> Iterator[np.ndarray]:
    """Each picture in turn with a slow zoom, cross-fading into the next."""
    per = count / len(pictures)
    fade = min(per / 2, 12)
    big_h, big_w = pictures[0].shape[:2]
    for i in range(count):
        k = min(len(pictures) - 1, int(i / per))
        local = (i - k * per) / per
        frame = _zoomed(pictures[k], local, width, height, big_w, big_h)
        into_next = i - (k + 1) * per + fade
        if k + 1 < len(pictures) and into_next > 0:
            other = _zoomed(pictures[k + 1], 0.0, width, height, big_w, big_h)
            alpha = int(256 * into_next / fade)
            frame = ((frame.astype(np.uint16) * (256 - alpha) + other * alpha) >> 8).astype(
                np.uint8
            )
        yield frame


def _zoomed(
    picture: np.ndarray, progress: float, width: int, height: int, big_w: int, big_h: int
) -> np.ndarray:
    """A crop that shrinks and drifts as `progress` goes 0 -> 1, scaled to the frame."""
    zoom = 1 + (ZOOM - 1) * progress
    crop_w, crop_h = _even(big_w / zoom), _even(big_h / zoom)
    x0 = int((big_w - crop_w) * (0.5 + 0.4 * (progress - 0.5)))
    y0 = (big_h - crop_h) // 2
    crop = np.ascontiguousarray(picture[y0 : y0 + crop_h, x0 : x0 + crop_w])
    if crop.shape[:2] == (height, width):
        return crop
    frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
    return frame.reformat(width=width, height=height, interpolation="BILINEAR").to_ndarray()


# ---- what every clip carries ---------------------------------------------------------------


class _Overlay:
    """The caption band, the SIMULATED tag and a progress line, drawn once and pasted."""

    def __init__(self, width: int, height: int, prompt: str | None, model: str) -> None:
        size = max(12, height // 26)
        font = ImageFont.load_default(size=size)
        self.tag = self._label(f"SIMULATED · {model}", ImageFont.load_default(size=size))
        self.band = None
        if prompt:
            chars = max(20, int(width / (size * 0.55)))
            lines = textwrap.wrap(prompt, chars)[:2]
            band_h = _even(size * 1.4 * len(lines) + size)
            band = Image.new("RGB", (width, band_h), (18, 18, 24))
            draw = ImageDraw.Draw(band)
            for n, line in enumerate(lines):
                draw.text((size, size // 2 + n * size * 1.4), line, font=font, fill=(240, 240, 240))
            self.band = np.asarray(band)
        self.accent = np.array([255, 196, 64], np.uint8)

    @staticmethod
    def _label(text: str, font: ImageFont.FreeTypeFont) -> np.ndarray:
        left, top, right, bottom = font.getbbox(text)
        pad = max(4, (bottom - top) // 3)
        img = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), (200, 30, 60))
        ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill="white")
        return np.asarray(img)

    def apply(self, frame: np.ndarray, index: int, count: int) -> np.ndarray:
        if not frame.flags.writeable:
            frame = frame.copy()
        height, width = frame.shape[:2]
        th, tw = self.tag.shape[:2]
        frame[8 : 8 + th, 8 : 8 + tw] = self.tag[: height - 8, : width - 8]
        if self.band is not None:
            frame[height - self.band.shape[0] :] = self.band
        frame[height - 3 :, : int(width * (index + 1) / count)] = self.accent
        return frame


def _image_shape(ref: Path | str) -> tuple[int, int] | None:
    try:
        with Image.open(ref) as img:
            return img.size
    except (OSError, ValueError, TypeError):
        return None
