"""`seedance-nb sequence story.toml`: a long shot from a terminal, on the notebooks' ledger.

A story file names the shots and how they chain::

    name = "fox"                 # the ledger labels are seq:<name>#<n>; re-runs reuse them
    model = "seedance2"
    resolution = "1280x720"
    mode = "image-to-video"      # how later shots start: "image-to-video", or "reference"
    tail_seconds = 3             # (reference mode) the previous clip's tail sent as a video
    stop_on = "broken"           # "broken", "visible" or "never"
    budget = 2000                # credits for the whole chain (optional)
    crossfade = 0.0              # seconds at each join of the stitched video

    [[shot]]
    prompt = "a red fox runs through a snowy forest at dusk"
    duration = 15

    [[shot]]
    prompt = "the fox reaches a frozen river"
    duration = 15
    end_image = "river.png"      # optional: keyframes ending on this image
    # mode = "text-to-video"     # optional: this shot starts afresh (not from the last frame)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from ..api import TextToVideo, ValidationError
from ._app import console, friendly, ledger_options, open_studio, studio_options

STOPS = {"broken": "broken", "visible": "visible", "never": None}


def read_story(path: Path) -> dict[str, Any]:
    """The story file as options for `Sequence` (shots included), checked."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        story = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError("story", f"{path.name} cannot be read: {exc}") from None
    known = {
        "name",
        "model",
        "resolution",
        "mode",
        "tail_seconds",
        "stop_on",
        "budget",
        "crossfade",
        "experiment",
        "colour_match",
        "shot",
    }
    unknown = set(story) - known
    if unknown:
        raise ValidationError("story", f"unknown key(s) {sorted(unknown)} in {path.name}")
    raw = story.get("shot") or []
    if not isinstance(raw, list) or not raw:
        raise ValidationError("story", f"{path.name} has no [[shot]] tables")
    resolution = story.get("resolution", "1280x720")
    shots: list[Any] = []
    for i, shot in enumerate(raw, 1):
        if not isinstance(shot, dict) or not isinstance(shot.get("prompt"), str):
            raise ValidationError(f"shot {i}", "needs a prompt")
        duration = int(shot.get("duration", 5))
        if shot.get("mode", "chain") == "text-to-video":
            shots.append(TextToVideo(shot["prompt"], duration=duration, resolution=resolution))
            continue
        end = shot.get("end_image")
        if end is not None and not str(end).startswith(("http://", "https://", "asset://")):
            end = (path.parent / end).resolve()
        shots.append({"prompt": shot["prompt"], "duration": duration, "end_image": end})
    mode = story.get("mode", "image-to-video")
    if mode not in ("image-to-video", "reference"):
        raise ValidationError("mode", f"must be image-to-video or reference; got {mode!r}")
    stop = story.get("stop_on", "broken")
    if stop not in STOPS:
        raise ValidationError("stop_on", f"must be one of {', '.join(STOPS)}; got {stop!r}")
    return {
        "shots": shots,
        "name": story.get("name", path.stem),
        "model": story.get("model", "seedance2"),
        "resolution": resolution,
        "tail_reference": float(story.get("tail_seconds", 3)) if mode == "reference" else 0.0,
        "stop_on": STOPS[stop],
        "budget": story.get("budget"),
        "colour_match": story.get("colour_match", False),
        "experiment": story.get("experiment"),
        "crossfade": float(story.get("crossfade", 0.0)),
    }


@click.command()
@click.argument("story_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--yes", "-y", is_flag=True, help="send without asking")
@click.option("--no-stitch", is_flag=True, help="leave the shots as they are")
@ledger_options
@studio_options
@friendly
def sequence(
    story_file: str,
    yes: bool,
    no_stitch: bool,
    ledger: str,
    outputs: str,
    concurrency: int,
    poll_interval: float,
) -> None:
    """Make a long shot from STORY_FILE: plan and price the chain, ask, run it shot after shot
    (each from the last frame of the one before, every seam measured before the next is paid
    for), then stitch one MP4. Shots already made are reused, not paid again."""
    from ..longshot import Sequence

    options = read_story(Path(story_file))
    crossfade = options.pop("crossfade")
    shots = options.pop("shots")
    experiment = options.pop("experiment") or "default"
    studio = open_studio(ledger, outputs, experiment, concurrency, poll_interval)
    try:
        seq = Sequence(studio, shots, **options)
        code = _run(seq, yes, no_stitch, crossfade)
    finally:
        studio.close()
    sys.exit(code)


def _run(seq: Any, yes: bool, no_stitch: bool, crossfade: float) -> int:
    table = Table(title=f"plan for sequence {seq.name!r}", title_justify="left")
    for column in ("shot", "mode", "secs", "credits", "from", "prompt"):
        table.add_column(column)
    for row in seq.shot_plan:
        table.add_row(
            str(row["shot"]),
            row["mode"],
            str(row["seconds"]),
            str(row["credits"]),
            row["from"],
            (row["prompt"] or "")[:48],
        )
    console.print(table)
    console.print(f"[bold]{seq.describe()}[/]")
    if seq.budget is not None and seq.total > seq.budget:
        console.print(f"[red]Over budget:[/] the chain needs {seq.total} credits.")
        return 1
    if not yes and not click.confirm(f"Run the chain for ~{seq.total} credits?", default=False):
        console.print("Nothing sent.")
        return 1
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
    ) as bar:
        task = bar.add_task(f"sequence {seq.name}", total=len(seq.shots), note="")

        def update(s: Any) -> None:
            done = sum(1 for j in s.jobs.values() if j.done and j.local_path)
            last = s.measured[-1] if s.measured else None
            seam = f" · seam {last.shot}: {last.verdict}" if last else ""
            bar.update(task, completed=done, note=f"{s.spent} credits{seam}")

        seq.on_change(update)
        seq.run()
    if len(seq.measured):
        seams = Table(title="seams", title_justify="left")
        for column in ("into shot", "verdict", "ssim", "luma jump", "motion ratio", "drift"):
            seams.add_column(column)
        for s in seq.measured:
            seams.add_row(
                str(s.shot),
                s.verdict,
                f"{s.ssim:.3f}",
                f"{s.luma_jump:.1f}",
                f"{s.motion_ratio:.2f}",
                f"{s.drift:.1f}",
            )
        console.print(seams)
    if seq.state != "done":
        console.print(f"[yellow]{seq.state}:[/] {seq.reason}")
    if not no_stitch and seq.videos():
        path = seq.stitch(crossfade=crossfade)
        console.print(f"stitched: {path} ({seq.stitch_method})")
    return 0 if seq.state == "done" else 1
