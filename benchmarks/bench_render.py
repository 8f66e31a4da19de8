"""Render time of the simulator's MP4s against the encoder's own floor.

The floor is measured in the same run: the same number of frames of one precomputed black
yuv420p frame, at the same size, through the same encoder and settings (`_encode`), so it is
what encoding alone costs before anything is drawn. Goal (issue 3): a 5 s 1280x720 clip in at
most 2 s on the 2-core box. Besides the quickstart's prompt, a busy one (two subjects, a kite
line, rain and a zoom: every per-frame cost at once) shows the worst case.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks._report import Figure, timeit

SECONDS, WIDTH, HEIGHT, FPS = 5, 1280, 720, 24
REPEAT = 3
GOAL_S = 2.0
PROMPT = "A golden retriever running on the beach at sunset, waves rolling in, cinematic"
BUSY = "a girl flying a red kite in the rain at dusk, birds overhead, slow zoom in"


def run() -> list[Figure]:
    from PIL import Image

    from seedance_nb.simulator._frames import new_frame, planes
    from seedance_nb.simulator._render import _encode, encoder, render_video

    work = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        photo = work / "photo.png"
        Image.effect_mandelbrot((1600, 1200), (-2, -1.2, 1, 1.2), 80).convert("RGB").save(photo)

        black = new_frame(WIDTH, HEIGHT)
        y, u, v = planes(black)
        y[:], u[:], v[:] = 16, 128, 128  # limited-range black
        count = SECONDS * FPS

        def floor() -> None:
            _encode(work / "floor.mp4", WIDTH, HEIGHT, FPS, (black for _ in range(count)))

        def clip(mode: str, images: list[Path], prompt: str | None) -> None:
            render_video(
                work / f"{mode}.mp4",
                mode=mode,
                width=WIDTH,
                height=HEIGHT,
                seconds=SECONDS,
                prompt=prompt,
                images=images,
                fps=FPS,
            )

        floor()  # warm up: codec lookup, first-use imports, page cache
        base = statistics.median(timeit(floor, REPEAT))
        t2v = statistics.median(timeit(lambda: clip("text-to-video", [], PROMPT), REPEAT))
        busy = statistics.median(timeit(lambda: clip("text-to-video", [], BUSY), REPEAT))
        i2v = statistics.median(timeit(lambda: clip("image-to-video", [photo], None), REPEAT))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    floor_name = f"encoder floor ({count} black frames, {encoder()})"
    return [
        Figure(
            f"render {SECONDS} s {WIDTH}x{HEIGHT} text-to-video (median of {REPEAT})",
            t2v,
            "s",
            floor_name,
            base,
            f"<= {GOAL_S:g} s",
            t2v <= GOAL_S,
        ),
        Figure(
            f"render {SECONDS} s {WIDTH}x{HEIGHT} text-to-video, busy prompt (median of {REPEAT})",
            busy,
            "s",
            floor_name,
            base,
            f"<= {GOAL_S:g} s",
            busy <= GOAL_S,
        ),
        Figure(
            f"render {SECONDS} s {WIDTH}x{HEIGHT} image-to-video (median of {REPEAT})",
            i2v,
            "s",
            floor_name,
            base,
            f"<= {GOAL_S:g} s",
            i2v <= GOAL_S,
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
