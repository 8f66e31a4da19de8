"""TaskView: what a Job shows in a notebook, live, with its video playing inline."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import html
import pathlib
import string
import weakref
from typing import Any

import anywidget
import traitlets as t
from anywidget.experimental import command

from ..runtime import Job, JobStatus
from ..runtime._host import marimo_notebook
from ._live import credits_text, describe_error, listen, off_loop, render_seconds
from ._media import poster
from ._request import css, esm, served_path, video_reply

_STATIC = string.Template((pathlib.Path(__file__).parent / "task_view_static.html").read_text())


class TaskView(anywidget.AnyWidget):
    """A live card for one job: status, progress, credits, errors, then the video.

    Under a Jupyter server whose root holds the video, the video plays from the server's own
    URL for the file (`video_path`), so it plays at once even while cells run. Elsewhere, or if
    that URL fails, it travels as the binary reply to the view's request (a blob URL in the
    browser). Either way it plays wherever the browser can reach only the Jupyter server, and
    a saved notebook keeps only a small poster, never the MP4.

    In marimo the card pushes the video instead: marimo answers a view's request only between
    cells, so a request made while `job.result()` or `studio.wait()` blocks would wait for that
    cell. A trait set from another thread is sent at once (marimo binds each widget's comm to its
    session), so when the job ends the bytes go out from a worker thread in `_video_data`.

    One view per job (`TaskView.of(job)`, what displaying a job uses): showing a job again,
    or re-running its cell, shows the same live card, so re-runs add no subscribers.
    """

    _esm = esm("task_view.js")
    _css = css("task_view.css")

    job_id = t.Int(0).tag(sync=True)
    mode = t.Unicode("").tag(sync=True)
    model = t.Unicode("").tag(sync=True)
    label = t.Unicode("").tag(sync=True)
    prompt = t.Unicode("").tag(sync=True)
    experiment = t.Unicode("").tag(sync=True)
    status = t.Unicode(JobStatus.QUEUED.value).tag(sync=True)
    final = t.Bool(False).tag(sync=True)  # from the one status vocabulary: JS keeps no list
    no_video = t.Bool(False).tag(sync=True)  # final without a video
    task_id = t.Unicode("").tag(sync=True)
    sent_at = t.Float(0.0).tag(sync=True)  # epoch seconds, 0 while queued
    finished_at = t.Float(0.0).tag(sync=True)
    predicted_seconds = t.Float(0.0).tag(sync=True)
    p90_seconds = t.Float(0.0).tag(sync=True)
    estimated_credits = t.Int(0).tag(sync=True)
    credits_used = t.Int(-1).tag(sync=True)
    credits_text = t.Unicode("").tag(sync=True)  # honest words: charged, refused or estimate
    render_seconds = t.Float(0.0).tag(sync=True)  # the server's render time, 0 if unknown
    tone = t.Unicode("busy").tag(sync=True)  # ok, busy, bad or muted: what CSS keys on
    refused = t.Bool(False).tag(sync=True)  # turned down when sent: nothing charged
    saving = t.Bool(False).tag(sync=True)  # paid and rendered; the video is on its way here
    reused = t.Int(0).tag(sync=True)  # times a re-run returned this job (nothing spent)
    error = t.Unicode("").tag(sync=True)
    view_error = t.Unicode("").tag(sync=True)  # the card's own trouble, shown under it
    warning = t.Unicode("").tag(sync=True)
    video_name = t.Unicode("").tag(sync=True)
    video_size = t.Int(0).tag(sync=True)
    video_path = t.Unicode("").tag(sync=True)  # relative to the Jupyter server's root, or ""
    _poster = t.Bytes(b"").tag(sync=True)
    push_video = t.Bool(False).tag(sync=True)  # marimo: the video comes in _video_data, unasked
    _video_data = t.Bytes(b"").tag(sync=True)  # only when pushing: never in a saved notebook

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self._poster_for = ""
        self._pushed_for = ""
        # decided here, in the cell that shows the card (marimo's context is per thread)
        self.push_video = marimo_notebook()
        self._posting: concurrent.futures.Future[None] | None = None  # the poster being made
        self.handles: list[Any] = []  # the displays showing this card (for the final update)
        self._sync(job)
        self.reused = _REUSED.get(job, 0)
        self._unsubscribe = listen(self, job.on_update, "_update")
        _watch_cells()

    @classmethod
    def of(cls, job: Job) -> TaskView:
        """The one live card of `job` (made on first use)."""
        view = _VIEWS.get(job)
        if view is None or view.comm is None:  # none yet, or closed
            view = _VIEWS[job] = cls(job)
        return view

    def close(self) -> None:
        """Stop following the job, then close the widget."""
        self._unsubscribe()
        super().close()

    @staticmethod
    def mark_reused(job: Job) -> None:
        """A re-run returned `job`: its card (now or when made) says "reused: nothing spent".
        No card is made here: a widget nobody shows would only be one more subscriber."""
        _REUSED[job] = _REUSED.get(job, 0) + 1
        view = _VIEWS.get(job)
        if view is not None and view.comm is not None:
            view.reused = _REUSED[job]

    def _update(self, job: Job) -> None:
        try:
            self._sync(job)
        except Exception as exc:  # shown on the card itself, not only in a log
            self.view_error = describe_error(exc)
            raise

    def __repr__(self) -> str:  # the text shown where widgets cannot render
        return f"<TaskView {self.job.summary()}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The live widget, plus a static card (status, credits, poster, path) that GitHub,
        nbviewer or a notebook saved without widget state show in its place."""
        shown = super()._repr_mimebundle_(**kwargs) or {}
        data, meta = shown if isinstance(shown, tuple) else (shown, {})
        return {**data, "text/html": self.static_html()}, meta

    def static_html(self) -> str:
        """The card as plain HTML, with the poster inline (a few KB, never the video)."""
        job = self.job
        poster_tag = ""
        if self._poster:
            data = base64.b64encode(self._poster).decode()
            poster_tag = (
                f'<img src="data:image/jpeg;base64,{data}" alt="first frame" '
                'style="max-width:100%;max-height:50vh;border-radius:6px;display:block">'
            )
        error = f'<div style="color:#b91c1c">{html.escape(self.error)}</div>' if self.error else ""
        credits = html.escape(credits_text(job))
        label = f"{job.label} · " if job.label else ""
        return _STATIC.substitute(
            status=html.escape(self.status),
            border="#f0a8a8" if self.no_video else "#ccc",
            reused=" · reused: nothing spent" if self.reused else "",
            job_id=job.id,
            title=html.escape(f"{label}{job.request.mode} · {job.model}"),
            credits=credits,
            prompt=html.escape(self.prompt),
            error=error,
            poster=poster_tag,
            where=html.escape(str(job.local_path) if job.local_path else (job.task_id or "")),
        )

    def _sync(self, job: Job) -> None:
        """Copy the job's state into the synced traits (called on every change)."""
        with self.hold_sync():
            self.job_id = job.id
            self.mode, self.model = job.request.mode, job.model
            self.label, self.experiment = job.label or "", job.experiment
            self.prompt = job.request.prompt or ""
            self.status = str(job.status)
            self.final = job.done and job.status.final
            self.no_video = self.final and job.status is not JobStatus.COMPLETED
            self.task_id = job.task_id or ""
            self.sent_at = job.sent or 0.0
            self.finished_at = job.ended or 0.0  # this machine's clock, like sent_at
            self.predicted_seconds = job.predicted_seconds or 0.0
            self.p90_seconds = job.p90_seconds or 0.0
            self.estimated_credits = job.estimated_credits
            used = job.credits_used
            self.credits_used = -1 if used is None else used
            self.credits_text = credits_text(job)
            self.render_seconds = render_seconds(job)
            self.tone = job.status.tone
            self.saving = job.status is JobStatus.DOWNLOADING
            self.refused = self.final and not job.status.holds_credits and not job.sent
            self.error = job.error or ""
            self.warning = job.warning or ""
            path = job.local_path
            if path and job.status is JobStatus.COMPLETED and job.done:
                self.video_path = served_path(path)  # before the name the view waits on
                self.video_name = path.name
                self.video_size = path.stat().st_size
                if self._poster_for != path.name:  # decoding a frame: never on the loop
                    self._poster_for = path.name
                    self._posting = off_loop(lambda: poster(path), self._set_poster)
                if self.push_video and self._pushed_for != path.name:  # reading: off the loop
                    self._pushed_for = path.name
                    off_loop(lambda: self._push(path), lambda _: None)
        if self.final:
            self.handles = [h for h, v in getattr(job, "_views", ()) if v is self] or self.handles
            _ENDED.add(self)

    def _set_poster(self, image: bytes) -> None:
        self._poster = image
        if self.final:  # the static card a notebook saves should carry the poster too
            for handle in self.handles:
                handle.update(self)
            _ENDED.add(self)  # and again after the running cell, for nbclient

    def _push(self, path: pathlib.Path) -> None:
        """Send the video's bytes to the view unasked (marimo): from this worker thread, not
        behind whatever cell is running."""
        try:
            self._video_data = path.read_bytes()
        except OSError as exc:
            self.view_error = f"video: {exc}"

    @command
    def _video(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """The view asked for the video: its bytes as a binary buffer, or why not."""
        return video_reply(self.job.local_path)


_VIEWS: weakref.WeakKeyDictionary[Job, TaskView] = weakref.WeakKeyDictionary()
_REUSED: weakref.WeakKeyDictionary[Job, int] = weakref.WeakKeyDictionary()  # re-runs per job
_ENDED: weakref.WeakSet[TaskView] = weakref.WeakSet()  # cards whose end is not yet republished


def _republish(*_: Any) -> None:
    """After each cell: publish the final card of every job that ended since, from the cell's
    own thread and under its parent message. A notebook executed by nbclient (nbconvert,
    papermill) records only the running cell's messages, so an update sent from the studio's
    thread at the job's end is lost there; this one is kept."""
    for view in list(_ENDED):
        _ENDED.discard(view)
        if view._posting is not None:  # the saved card should carry its poster
            with contextlib.suppress(Exception):
                view._posting.result(timeout=10)
        for handle in view.handles:
            handle.update(view)


def _watch_cells() -> None:
    """Hook `_republish` into IPython once (nothing outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None or _republish in shell.events.callbacks.get("post_run_cell", []):
        return
    shell.events.register("post_run_cell", _republish)
