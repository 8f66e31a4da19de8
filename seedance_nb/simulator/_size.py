"""What size a task renders at: light enough (no PyAV, no numpy) for the createTask handler,
so a first task is created, and its clock started, before the renderer is loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DEFAULT_SIZE = (1280, 720)
UPSCALE_SHORT_SIDE = {"2k": 1440, "4k": 2160}


def even(value: float) -> int:
    """The nearest even whole number, at least 2 (yuv420p needs even sizes and offsets)."""
    return max(2, round(value / 2) * 2)


def output_size(
    resolution: str | None, upscale: str | None, images: Sequence[Path | str] = ()
) -> tuple[int, int]:
    """The size a task renders at, in pixels.

    The asked resolution ("1280x720"); without one, the first readable image's shape fitted to
    720p (short side at most 720, long side at most 1280), else 1280x720. An upscale ("2k",
    "4k") then scales it so the short side is 1440 or 2160. Always even numbers.
    """
    if resolution:
        width, height = (int(v) for v in resolution.lower().split("x"))
    else:
        width, height = DEFAULT_SIZE
        shape = next((s for s in map(_image_shape, images) if s), None)
        if shape:
            scale = min(720 / min(shape), 1280 / max(shape))
            width, height = even(shape[0] * scale), even(shape[1] * scale)
    if upscale:
        if upscale.lower() not in UPSCALE_SHORT_SIDE:
            raise ValueError(f"unknown upscale {upscale!r}; expected one of 2k, 4k")
        scale = UPSCALE_SHORT_SIDE[upscale.lower()] / min(width, height)
        width, height = even(width * scale), even(height * scale)
    return width, height


def _image_shape(ref: Path | str) -> tuple[int, int] | None:
    """An image file's (width, height), or None if it is a URL or cannot be read."""
    if not isinstance(ref, Path):
        return None
    from PIL import Image

    try:
        with Image.open(ref) as img:
            width, height = img.size
            if (img.getexif().get(0x0112) or 1) in (5, 6, 7, 8):  # stored turned a quarter
                width, height = height, width
            return width, height
    except Exception:  # anything unreadable is simply not measured
        return None
