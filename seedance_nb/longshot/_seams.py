"""Seams measured: how the cut from one shot into the next looks, before paying for another.

At each join the stitched video goes from shot A's last frame to shot B's second frame (B's
first frame repeats A's last and is dropped). A seam is measured on exactly that cut:

- ``ssim``: structural similarity of the two frames' luma (7x7 windows, numpy only);
- ``luma_jump`` / ``chroma_jump``: how far the mean Y, and the mean (Cb, Cr), move across it
  (0..255 levels);
- ``motion_before`` / ``motion_after``: the mean absolute luma difference between consecutive
  frames just before and just after the cut; ``motion_ratio`` is the smaller over the larger
  (1 = the motion carries on, near 0 = it stalls or lurches);
- ``drift``: how far shot B's last frame's mean colour (Y, Cb, Cr) is from shot 1's first frame.

The verdict, from these documented thresholds (`THRESHOLDS`):

- **broken** when ``ssim < 0.75`` or ``luma_jump > 20`` or ``chroma_jump > 10``: the next shot
  did not start from the previous frame (a jump cut). Smooth synthetic pictures (a sky, snow)
  keep SSIM fairly high even across a jump cut, hence the colour jumps beside it;
- **visible** when ``ssim < 0.85``, ``luma_jump > 6``, ``chroma_jump > 4``, a stall
  (``motion_ratio < 0.2`` while one side moves more than one level a frame), or ``drift > 16``;
- **smooth** otherwise.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._frames import head, tail

THRESHOLDS: dict[str, dict[str, float]] = {
    "broken": {"ssim_below": 0.75, "luma_jump_above": 20.0, "chroma_jump_above": 10.0},
    "visible": {
        "ssim_below": 0.85,
        "luma_jump_above": 6.0,
        "chroma_jump_above": 4.0,
        "motion_ratio_below": 0.2,
        "motion_floor": 1.0,
        "drift_above": 16.0,
    },
}
VERDICTS = ("smooth", "visible", "broken")
WINDOW = 4  # frames either side of the cut for the motion measure


@dataclass(frozen=True)
class Seam:
    """One seam's measures and verdict (between shot `shot - 1` and shot `shot`)."""

    shot: int
    ssim: float
    luma_jump: float
    chroma_jump: float
    motion_before: float
    motion_after: float
    motion_ratio: float
    drift: float
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _box(image: np.ndarray, size: int) -> np.ndarray:
    """Means over every `size` x `size` window (valid part only), by an integral image."""
    summed = np.zeros((image.shape[0] + 1, image.shape[1] + 1), np.float64)
    np.cumsum(np.cumsum(image, axis=0), axis=1, out=summed[1:, 1:])
    s = size
    total = summed[s:, s:] - summed[:-s, s:] - summed[s:, :-s] + summed[:-s, :-s]
    return total / (s * s)


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity of two same-sized greyscale images (0..255), as Wang et al.
    with uniform 7x7 windows (scikit-image's default), in numpy alone."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare frames of {a.shape} and {b.shape}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box(a, window), _box(b, window)
    n = window * window
    unbias = n / (n - 1)
    va = (_box(a * a, window) - ma * ma) * unbias
    vb = (_box(b * b, window) - mb * mb) * unbias
    cov = (_box(a * b, window) - ma * mb) * unbias
    num = (2 * ma * mb + c1) * (2 * cov + c2)
    den = (ma * ma + mb * mb + c1) * (va + vb + c2)
    return float((num / den).mean())


def planes(frame: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A decoded frame's Y, Cb, Cr planes as arrays (yuv420p read directly, no conversion)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    out = []
    for plane in frame.planes:
        flat = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
        out.append(flat.reshape(plane.height, plane.line_size)[:, : plane.width])
    return out[0], out[1], out[2]


def colour(frame: Any) -> np.ndarray:
    """Mean Y, Cb, Cr of a frame (0..255 levels)."""
    return np.array([float(p.mean()) for p in planes(frame)])


def _motion(lumas: list[np.ndarray]) -> float:
    diffs = [
        float(np.abs(x.astype(np.int16) - y.astype(np.int16)).mean())
        for x, y in itertools.pairwise(lumas)
    ]
    return float(np.mean(diffs)) if diffs else 0.0


def verdict(
    ssim_: float, luma: float, chroma: float, ratio: float, moving: float, drift: float
) -> str:
    """smooth, visible or broken, from `THRESHOLDS` (see the module's docstring)."""
    broken, visible = THRESHOLDS["broken"], THRESHOLDS["visible"]
    if (
        ssim_ < broken["ssim_below"]
        or luma > broken["luma_jump_above"]
        or chroma > broken["chroma_jump_above"]
    ):
        return "broken"
    stall = ratio < visible["motion_ratio_below"] and moving > visible["motion_floor"]
    if (
        ssim_ < visible["ssim_below"]
        or luma > visible["luma_jump_above"]
        or chroma > visible["chroma_jump_above"]
        or stall
        or drift > visible["drift_above"]
    ):
        return "visible"
    return "smooth"


def measure(before: Path, after: Path, first_colour: np.ndarray, shot: int) -> Seam:
    """The seam between clip `before` and clip `after` (shot number `shot`), with `after`'s
    colour drift against `first_colour` (shot 1's first frame's mean Y, Cb, Cr)."""
    a = tail(Path(before), WINDOW + 1)
    b = head(Path(after), WINDOW + 2)
    if not a or len(b) < 2:
        raise ValueError(f"shot {shot}'s seam needs frames on both sides of the cut")
    b = b[1:]  # its first frame repeats the previous shot's last one and is dropped
    pa, pb = planes(a[-1]), planes(b[0])
    if pa[0].shape != pb[0].shape:
        return Seam(shot, 0.0, 255.0, 255.0, 0.0, 0.0, 0.0, 255.0, "broken")
    ca, cb = colour(a[-1]), colour(b[0])
    luma = float(abs(cb[0] - ca[0]))
    chroma = float(np.hypot(cb[1] - ca[1], cb[2] - ca[2]))
    before_motion = _motion([planes(f)[0] for f in a])
    after_motion = _motion([planes(f)[0] for f in b])
    high = max(before_motion, after_motion)
    ratio = 1.0 if high < 1e-9 else min(before_motion, after_motion) / high
    end = tail(Path(after), 1)
    drift = float(np.linalg.norm(colour(end[-1]) - first_colour)) if end else 0.0
    score = ssim(pa[0], pb[0])
    word = verdict(score, luma, chroma, ratio, high, drift)
    return Seam(
        shot,
        round(score, 4),
        round(luma, 2),
        round(chroma, 2),
        round(before_motion, 3),
        round(after_motion, 3),
        round(ratio, 3),
        round(drift, 2),
        word,
    )


def first_colour(path: Path) -> np.ndarray:
    """Shot 1's first frame's mean Y, Cb, Cr: the reference drift is measured against."""
    frames = head(Path(path), 1)
    if not frames:
        raise ValueError(f"{Path(path).name} has no frame")
    return colour(frames[0])


def flicker(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per frame of a (stitched) video: mean luma, and colour distance from its first frame;
    what `Sequence.plot` draws as flicker and drift."""
    import av

    lumas, drifts = [], []
    start = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            c = colour(frame)
            start = c if start is None else start
            lumas.append(c[0])
            drifts.append(float(np.linalg.norm(c - start)))
    return np.array(lumas), np.array(drifts)
