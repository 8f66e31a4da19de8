"""TaskView: what a Job shows in a notebook, live, with its video playing inline."""

from __future__ import annotations

import base64
import html
import pathlib
import string
from typing import Any

import anywidget
import traitlets as t

from ..runtime import Job, JobStatus
from ._media import poster

_STATIC = string.Template((pathlib.Path(__file__).parent / "task_view_static.html").read_text())


class TaskView(anywidget.AnyWidget):
    """A live card for one job: status, progress, credits, errors, then the video.

    The video travels as a binary message when the view asks for it (and becomes a blob URL in
    the browser), so it plays wherever the browser can reach only the Jupyter server, and a
    saved notebook keeps only a small poster, never the MP4.
    """

    _esm = pathlib.Path(__file__).parent / "task_view.js"
    _css = pathlib.Path(__file__).parent / "task_view.css"

    job_id = t.Int(0).tag(sync=True)
    mode = t.Unicode("").tag(sync=True)
    model = t.Unicode("").tag(sync=True)
    label = t.Unicode("").tag(sync=True)
    prompt = t.Unicode("").tag(sync=True)
    experiment = t.Unicode("").tag(sync=True)
    status = t.Unicode("QUEUED").tag(sync=True)
    final = t.Bool(False).tag(sync=True)  # from the one status vocabulary: JS keeps no list
    failed = t.Bool(False).tag(sync=True)  # final without a video
    task_id = t.Unicode("").tag(sync=True)
    sent_at = t.Float(0.0).tag(sync=True)  # epoch seconds, 0 while queued
    finished_at = t.Float(0.0).tag(sync=True)
    predicted_seconds = t.Float(0.0).tag(sync=True)
    estimated_credits = t.Int(0).tag(sync=True)
    credits_used = t.Int(-1).tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    warning = t.Unicode("").tag(sync=True)
    video_name = t.Unicode("").tag(sync=True)
    video_size = t.Int(0).tag(sync=True)
    _poster = t.Bytes(b"").tag(sync=True)

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self._video_sent = ""
        self.on_msg(self._on_message)
        self._sync(job)
        job.on_update(self._sync)

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
        used = job.credits_used
        credits = f"{used} credits" if used is not None else f"~{job.estimated_credits} credits"
        label = f"{job.label} · " if job.label else ""
        return _STATIC.substitute(
            status=html.escape(self.status),
            border="#f0a8a8" if self.failed else "#ccc",
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
            self.failed = self.final and job.status is not JobStatus.COMPLETED
            self.task_id = job.task_id or ""
            self.sent_at = job.sent or 0.0
            self.finished_at = job.ended or 0.0  # this machine's clock, like sent_at
            self.predicted_seconds = job.predicted_seconds or 0.0
            self.estimated_credits = job.estimated_credits
            used = job.credits_used
            self.credits_used = -1 if used is None else used
            self.error = job.error or ""
            self.warning = job.warning or ""
            if job.local_path and job.status is JobStatus.COMPLETED and job.done:
                if self.video_name != job.local_path.name:
                    self._poster = poster(job.local_path)
                self.video_name = job.local_path.name
                self.video_size = job.local_path.stat().st_size

    def _on_message(self, widget: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The view asked for the video: answer with its bytes, or with an error message."""
        if not isinstance(content, dict) or content.get("type") != "get-video":
            return
        request_id = content.get("id")
        path = self.job.local_path
        try:
            if path is None:
                raise FileNotFoundError("the video is not downloaded yet")
            data = path.read_bytes()
        except OSError as exc:
            self.send({"type": "error", "id": request_id, "message": str(exc)})
            return
        self.send({"type": "video", "id": request_id, "name": path.name}, [data])
