"""A sequence: a shot longer than 15 s, made of clips that each start from the last frame of
the one before, every seam measured before the next clip is paid for.

Each shot is an ordinary job of the studio (`studio.submit`), labelled ``seq:<name>#<n>`` in
the ledger, so budgets, re-run safety, resume and adoption hold as for any job. The frame a
shot starts from is handed to `submit` as a local PNG named by its content, and a request's
fingerprint hashes local files by content: a re-run (or a new kernel after a crash) rebuilds
the same requests and reuses the earlier jobs instead of paying again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api import (
    BudgetExceededError,
    JobStatus,
    SeedanceError,
    ValidationError,
    WaitTimeoutError,
    check_model,
    check_name,
    estimate_credits,
)
from ..api._requests import MAX_NAME
from ..runtime import Job, JobError
from ..runtime._listeners import Listeners
from ._frames import colour_match, last_frame, save_png, tail_clip
from ._seams import VERDICTS, Seam, first_colour, measure
from ._shots import Shot, as_shot, plan_row, request_for

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..runtime import Studio

STOP_RULES = (None, "visible", "broken")


class SequencePaused(Exception):
    """Internal: the chain stops here for a reason the user can act on."""


class Sequence:
    """Shots chained past 15 s. Build it with `studio.sequence(shots, ...)`.

    `plan` and `total` say what it will cost before anything is sent; `run()` sends shot after
    shot (each waiting for the one before), `seams` measures every join, `retake(n)` asks for a
    new take of shot n, and `stitch()` writes the whole shot as one MP4.
    """

    view: Callable[[Sequence], Any] | None = None  # set by the widgets layer: how it displays

    def __init__(
        self,
        studio: Studio,
        shots: Iterable[object],
        *,
        name: str | None = None,
        model: str = "seedance2",
        experiment: str | None = None,
        budget: int | None = None,
        stop_on: str | None = "broken",
        tail_reference: float = 0.0,
        colour_match: bool | float = False,
        resolution: str | None = "1280x720",
    ) -> None:
        self.studio = studio
        self.shots: list[Shot] = [as_shot(s, i) for i, s in enumerate(shots)]
        if not self.shots:
            raise ValidationError("shots", "a sequence needs at least one shot")
        if stop_on not in STOP_RULES:
            raise ValidationError("stop_on", f"must be one of {STOP_RULES}; got {stop_on!r}")
        if budget is not None and (isinstance(budget, bool) or int(budget) < 0):
            raise ValidationError("budget", f"must be a whole number of credits; got {budget!r}")
        if not 0 <= float(tail_reference) <= 15:
            raise ValidationError("tail_reference", "must be 0 (off) to 15 seconds")
        self.model = check_model(model)
        self.experiment = experiment or studio.experiment
        self.name = _name(name, self.shots)
        self.budget = budget
        self.stop_on = stop_on
        self.tail_reference = float(tail_reference)
        self.colour_match = float(colour_match)
        self.resolution = resolution
        self.folder = Path(studio.outputs) / "sequences" / _safe(self.name)
        self.jobs: dict[int, Job] = {}
        self._seams: dict[int, Seam] = {}
        self._takes: dict[int, int] = {}
        self._first_colour: Any = None
        self.state = "planned"  # planned, running, paused, done, failed
        self.reason: str | None = None
        self.stitched: Path | None = None
        self.stitch_method: str | None = None
        self._listeners: Listeners[Sequence] = Listeners()
        self._view: Any = None
        tail = self.tail_reference > 0
        self._plan = [
            plan_row(s, n, self.model, resolution, tail) for n, s in enumerate(self.shots, 1)
        ]

    # ---- what it will cost ---------------------------------------------------------------------
    @property
    def plan(self) -> pd.DataFrame:
        """One row a shot: mode, seconds, what it starts from and its estimated credits."""
        import pandas as pd

        return pd.DataFrame(self._plan).set_index("shot")

    @property
    def shot_plan(self) -> list[dict[str, Any]]:
        """The plan as plain dicts, one a shot (what `plan` shows as a table)."""
        return [dict(row) for row in self._plan]

    @property
    def measured(self) -> list[Seam]:
        """The seams measured so far, in shot order."""
        return [self._seams[k] for k in sorted(self._seams)]

    @property
    def total(self) -> int:
        """The whole chain's estimated credits, before anything is sent."""
        return sum(int(r["credits"]) for r in self._plan)

    @property
    def seconds(self) -> int:
        """The stitched length the shots add up to (less one frame a seam)."""
        return sum(s.seconds for s in self.shots)

    @property
    def spent(self) -> int:
        """Credits every take of this chain's shots has used, or holds while it runs, from the
        ledger (a re-taken shot's earlier takes were paid too)."""
        labels = [self.label(n) for n in range(1, len(self.shots) + 1)]
        total = 0
        for row in self.studio.ledger.rows(label=labels, experiment=self.experiment):
            status = JobStatus(row["status"])
            if row.get("credits_used") is not None:
                total += int(row["credits_used"])
            elif status.holds_credits or not status.final:
                total += int(row["estimated_credits"] or 0)
        return total

    def label(self, n: int) -> str:
        """The ledger label of shot `n` of this sequence."""
        return f"seq:{self.name}#{n}"

    def describe(self) -> str:
        """The plan in one line, as it is shown before anything is sent."""
        budget = "" if self.budget is None else f" against a budget of {self.budget}"
        doubled = " (tail references double the later shots' price)" if self.tail_reference else ""
        return (
            f"sequence {self.name!r}: {len(self.shots)} shot(s), {self.seconds} s on "
            f"{self.model}, estimated {self.total} credits{budget}{doubled}"
        )

    # ---- running -------------------------------------------------------------------------------
    def run(self, stop_on: str | bool | None = True, timeout: float | None = None) -> Sequence:
        """Send the shots not yet made, one after another, measuring each seam as it lands.

        Finished shots are reused (a re-run pays nothing). It pauses (`state == "paused"`,
        `reason` says why) at a seam as bad as the stop rule (the sequence's `stop_on` unless
        given here; None goes on regardless), or when the next shot would overspend the
        chain's budget; `retake(n)` and `run()` again carry on from there.
        """
        rule = self.stop_on if stop_on is True else stop_on
        if rule not in STOP_RULES:
            raise ValidationError("stop_on", f"must be one of {STOP_RULES}; got {rule!r}")
        if self.budget is not None and self.total > self.budget and not self.jobs:
            raise BudgetExceededError(f"sequence {self.name}", self.budget, self.total)
        self.state, self.reason = "running", None
        try:
            for n in range(1, len(self.shots) + 1):
                self._shot(n, timeout)
                if n > 1:
                    self._seam(n, rule)
        except SequencePaused as pause:
            self.state, self.reason = "paused", str(pause)
            self._say(f"sequence {self.name!r} paused: {pause}")
        except (ValidationError, WaitTimeoutError):
            self.state = "paused"
            raise
        except BudgetExceededError as exc:  # the experiment's own budget, from the ledger
            self.state, self.reason = "paused", str(exc)
            self._say(f"sequence {self.name!r} paused: {exc}")
        except SeedanceError as exc:  # the shot ended without a video (JobError, TaskFailed...)
            self.state, self.reason = "failed", str(exc)
            self._say(f"sequence {self.name!r} stopped: {exc}. retake() that shot to go on.")
        else:
            self.state = "done"
            self._say(f"sequence {self.name!r} done: {self.spent} credits spent.")
        self._changed()
        return self

    def _shot(self, n: int, timeout: float | None) -> Job:
        job = self.jobs.get(n)
        if job is None or (job.done and job.status is not JobStatus.COMPLETED):
            req = self._request(n)
            cost = estimate_credits(req, self.model)
            if self.budget is not None and self.spent + cost > self.budget:
                raise SequencePaused(
                    f"shot {n} would cost {cost} credits and {self.budget - self.spent} are "
                    "left of the chain's budget"
                )
            job = self.studio.submit(
                req, self.model, self.experiment, self.label(n), take=self._take(n)
            )
            self.jobs[n] = job
            self._changed()
        job.result(timeout)  # raises for a shot that ended without a video
        if n == 1:
            self._first_colour = first_colour(self._video(1))
        self._changed()
        return job

    def _seam(self, n: int, rule: str | None) -> Seam:
        seam = self._seams.get(n)
        if seam is None:
            seam = measure(self._video(n - 1), self._video(n), self._first_colour, n)
            self._seams[n] = seam
            self._changed()
        bad = rule is not None and VERDICTS.index(seam.verdict) >= VERDICTS.index(rule)
        if bad and n < len(self.shots):
            raise SequencePaused(
                f"the seam into shot {n} is {seam.verdict} (ssim {seam.ssim:.2f}); nothing "
                f"more was sent. seq.retake({n}) re-takes it, seq.run(stop_on=None) goes on"
            )
        return seam

    def _video(self, n: int) -> Path:
        job = self.jobs[n]
        if job.local_path is None:
            raise JobError(job)
        return Path(job.local_path)

    def _request(self, n: int) -> Any:
        shot = self.shots[n - 1]
        frame = tail = None
        if n > 1 and shot.request is None:
            previous = self._video(n - 1)
            image = last_frame(previous)
            if self.colour_match:
                image = colour_match(image, last_frame(self._video(1)), self.colour_match)
            frame = save_png(image, self.folder / "frames", f"shot{n}-from")
            if self.tail_reference and shot.end_image is None:
                tail = tail_clip(previous, self.tail_reference, self.folder / "tails", f"shot{n}")
        return request_for(shot, n, frame=frame, tail=tail, resolution=self.resolution)

    def _take(self, n: int) -> int:
        """The take shot `n` uses: the newest one the ledger holds for it (so a re-take
        survives a restart), unless `retake` chose one."""
        if n not in self._takes:
            rows = self.studio.ledger.rows(label=self.label(n), experiment=self.experiment)
            takes = [int(json.loads(r["params"] or "{}").get("take", 1)) for r in rows]
            self._takes[n] = max(takes, default=1)
        return self._takes[n]

    def retake(self, n: int, shot: object = None, run: bool = True) -> Sequence:
        """A new take of shot `n` (the earlier one stays in the ledger, paid), or, with
        `shot`, that shot rewritten (a prompt, (prompt, seconds), a Shot or a request); the
        shots after it are made again from the new one's last frame. Runs the chain on
        unless `run=False`."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self.shots):
            raise ValidationError("n", f"must be a shot number from 1 to {len(self.shots)}")
        if shot is not None:
            self.shots[n - 1] = as_shot(shot, n - 1)
            tail = self.tail_reference > 0
            self._plan[n - 1] = plan_row(self.shots[n - 1], n, self.model, self.resolution, tail)
        self._takes[n] = self._take(n) + 1
        for later in range(n, len(self.shots) + 1):
            self.jobs.pop(later, None)
            self._seams.pop(later, None)
        self.stitched = None
        self._changed()
        return self.run() if run else self

    # ---- results -------------------------------------------------------------------------------
    @property
    def seams(self) -> pd.DataFrame:
        """Every seam measured so far, one row a join (indexed by the shot it leads into)."""
        import pandas as pd

        columns = list(Seam.__dataclass_fields__)
        rows = [self._seams[k].as_dict() for k in sorted(self._seams)]
        return pd.DataFrame(rows, columns=columns).set_index("shot")

    def videos(self) -> list[Path]:
        """The shots' videos so far, in order, up to the first shot without one."""
        out = []
        for n in range(1, len(self.shots) + 1):
            job = self.jobs.get(n)
            if job is None or job.local_path is None or job.status is not JobStatus.COMPLETED:
                break
            out.append(Path(job.local_path))
        return out

    def stitch(self, dest: str | Path | None = None, crossfade: float = 0.0) -> Path:
        """One MP4 of the shots made so far: packets copied when the clips match (the repeated
        frame at each join dropped), re-encoded only when they must be, or with a `crossfade`
        of that many seconds at each join. Checked by decoding it through its last frame."""
        from ..runtime._download import verify_video
        from ._stitch import has_audio, stitch

        videos = self.videos()
        dest = Path(dest) if dest is not None else self.folder / f"{_safe(self.name)}.mp4"
        path, how = stitch(videos, dest, crossfade)
        if has_audio(videos) and not has_audio([path]):
            self._say("note: the shots' audio could not be carried into the stitched video")
        verify_video(path)
        self.stitched, self.stitch_method = path, how
        self._say(f"stitched {len(videos)} shot(s) into {path} ({how})")
        self._changed()
        return path

    def plot(self, ax: Any = None) -> Figure:
        """Flicker (mean luma, frame to frame) and drift (colour distance from the first frame)
        across the stitched video, a line at each seam coloured by its verdict."""
        import matplotlib.pyplot as plt
        import numpy as np

        from ._seams import flicker

        path = self.stitched or self.stitch()
        luma, drift = flicker(path)
        if ax is None:
            fig, ax = plt.subplots(figsize=(9, 3))
        else:
            fig = ax.figure
        fps = _fps(path)
        t = np.arange(len(luma)) / fps
        ax.plot(t, drift, label="drift from the first frame", color="#7b61ff")
        ax.plot(t[1:], np.abs(np.diff(luma)), label="flicker (luma change a frame)", color="#999")
        colours = {"smooth": "#2e9d4f", "visible": "#e0a020", "broken": "#d0342c"}
        at = 0.0
        for n, shot in enumerate(self.shots[: len(self.videos())], 1):
            if n > 1 and n in self._seams:
                ax.axvline(at, color=colours[self._seams[n].verdict], linestyle="--")
            at += shot.seconds
        ax.set_xlabel("seconds")
        ax.set_ylabel("levels (0..255)")
        ax.legend(loc="upper left", fontsize="small")
        ax.set_title(f"{self.name}: seams, drift and flicker")
        plt.close(fig)
        return fig

    # ---- display and listeners -----------------------------------------------------------------
    def on_change(
        self, callback: Callable[[Sequence], Any], *, remove: bool = False
    ) -> Callable[[], None]:
        """Call `callback(seq)` whenever a shot, a seam or the state changes. Returns a
        function that unsubscribes it; `remove=True` unsubscribes instead (as `Job.on_update`)."""
        return self._listeners.subscribe(callback, remove=remove)

    def _changed(self) -> None:
        for callback in self._listeners:
            try:
                callback(self)
            except Exception as exc:  # a view's error must not stop the chain
                print(f"sequence view error: {exc}", file=sys.stderr)

    def _say(self, message: str) -> None:
        if getattr(self.studio, "verbose", True):
            print(message, flush=True)

    def __repr__(self) -> str:
        return (
            f"Sequence({self.name!r}, shots={len(self.shots)}, state={self.state!r}, "
            f"estimated={self.total}, spent={self.spent})"
        )

    def _live_view(self) -> Any:
        """The one live view (the widgets layer's storyboard), however often it is shown."""
        if Sequence.view is not None and self._view is None:
            self._view = Sequence.view(self)
        return self._view

    def _display_(self) -> Any:
        """marimo's display protocol: the storyboard, or the plan without the widgets layer."""
        return self._live_view() if Sequence.view is not None else self.plan

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        if Sequence.view is not None:
            bundle = getattr(self._live_view(), "_repr_mimebundle_", None)
            if bundle is not None:
                return bundle(**kwargs)
        return {"text/plain": repr(self), "text/html": self.plan.to_html()}


def _fps(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.streams.video[0].average_rate or 24)


def _name(name: str | None, shots: list[Shot]) -> str:
    """The given name, or one derived from the shots (so the same shots find their rows).

    Checked as experiment names are, and short enough that every shot's label
    (``seq:<name>#<n>``) fits the ledger."""
    if name is None:
        what = json.dumps([[s.prompt, s.seconds, str(s.end_image)] for s in shots])
        return "chain-" + hashlib.sha256(what.encode()).hexdigest()[:10]
    checked = check_name("name", name) or ""
    room = MAX_NAME - len(f"seq:#{len(shots)}")
    if len(checked) > room:
        raise ValidationError("name", f"must be at most {room} characters for {len(shots)} shot(s)")
    return checked


def _safe(name: str) -> str:
    """The name as a folder/file name: letters, digits, dot, dash, underscore; short."""
    kept = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    kept = kept.replace("..", "__")[:60].strip("._")
    return kept or hashlib.sha256(name.encode()).hexdigest()[:12]
