"""What a sequence is made of: shots as the user gives them, and the request each one sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import (
    ImageToVideo,
    Keyframes,
    MultiReference,
    Request,
    TextToVideo,
    ValidationError,
    estimate_credits,
)

STAND_IN_IMAGE = "https://frames.invalid/last-frame.png"  # prices a frame not cut yet
STAND_IN_VIDEO = "https://frames.invalid/tail.mp4"


@dataclass(frozen=True)
class Shot:
    """One shot of a sequence: a prompt and a length, optionally an image it must end on
    (sent as keyframes), or a whole request sent exactly as given."""

    prompt: str | None = None
    duration: int = 5
    end_image: str | Path | None = None
    request: Request | None = None

    @property
    def seconds(self) -> int:
        return int(self.request.duration if self.request is not None else self.duration)


def as_shot(item: object, index: int) -> Shot:
    """A Shot from what the user wrote: a prompt, (prompt, seconds), a mapping, a Shot or a
    request object."""
    if isinstance(item, Shot):
        return item
    if isinstance(item, Request):
        return Shot(prompt=item.prompt, duration=int(item.duration), request=item)
    if isinstance(item, str):
        return Shot(prompt=item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return Shot(prompt=item[0], duration=int(item[1]))
    if isinstance(item, Mapping):
        known = {"prompt", "duration", "end_image"}
        unknown = set(item) - known
        if unknown:
            raise ValidationError(f"shots[{index}]", f"unknown field(s) {sorted(unknown)}")
        return Shot(**{k: item[k] for k in known if k in item})
    raise ValidationError(
        f"shots[{index}]",
        "must be a prompt, (prompt, seconds), a mapping, a seedance_nb.longshot.Shot or a "
        "request object",
    )


def request_for(
    shot: Shot,
    n: int,
    *,
    frame: Path | str | None,
    tail: Path | str | None,
    resolution: str | None,
) -> Request:
    """The request shot `n` sends: shot 1 (or a request given whole) as asked; later shots from
    the previous shot's last `frame`: keyframes towards `end_image` if there is one, reference
    mode with the `tail` video when tail references are on, else image-to-video."""
    if shot.request is not None:
        return shot.request
    if n == 1 or frame is None:
        return TextToVideo(shot.prompt, duration=shot.duration, resolution=resolution)
    if shot.end_image is not None:
        last = (
            Path(shot.end_image)
            if not str(shot.end_image).startswith(("http", "asset"))
            else (str(shot.end_image))
        )
        return Keyframes(
            frame, last, prompt=shot.prompt, duration=shot.duration, resolution=resolution
        )
    if tail is not None:
        return MultiReference(
            images=[frame],
            videos=[tail],
            prompt=shot.prompt,
            duration=shot.duration,
            resolution=resolution or "1280x720",
        )
    return ImageToVideo(frame, prompt=shot.prompt, duration=shot.duration, resolution=resolution)


def plan_row(shot: Shot, n: int, model: str, resolution: str | None, tail: bool) -> dict[str, Any]:
    """One line of the plan: what shot `n` will send and its estimated price."""
    req = request_for(
        shot,
        n,
        frame=STAND_IN_IMAGE if n > 1 else None,
        tail=STAND_IN_VIDEO if n > 1 and tail else None,
        resolution=resolution,
    )
    source = "as given" if shot.request is not None or n == 1 else f"shot {n - 1}'s last frame"
    if n > 1 and shot.request is None and tail and shot.end_image is None:
        source += " + its tail as a video reference (doubled price)"
    return {
        "shot": n,
        "mode": req.mode,
        "seconds": int(req.duration),
        "prompt": req.prompt,
        "from": source,
        "credits": estimate_credits(req, model),
    }
