"""Frames out of a clip: its last frame as a PNG (the next shot starts from it), the frames
either side of a seam, and a colour match by per-channel statistics (numpy only)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from av.video.frame import VideoFrame

# BT.709 full-range RGB <-> YCbCr, the colour space the comparisons and the match work in
_TO_YCC = np.array(
    [[0.2126, 0.7152, 0.0722], [-0.1146, -0.3854, 0.5], [0.5, -0.4542, -0.0458]], np.float64
)
_FROM_YCC = np.linalg.inv(_TO_YCC)


def _frames(path: Path, from_seconds: float = 0.0) -> list[VideoFrame]:
    """The clip's frames from the keyframe at or before `from_seconds` to the end."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if from_seconds > 0 and stream.time_base:
            container.seek(int(from_seconds / stream.time_base), stream=stream, backward=True)
        return list(container.decode(stream))


def duration(path: Path) -> float:
    """The clip's stated length in seconds (from its container), 0 if it states none."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1_000_000


def tail(path: Path, count: int) -> list[VideoFrame]:
    """The clip's last `count` frames, decoding from a keyframe near the end only."""
    length = duration(path)
    frames = _frames(path, max(0.0, length - 1.0)) if length > 1.0 else []
    if len(frames) < count:  # a long GOP (or a short clip): decode it all
        frames = _frames(path)
    return frames[-count:]


def head(path: Path, count: int) -> list[VideoFrame]:
    """The clip's first `count` frames (it stops decoding there)."""
    import av

    out: list[VideoFrame] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame)
            if len(out) >= count:
                break
    return out


def rgb(frame: VideoFrame) -> np.ndarray:
    """A decoded frame as an RGB uint8 array."""
    return frame.to_ndarray(format="rgb24")


def last_frame(path: Path) -> np.ndarray:
    """The clip's last frame, RGB uint8."""
    frames = tail(path, 1)
    if not frames:
        raise ValueError(f"{Path(path).name} has no frame to cut")
    return rgb(frames[-1])


def to_ycc(image: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3) to float YCbCr, Y in 0..255 and Cb, Cr centred on 0."""
    return image.astype(np.float64) @ _TO_YCC.T


def from_ycc(ycc: np.ndarray) -> np.ndarray:
    """Float YCbCr back to RGB uint8, clipped."""
    return np.clip(np.rint(ycc @ _FROM_YCC.T), 0, 255).astype(np.uint8)


def colour_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of Y, Cb and Cr over the picture."""
    ycc = to_ycc(image).reshape(-1, 3)
    return ycc.mean(axis=0), ycc.std(axis=0)


def colour_match(image: np.ndarray, reference: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """`image` with its Y, Cb and Cr means and spreads moved to `reference`'s (Reinhard-style
    transfer, the recipe chain users report holds colour drift back best); `strength` 0..1."""
    mean, std = colour_stats(image)
    ref_mean, ref_std = colour_stats(reference)
    ycc = to_ycc(image)
    matched = (ycc - mean) * (ref_std / np.maximum(std, 1e-6)) + ref_mean
    return from_ycc(ycc + (matched - ycc) * float(strength))


def save_png(image: np.ndarray, folder: Path, stem: str) -> Path:
    """Write the frame as a PNG named by its content (`stem-<sha>.png`) and return its path.

    The same pixels always give the same bytes and the same name, so a re-run hands the studio
    the same file and its request matches the earlier one (fingerprints hash the content).
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False)
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.png"
    if not path.exists() or path.read_bytes() != data:
        tmp = path.with_suffix(".png.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def tail_clip(path: Path, seconds: float, dest_folder: Path, stem: str) -> Path:
    """The clip's last `seconds` (from the keyframe at or before them) copied packet by packet
    into its own MP4, named by content like `save_png`: a video reference for the next shot."""
    import av

    tmp = dest_folder / f".{stem}.mp4.tmp"
    dest_folder.mkdir(parents=True, exist_ok=True)
    start = max(0.0, duration(path) - seconds)
    with av.open(str(path)) as src, av.open(str(tmp), "w", format="mp4") as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        if start > 0:
            src.seek(int(start / stream.time_base), stream=stream, backward=True)
        offset = None
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            if offset is None:
                offset = packet.dts
            packet.dts -= offset
            packet.pts = None if packet.pts is None else packet.pts - offset
            packet.stream = copy
            out.mux(packet)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:16]
    dest = dest_folder / f"{stem}-{digest}.mp4"
    tmp.replace(dest)
    return dest
