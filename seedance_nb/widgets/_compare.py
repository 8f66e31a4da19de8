"""Compare: two or more jobs side by side, playing in step, with a vote for the better one."""

from __future__ import annotations

import base64
import html
import os
import pathlib
import random
import re
import secrets
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anywidget
import traitlets as t
from anywidget.experimental import command

from ..runtime import Job, JobStatus
from ..runtime._results import results, tally
from ._live import Redraw, credits_text, describe_error, listen, render_seconds
from ._media import poster
from ._request import css, esm, served_path, video_reply

HERE = pathlib.Path(__file__).parent
# a word (with inner apostrophes or hyphens), a run of spaces, or a run of punctuation: so
# "dawn," is the word "dawn" then ",", and only the word is ever marked
TOKEN = re.compile(r"\w+(?:['\u2019-]\w+)*|\s+|[^\w\s]+")


def prompt_words(prompts: Sequence[str]) -> list[list[list[Any]]]:
    """Each prompt as [token, differs] pairs: a word differs unless every prompt has it;
    spaces and punctuation never differ."""
    split = [TOKEN.findall(p or "") for p in prompts]
    words = [{w.lower() for w in tokens if w[0].isalnum() or w[0] == "_"} for tokens in split]
    common = set.intersection(*words) if words else set()
    return [
        [[w, (w[0].isalnum() or w[0] == "_") and w.lower() not in common] for w in tokens]
        for tokens in split
    ]


def columns(count: int) -> int:
    """Grid columns for `count` videos: 2 -> 2, 3 -> 3, 4 -> 2x2, 5-6 -> 3, 7-9 -> 3, more -> 4."""
    if count <= 3:
        return max(count, 1)
    if count == 4:
        return 2
    return 3 if count <= 9 else 4


def plural(count: int, word: str = "vote") -> str:
    """'1 vote', '2 votes', '0 votes'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def video_info(path: Path) -> tuple[float, int]:
    """Frames per second and frame count of a video (24 fps and 0 frames if unreadable)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            frames = stream.frames
            if not frames and stream.duration and stream.time_base:
                frames = round(float(stream.duration * stream.time_base) * fps)
            return fps, int(frames)
    except (av.error.FFmpegError, IndexError, OSError):
        return 24.0, 0


class Compare(anywidget.AnyWidget):
    """A grid of jobs: labels, prompts with their differences marked, credits and render time.

    Play, pause, seek, loop and frame steps (buttons or the , . keys) move every video
    together. A vote (the prefer button, or the keys 1..n) records one ballot in the ledger:
    the chosen job beat every other job here; `u` or the undo button takes the last ballot
    back. In blind mode labels, prompts, models and prices are hidden and the sides are
    shuffled; `order` records the shuffle so every vote still goes to the right ledger row.
    """

    _esm = esm("compare.js")
    _css = css("compare.css")

    items = t.List(t.Dict()).tag(sync=True)  # in display order
    votes = t.List(t.Int()).tag(sync=True)  # ballots won, in display order
    # written by the view after each vote or undo it asked for ({ballot, undone, at}): a change
    # from the frontend, which marimo (`mo.ui.anywidget`) answers by re-running the cells that
    # read the comparison, so a tally below follows the votes
    last_vote = t.Dict().tag(sync=True)
    loop = t.Bool(True).tag(sync=True)
    blind = t.Bool(False).tag(sync=True)
    can_undo = t.Bool(False).tag(sync=True)
    note = t.Unicode("").tag(sync=True)  # what the last vote or undo did
    error = t.Unicode("").tag(sync=True)  # shown under the grid until the next success
    _posters = t.List(t.Bytes()).tag(sync=True)

    def __init__(
        self,
        jobs: Sequence[Job],
        ledger: Any,
        experiment: str | None = None,
        *,
        blind: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if len(jobs) < 2:
            raise ValueError("jobs: Compare needs at least two jobs")
        self.jobs = list(jobs)
        self.ledger = ledger
        self.experiment = experiment or self.jobs[0].experiment
        self.order = list(range(len(self.jobs)))  # display position -> index in `jobs`
        self._rng = random.Random(seed)
        self._keys = [secrets.token_hex(6) for _ in self.jobs]  # opaque: reveal nothing
        self._ballots: list[tuple[int, int]] = []  # (ballot, job index) cast here, newest last
        self._info: dict[Path, tuple[float, int]] = {}
        self._poster_of: dict[Path, bytes] = {}
        super().__init__(**kwargs)
        # probes, posters and the vote count run on a worker, at most once a second
        self.redraw = Redraw(self._refresh, self._show_error)
        self._unsubscribe = [listen(self, job.on_update, "_job_changed") for job in self.jobs]
        self.set_trait("blind", blind)  # observed: shuffles when blind, then draws
        if not blind:
            self._refresh()

    def close(self) -> None:
        """Stop following the jobs, then close the widget."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        super().close()

    def _job_changed(self, job: Job) -> None:
        self.redraw()

    def _show_error(self, exc: BaseException | None) -> None:
        if exc is not None:
            self.error = describe_error(exc)

    # ---- state -> view -------------------------------------------------------------------------
    @t.observe("blind")
    def _blind_changed(self, change: dict[str, Any]) -> None:
        if not hasattr(self, "jobs"):
            return
        self.order = list(range(len(self.jobs)))
        if change["new"]:
            self._rng.shuffle(self.order)
        self._refresh()

    def name(self, position: int) -> str:
        """How the view names the video at a display position: its label, or a letter when
        blind."""
        if self.blind:
            return f"video {string.ascii_uppercase[position % 26]}"
        job = self.jobs[self.order[position]]
        return job.label or f"#{job.id}"

    def _refresh(self) -> None:
        words = prompt_words([job.request.prompt or "" for job in self.jobs])
        items, posters = [], []
        for position, index in enumerate(self.order):
            job = self.jobs[index]
            ready = job.status is JobStatus.COMPLETED and job.local_path is not None and job.done
            item: dict[str, Any] = {
                "key": self._keys[index],
                "name": self.name(position),
                "status": str(job.status),
                "tone": job.status.tone,
                "ready": ready,
                "fps": 24.0,
                "frames": 0,
            }
            if not self.blind:
                item |= {
                    "id": job.id,
                    "words": words[index],
                    "credits": credits_text(job),
                    "render_s": render_seconds(job) or None,
                    "model": job.model,
                }
            image = b""
            if ready and job.local_path:
                path = job.local_path
                if path not in self._info:
                    self._info[path] = video_info(path)
                    self._poster_of[path] = poster(path)
                item["fps"], item["frames"] = self._info[path]
                image = self._poster_of[path]
                if not self.blind:  # a path would tell blind videos apart: those take the comm
                    item["path"] = served_path(path)
            items.append(item)
            posters.append(image)
        with self.hold_sync():
            self.items = items
            self._posters = posters
            self.votes = self._tally()

    def _tally(self) -> list[int]:
        wins = tally(self.ledger, self.experiment, [job.id for job in self.jobs])
        return [wins[self.jobs[index].id] for index in self.order]

    # ---- votes ---------------------------------------------------------------------------------
    def prefer(self, job: Job) -> int:
        """Record one ballot: `job` beat every other job in this comparison. Returns the ballot
        number (`undo()` takes it back)."""
        index = self.jobs.index(job)
        others = [j.id for j in self.jobs if j is not job]
        self.ledger.vote(self.experiment, job.id, others)
        mine = self.ledger.votes(self.experiment)
        mine = mine[(mine["winner"] == job.id) & mine["loser"].isin(others)]
        ballot = int(mine["ballot"].max())
        self._ballots.append((ballot, index))
        wins = self._after_vote()
        name = self.name(self.order.index(index))
        self.note = f"ballot {ballot}: {name} preferred ({plural(wins[index])}) · u undoes it"
        return ballot

    def undo(self) -> int | None:
        """Take back the last ballot cast here (None if there is none). Returns its number."""
        if not self._ballots:
            return None
        ballot, index = self._ballots.pop()
        self.ledger.retract_vote(ballot)
        wins = self._after_vote()
        name = self.name(self.order.index(index))
        self.note = f"ballot {ballot} taken back: {name} has {plural(wins[index])}"
        return ballot

    def _after_vote(self) -> list[int]:
        """Re-count; returns the wins by index in `jobs`."""
        self.votes = self._tally()
        self.can_undo = bool(self._ballots)
        wins = [0] * len(self.jobs)
        for position, index in enumerate(self.order):
            wins[index] = self.votes[position]
        return wins

    # ---- requests from the view (anywidget commands: each gets one reply) ---------------------
    def _answer(self, action: Callable[[], Any]) -> dict[str, Any]:
        """Run what the view asked for; a failure is shown under the grid, never only logged."""
        try:
            value = action()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return {"ok": False, "error": self.error}
        self.error = ""
        return {"ok": True, "value": value}

    def _at(self, msg: Any) -> Job:
        position = msg.get("index") if isinstance(msg, dict) else None
        if not isinstance(position, int) or not 0 <= position < len(self.jobs):
            raise IndexError(f"no video at position {position!r}")
        return self.jobs[self.order[position]]

    @command
    def _vote(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        return self._answer(lambda: self.prefer(self._at(msg))), []

    @command
    def _undo(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        return self._answer(self.undo), []

    @command
    def _video(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """The view asked for a video by its key: the MP4's bytes travel as a binary buffer."""
        key = msg.get("key") if isinstance(msg, dict) else None
        if key not in self._keys:
            return {"ok": False, "error": "unknown video"}, []
        return video_reply(self.jobs[self._keys.index(key)].local_path, named=False)

    # ---- sharing -------------------------------------------------------------------------------
    def to_html(self, path: str | os.PathLike[str], embed: bool = True) -> Path:
        """Write this comparison as one HTML page to share: each video (embedded, or linked by a
        path relative to the page with `embed=False`), its label, prompt with the differing
        words marked, model, credits and ballots won, and the experiment's Bradley-Terry
        ranking. Labels are always shown. Returns the path."""
        out = Path(path)
        folder = out.resolve().parent
        words = prompt_words([job.request.prompt or "" for job in self.jobs])
        wins = tally(self.ledger, self.experiment, [job.id for job in self.jobs])
        cells = []
        for job, prompt in zip(self.jobs, words, strict=True):
            cells.append(self._export_cell(job, prompt, wins[job.id], folder, embed))
        table = results(self.ledger, self.experiment)
        table = table[table.index.isin([job.id for job in self.jobs])]
        ranking = (
            table[["label", "wins", "losses", "win_rate", "strength", "rank"]].to_html(
                classes="sd-table", float_format=lambda v: f"{v:.2f}", na_rep="", border=0
            )
            if len(table)
            else "<p>No votes yet.</p>"
        )
        title = html.escape(f"A/B: {self.experiment}")
        page = (HERE / "compare_export.html").read_text()
        page = (
            page.replace("{{title}}", title)
            .replace("{{style}}", (HERE / "compare.css").read_text())
            .replace("{{script}}", (HERE / "compare_export.js").read_text())
            .replace("{{columns}}", str(columns(len(self.jobs))))
            .replace("{{cells}}", "\n".join(cells))
            .replace("{{ranking}}", ranking)
            .replace("{{ballots}}", html.escape(plural(sum(wins.values()), "ballot")))
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
        return out

    def _export_cell(
        self, job: Job, prompt: list[list[Any]], wins: int, folder: Path, embed: bool
    ) -> str:
        marked = "".join(
            f"<mark>{html.escape(w)}</mark>" if differs else html.escape(w) for w, differs in prompt
        )
        credits = html.escape(credits_text(job))
        media = f'<p class="sd-compare-missing">{html.escape(str(job.status))}: no video</p>'
        path = job.local_path
        if job.status is JobStatus.COMPLETED and path is not None and path.exists():
            if embed:
                src = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
            else:
                src = quote(Path(os.path.relpath(path.resolve(), folder)).as_posix())
            image = poster(path)
            cover = (
                f' poster="data:image/jpeg;base64,{base64.b64encode(image).decode()}"'
                if image
                else ""
            )
            fps = video_info(path)[0]
            media = (
                f'<video src="{src}"{cover} data-fps="{fps:g}" controls loop muted playsinline>'
                "</video>"
            )
        label = html.escape(job.label or f"#{job.id}")
        return (
            f'<div class="sd-compare-cell"><div class="sd-compare-head">'
            f'<span class="sd-compare-label">{label}</span>'
            f'<span class="sd-votes">{plural(wins)}</span></div>'
            f'<div class="sd-compare-media">{media}</div>'
            f'<div class="sd-compare-prompt">{marked}</div>'
            f'<div class="sd-compare-meta">#{job.id} · {html.escape(job.model)} · {credits}</div>'
            "</div>"
        )
