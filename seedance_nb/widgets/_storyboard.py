"""Storyboard: a long shot's strip of shot cards, a badge on every seam, credits against the
plan, and the stitched video playing once it exists."""

from __future__ import annotations

import html
import threading
from typing import Any

import anywidget
import traitlets as t
from anywidget.experimental import command

from ..longshot import Sequence
from ..runtime import JobStatus
from ._live import listen, off_loop
from ._media import poster
from ._request import css, esm, video_reply


class Storyboard(anywidget.AnyWidget):
    """A live view of a `Sequence`. The shots' state comes from their jobs and the seams from
    the sequence; the stitched MP4 travels as a binary message when the view asks for it.
    It follows the sequence and its jobs through weak subscriptions that `close()` (or the
    garbage collector) removes, and decodes posters on a worker thread, never the loop."""

    _esm = esm("storyboard.js")  # the shared request helper in front
    _css = css("storyboard.css")  # the shared status tones in front

    name = t.Unicode("").tag(sync=True)
    state = t.Unicode("planned").tag(sync=True)
    reason = t.Unicode("").tag(sync=True)
    shots = t.List(t.Dict()).tag(sync=True)  # one dict a shot (poster bytes included)
    seams = t.List(t.Dict()).tag(sync=True)  # one dict a measured seam
    planned = t.Int(0).tag(sync=True)
    spent = t.Int(0).tag(sync=True)
    budget = t.Int(-1).tag(sync=True)  # -1: no budget for the chain
    video_name = t.Unicode("").tag(sync=True)
    video_size = t.Int(0).tag(sync=True)
    stitch_method = t.Unicode("").tag(sync=True)

    def __init__(self, seq: Sequence, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seq = seq
        self._watched: set[int] = set()
        self._posters: dict[tuple[int, str], bytes] = {}  # b"" while one is being decoded
        self._lock = threading.RLock()  # one _sync at a time, and close() between them
        self._unsubscribe = [listen(self, seq.on_change, "_sync")]
        self._sync(seq)

    def close(self) -> None:
        """Stop following the sequence and its jobs, then close the widget."""
        with self._lock:
            for unsubscribe in self._unsubscribe:
                unsubscribe()
            self._unsubscribe.clear()
        super().close()

    def _job_changed(self, _job: Any) -> None:
        self._sync(self.seq)

    def _poster(self, key: tuple[int, str], path: Any) -> bytes:
        """The poster of a completed shot, or b"" while a worker thread decodes it (the view is
        synced again when it is ready)."""
        if key not in self._posters:
            self._posters[key] = b""

            def keep(data: bytes) -> None:
                self._posters[key] = data
                self._sync(self.seq)  # (nothing once closed)

            off_loop(lambda: poster(path), keep)
        return self._posters[key]

    def __repr__(self) -> str:
        return f"<Storyboard {self.seq!r}>"

    def _sync(self, seq: Sequence, *_: Any) -> None:
        """Copy the sequence's state (and its jobs') into the synced traits. One thread at a
        time: the studio's loop, the kernel's thread and the poster worker all call it, and an
        older picture must never land after a newer one (a poster shown, then blanked)."""
        with self._lock:
            if not self._unsubscribe:  # closed
                return
            shots = []
            for row in seq.shot_plan:
                n = int(row["shot"])
                job = seq.jobs.get(n)
                card: dict[str, Any] = {
                    "n": n,
                    "mode": row["mode"],
                    "seconds": row["seconds"],
                    "prompt": row["prompt"] or "",
                    "estimated": int(row["credits"]),
                    "status": "PLANNED",
                    "tone": "muted",
                    "credits": -1,
                    "take": 1,
                    "job_id": 0,
                    "poster": b"",
                }
                if job is not None:
                    if job.id not in self._watched:
                        self._watched.add(job.id)
                        self._unsubscribe.append(listen(self, job.on_update, "_job_changed"))
                    card.update(
                        status=str(job.status),
                        tone=job.status.tone,
                        credits=-1 if job.credits_used is None else job.credits_used,
                        take=job.take,
                        job_id=job.id,
                        mode=job.request.mode,
                    )
                    if job.local_path and job.status is JobStatus.COMPLETED:
                        card["poster"] = self._poster((job.id, job.local_path.name), job.local_path)
                shots.append(card)
            seams = [
                {k: (float(v) if isinstance(v, float) else v) for k, v in s.as_dict().items()}
                for s in seq.measured
            ]
            with self.hold_sync():
                self.name, self.state, self.reason = seq.name, seq.state, seq.reason or ""
                self.shots, self.seams = shots, seams
                self.planned, self.spent = seq.total, seq.spent
                self.budget = -1 if seq.budget is None else int(seq.budget)
                stitched = seq.stitched
                self.video_name = stitched.name if stitched else ""
                self.video_size = stitched.stat().st_size if stitched and stitched.exists() else 0
                self.stitch_method = seq.stitch_method or ""

    def static_html(self) -> str:
        """The strip as plain HTML, for where widgets do not render."""
        cells = []
        for card in self.shots:
            cells.append(
                f"<td>#{card['n']} {html.escape(card['status'])}<br>{card['seconds']} s · "
                f"{html.escape(card['mode'])}</td>"
            )
        return (
            f"<div><b>{html.escape(self.name)}</b> ({html.escape(self.state)}): "
            f"{self.spent} of ~{self.planned} credits<table><tr>{''.join(cells)}</tr></table>"
            "</div>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        shown = super()._repr_mimebundle_(**kwargs) or {}
        data, meta = shown if isinstance(shown, tuple) else (shown, {})
        return {**data, "text/html": self.static_html()}, meta

    @command
    def _video(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """The view asked for the stitched video: its bytes as a binary buffer, or why not."""
        if self.seq.stitched is None:
            return {"ok": False, "error": "not stitched yet: seq.stitch() writes it"}, []
        return video_reply(self.seq.stitched)
