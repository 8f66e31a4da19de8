"""Following jobs from a terminal: a live progress bar, one line per ended job, Ctrl-C handling
and a closing summary."""

from __future__ import annotations

import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api import JobStatus

if TYPE_CHECKING:
    from ..runtime import Job, Studio

REFRESH = 0.5  # seconds between redraws while nothing changes (the ETA counts down)
SEND_GRACE = 30.0  # seconds a second Ctrl-C waits for createTask calls already on the wire


class Interrupts:
    """Counts Ctrl-C presses instead of raising KeyboardInterrupt in the middle of a call, so
    a press never leaves a half-written row or a half-sent request behind."""

    def __init__(self, wake: threading.Event) -> None:
        self.count = 0
        self._wake = wake
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self._wake.set()

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def eta_seconds(jobs: Sequence[Job], slots: int) -> float | None:
    """Seconds until every job has ended: the slowest job in flight, plus the queued ones in
    waves of `slots` at the typical predicted time. None while nothing has a prediction."""
    pending = [j for j in jobs if not j.done]
    if not pending:
        return 0.0
    running = [j.eta for j in pending if j.eta is not None]
    queued = sum(1 for j in pending if j.status is JobStatus.QUEUED)
    predicted = [j.predicted_seconds for j in jobs if j.predicted_seconds]
    if not running and not predicted:
        return None
    waves = math.ceil(queued / max(1, slots)) * (statistics.median(predicted) if predicted else 0)
    return max(running, default=0.0) + waves


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "eta -"
    seconds = round(seconds)
    return f"eta {seconds // 60}:{seconds % 60:02d}"


def credits_text(jobs: Sequence[Job]) -> str:
    """What the jobs this run sends have spent, against their plan: only finished jobs count as
    spent (what the server charged), the plan is the estimate of all that were not cancelled.
    Empty when this run sends nothing (download, resume: those videos were paid before)."""
    if not jobs:
        return ""
    spent = sum(j.credits_used or 0 for j in jobs if j.done)
    plan = sum(j.estimated_credits for j in jobs if j.status is not JobStatus.CANCELLED)
    return f"{spent} credits spent of {plan} planned"


def shown_path(path: object) -> str:
    """A video's path, relative to the working folder when it is inside it."""
    if not path:
        return ""
    text = str(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:  # another drive on Windows
        return text
    return text if relative.startswith("..") else relative


def job_line(job: Job) -> str:
    """One line for a job that has ended."""
    who = f"#{job.id} {job.label or job.request.mode}"
    if job.status is JobStatus.COMPLETED:
        path = shown_path(job.local_path)
        return f"[green]{who} COMPLETED[/] {job.credits_used or 0} credits {path}"
    colour = "yellow" if job.status is JobStatus.CANCELLED else "red"
    return f"[{colour}]{who} {job.status}[/] {job.error or ''}".rstrip()


class Follower:
    """Shows jobs moving until they have all ended, or until Ctrl-C is pressed twice."""

    def __init__(self, studio: Studio, console: Console, slots: int, title: str) -> None:
        self.studio = studio
        self.console = console
        self.slots = slots
        self.title = title
        self.wake = threading.Event()
        self.interrupts = Interrupts(self.wake)
        self.jobs: list[Job] = []
        self.left = False  # the second Ctrl-C: jobs were left for `seedance-nb resume`
        self.cancelled: list[Job] = []
        self._shown: set[int] = set()
        self._sends: list[Job] = []  # jobs this run sends (the others were paid before)
        studio.on_job_update(lambda job: self.wake.set())
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("videos"),
            TextColumn("{task.fields[credits]}"),
            TextColumn("{task.fields[eta]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bar = self.progress.add_task(title, total=None, credits="", eta="")

    @property
    def interrupted(self) -> bool:
        return self.interrupts.count > 0

    def __enter__(self) -> Follower:
        self.interrupts.__enter__()
        self.progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._draw()
        self.progress.stop()
        self.interrupts.__exit__(et, e, tb)

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        if not job.done and not job.sent:  # still to be sent: this run spends on it
            self._sends.append(job)
        self._draw()

    def print(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def _draw(self) -> None:
        jobs = self.jobs
        for job in jobs:
            if job.done and job.id not in self._shown:
                self._shown.add(job.id)
                self.print(job_line(job))
        self.progress.update(
            self._bar,
            total=len(jobs) or None,
            completed=sum(1 for j in jobs if j.done),
            credits=credits_text(self._sends),
            eta=clock(eta_seconds(jobs, self.slots)),
        )

    def follow(self, stop_note: str) -> None:
        """Redraw on every change until every job has ended. The first Ctrl-C cancels what is
        still queued (nothing more is sent) and keeps following what was sent; the second
        leaves those to `seedance-nb resume` once no createTask call is still on the wire."""
        handled = 0
        while True:
            self._draw()
            if self.interrupts.count > handled:
                handled = self.interrupts.count
                if handled == 1:
                    self._stop_sending(stop_note)
                else:
                    self._leave()
                    return
            if all(j.done for j in self.jobs):
                return
            self.wake.wait(REFRESH)
            self.wake.clear()

    def _stop_sending(self, note: str) -> None:
        for job in self.jobs:
            if job.status is JobStatus.QUEUED and not job.done and job.cancel():
                self.cancelled.append(job)
        running = [j for j in self.jobs if not j.done]
        self.print(
            f"[bold yellow]Interrupted:[/] nothing more will be sent "
            f"({len(self.cancelled)} queued job(s) cancelled{note})."
        )
        if running:
            self.print(
                f"Following the {len(running)} job(s) already sent, so their videos are saved. "
                "Press Ctrl-C again to leave them to `seedance-nb resume`."
            )

    def _leave(self) -> None:
        """Wait (briefly) for createTask calls already on the wire, so every sent job has its
        task id in the ledger for `resume`, then stop following."""
        deadline = time.monotonic() + SEND_GRACE
        while any(j.status is JobStatus.SENDING for j in self.jobs) and (
            time.monotonic() < deadline
        ):
            self.wake.wait(REFRESH)
            self.wake.clear()
        self.left = True
        running = [j for j in self.jobs if not j.done]
        self.print(
            f"[bold yellow]Left {len(running)} job(s) running on the server.[/] "
            "`seedance-nb resume` follows them and saves their videos; nothing is sent twice."
        )


def summary(console: Console, jobs: Sequence[Job], title: str) -> None:
    """A table of the jobs and a line of totals."""
    if not jobs:
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for name, justify in [
        ("id", "right"),
        ("label", "left"),
        ("model", "left"),
        ("secs", "right"),
        ("status", "left"),
        ("credits", "right"),
        ("video / error", "left"),
    ]:
        table.add_column(name, justify=justify, no_wrap=name != "video / error", overflow="fold")  # type: ignore[arg-type]
    for job in jobs:
        used = job.credits_used
        table.add_row(
            str(job.id),
            job.label or "",
            job.model,
            str(job.request.seconds),
            str(job.status),
            str(used) if used is not None else f"~{job.estimated_credits}",
            shown_path(job.local_path) if job.status is JobStatus.COMPLETED else (job.error or ""),
        )
    console.print(table)
    counts: dict[str, int] = {}
    for job in jobs:
        counts[str(job.status)] = counts.get(str(job.status), 0) + 1
    used = sum(j.credits_used or 0 for j in jobs)
    estimated = sum(j.estimated_credits for j in jobs if j.status.holds_credits)
    states = ", ".join(f"{n} {s}" for s, n in counts.items())
    console.print(f"{len(jobs)} job(s): {states}; {used} credits used ({estimated} estimated)")
