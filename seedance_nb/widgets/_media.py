"""Small media helpers for the views: a poster frame small enough to live in a notebook."""

from __future__ import annotations

import io
from pathlib import Path

POSTER_WIDTH = 240  # small: it is saved twice (widget state and the static card)


def poster(path: Path, width: int = POSTER_WIDTH) -> bytes:
    """The video's first frame as a small JPEG (a few KB), or b'' if it cannot be read."""
    import av

    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, OSError):
        return b""
    image = frame.to_image()
    image.thumbnail((width, width))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=60)
    return out.getvalue()
