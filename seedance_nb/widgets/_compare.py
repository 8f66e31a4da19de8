"""Compare: two or more jobs side by side, playing in step, with a vote for the better one."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Sequence
from typing import Any

import anywidget
import traitlets as t

from ..runtime import Job, JobStatus
from ._media import poster


def prompt_words(prompts: Sequence[str]) -> list[list[list[Any]]]:
    """Each prompt as [word, differs] pairs: a word differs unless every prompt has it."""
    split = [re.findall(r"\S+|\s+", p or "") for p in prompts]
    common = set.intersection(*({w.lower() for w in words if w.strip()} for words in split))
    return [[[w, bool(w.strip()) and w.lower() not in common] for w in words] for words in split]


class Compare(anywidget.AnyWidget):
    """A grid of jobs: labels, prompts with their differences marked, credits and render time;
    play, pause, seek and loop move every video together; "prefer" votes go to the ledger."""

    _esm = pathlib.Path(__file__).parent / "compare.js"
    _css = pathlib.Path(__file__).parent / "compare.css"

    items = t.List(t.Dict()).tag(sync=True)
    votes = t.Dict().tag(sync=True)  # job id (as text) -> wins
    loop = t.Bool(True).tag(sync=True)
    _posters = t.List(t.Bytes()).tag(sync=True)

    def __init__(
        self, jobs: Sequence[Job], ledger: Any, experiment: str | None = None, **kwargs: Any
    ) -> None:
        if len(jobs) < 2:
            raise ValueError("jobs: Compare needs at least two jobs")
        super().__init__(**kwargs)
        self.jobs = list(jobs)
        self.ledger = ledger
        self.experiment = experiment or self.jobs[0].experiment
        self.on_msg(self._on_message)
        for job in self.jobs:
            job.on_update(lambda _job: self._refresh())
        self._refresh()

    def _refresh(self) -> None:
        words = prompt_words([job.request.prompt or "" for job in self.jobs])
        items, posters = [], []
        for job, prompt in zip(self.jobs, words, strict=True):
            ready = job.status is JobStatus.COMPLETED and job.local_path is not None and job.done
            render = None
            if job.task and job.task.completed_at and job.task.created_at:
                render = (job.task.completed_at - job.task.created_at).total_seconds()
            items.append(
                {
                    "id": job.id,
                    "label": job.label or f"#{job.id}",
                    "words": prompt,
                    "status": str(job.status),
                    "credits": job.credits_used,
                    "estimate": job.estimated_credits,
                    "render_s": render,
                    "ready": ready,
                    "model": job.model,
                }
            )
            posters.append(poster(job.local_path) if ready and job.local_path else b"")
        with self.hold_sync():
            self.items = items
            self._posters = posters
            self.votes = self._tally()

    def _tally(self) -> dict[str, int]:
        ids = {job.id for job in self.jobs}
        votes = self.ledger.votes(self.experiment).drop_duplicates("ballot")
        wins = votes[votes["winner"].isin(ids)]["winner"].value_counts()
        return {str(i): int(wins.get(i, 0)) for i in ids}

    def prefer(self, job: Job) -> None:
        """Record that `job` beat every other job in this comparison."""
        others = [j.id for j in self.jobs if j is not job]
        self.ledger.vote(self.experiment, job.id, others)
        self.votes = self._tally()

    def _on_message(self, widget: Any, content: dict[str, Any], buffers: list[bytes]) -> None:
        if not isinstance(content, dict):
            return
        index = content.get("index")
        if not isinstance(index, int) or not 0 <= index < len(self.jobs):
            return
        job = self.jobs[index]
        if content.get("type") == "vote":
            self.prefer(job)
        elif content.get("type") == "get-video":
            try:
                if job.local_path is None:
                    raise FileNotFoundError("the video is not ready yet")
                data = job.local_path.read_bytes()
            except OSError as exc:
                self.send({"type": "error", "index": index, "message": str(exc)})
                return
            self.send({"type": "video", "index": index}, [data])
