"""Render time of the simulator's MP4s against the encoder's own floor: the same number of
constant frames at the same size through the same encoder settings, in the same run."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._report import Figure, timeit

SECONDS, WIDTH, HEIGHT, FPS = 5, 1280, 720, 24


def run() -> list[Figure]:
    from PIL import Image

    from seedance_nb.simulator._render import _encode, render_video

    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    photo = work / "photo.png"
    Image.effect_mandelbrot((1600, 1200), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(photo)
    black = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    floor = timeit(
        lambda: _encode(
            work / "floor.mp4", WIDTH, HEIGHT, FPS, (black for _ in range(SECONDS * FPS))
        ),
        3,
    )
    prompt = "A golden retriever running on the beach at sunset"
    t2v = timeit(
        lambda: render_video(
            work / "t2v.mp4",
            mode="text-to-video",
            width=WIDTH,
            height=HEIGHT,
            seconds=SECONDS,
            prompt=prompt,
            images=[],
        ),
        3,
    )
    i2v = timeit(
        lambda: render_video(
            work / "i2v.mp4",
            mode="image-to-video",
            width=WIDTH,
            height=HEIGHT,
            seconds=SECONDS,
            prompt=None,
            images=[photo],
        ),
        3,
    )
    base = statistics.median(floor)
    return [
        Figure(
            "render 5 s 1280x720 text-to-video",
            statistics.median(t2v),
            "s",
            "encoder floor (constant frames)",
            base,
            "<= 2 s",
            statistics.median(t2v) <= 2,
        ),
        Figure(
            "render 5 s 1280x720 image-to-video",
            statistics.median(i2v),
            "s",
            "encoder floor (constant frames)",
            base,
            "<= 2 s",
            statistics.median(i2v) <= 2,
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
