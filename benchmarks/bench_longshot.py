"""Long shots: stitching and seam measurement against their plain baselines, in the same run.

- Stitching four 15 s 1280x720 clips by remuxing (packet copy, the repeated frame at each join
  dropped), against copying the same bytes into one file. Goal (issue 26): at most 3x. Each
  writes a new file, as a user's stitch does: the last run's output is removed untimed before
  each run (overwriting it would time freeing its blocks, which was most of the copy).
- Measuring one seam (SSIM across the cut, luma/chroma jumps, motion either side, colour drift
  against the first shot), against decoding the two clips of that seam. Goal: at most 1.5x.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks._report import Figure, timeit

SECONDS, WIDTH, HEIGHT, CLIPS = 15, 1280, 720, 4
REPEAT = 9
STITCH_GOAL, SEAM_GOAL = 3.0, 1.5


def run() -> list[Figure]:
    import av

    from seedance_nb.longshot._frames import last_frame, save_png
    from seedance_nb.longshot._seams import first_colour, measure
    from seedance_nb.longshot._stitch import stitch
    from seedance_nb.simulator._render import render_video

    work = Path(tempfile.mkdtemp(prefix="bench-longshot-"))
    try:
        clips: list[Path] = []
        for n in range(CLIPS):  # a real chain: each clip from the last frame of the one before
            images = [save_png(last_frame(clips[-1]), work, f"f{n}")] if clips else []
            clips.append(
                render_video(
                    work / f"clip{n}.mp4",
                    mode="image-to-video" if images else "text-to-video",
                    width=WIDTH,
                    height=HEIGHT,
                    seconds=SECONDS,
                    prompt="a red fox runs through a snowy forest at dusk",
                    images=images,
                    seed=n,
                )
            )

        def copy_bytes() -> None:
            with (work / "copied.bin").open("wb") as out:
                for clip in clips:
                    with clip.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)

        how: list[str] = []

        def remux() -> None:
            how.append(stitch(clips, work / "stitched.mp4")[1])

        start = first_colour(clips[0])

        def decode_two() -> None:
            for clip in clips[:2]:
                with av.open(str(clip)) as container:
                    for _ in container.decode(video=0):
                        pass

        def seam() -> None:
            measure(clips[0], clips[1], start, 2)

        copy_bytes(), remux(), decode_two(), seam()  # warm up: imports, page cache
        def fresh() -> None:
            for name in ("copied.bin", "stitched.mp4"):
                (work / name).unlink(missing_ok=True)

        copied = statistics.median(timeit(copy_bytes, REPEAT, fresh))
        stitched = statistics.median(timeit(remux, REPEAT, fresh))
        decoded = statistics.median(timeit(decode_two, REPEAT))
        measured = statistics.median(timeit(seam, REPEAT))
        size = sum(c.stat().st_size for c in clips) / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        Figure(
            f"stitch {CLIPS} x {SECONDS} s {WIDTH}x{HEIGHT} clips ({size:.1f} MB, {how[-1]}, "
            f"median of {REPEAT})",
            stitched,
            "s",
            "copying the same bytes into a new file",
            copied,
            f"<= {STITCH_GOAL:g}x",
            stitched <= STITCH_GOAL * copied,
        ),
        Figure(
            f"measure one seam between two {SECONDS} s {WIDTH}x{HEIGHT} clips (median of {REPEAT})",
            measured,
            "s",
            "decoding the two clips",
            decoded,
            f"<= {SEAM_GOAL:g}x",
            measured <= SEAM_GOAL * decoded,
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
