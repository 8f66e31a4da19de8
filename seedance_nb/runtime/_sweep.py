"""Sweeps: the cross product of prompt variants and settings, priced before anything is sent."""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..api import BudgetExceededError, Request, TextToVideo, estimate_credits

if TYPE_CHECKING:
    import pandas as pd

    from ._job import Job
    from ._studio import Studio

Make = Callable[..., Request]


@dataclass
class Sweep:
    """A planned batch: `plan` prices every variant; `submit()` sends them all."""

    studio: Studio
    experiment: str
    items: list[tuple[str, Request, str]]  # label, request, model
    jobs: list[Job] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Estimated credits for the whole sweep."""
        return sum(estimate_credits(req, model) for _, req, model in self.items)

    @property
    def plan(self) -> pd.DataFrame:
        """One row per variant with its settings and estimate."""
        import pandas as pd

        rows = [
            {
                "label": label,
                "model": model,
                "prompt": req.prompt,
                "duration": req.seconds,
                "resolution": req.resolution,
                "upscale": req.upscale,
                "estimated_credits": estimate_credits(req, model),
            }
            for label, req, model in self.items
        ]
        return pd.DataFrame(rows)

    def submit(self) -> list[Job]:
        """Send every variant (once: a second call returns the same jobs)."""
        if not self.jobs:
            remaining = self.studio.ledger.remaining(self.experiment)
            if remaining is not None and self.total > remaining:
                raise BudgetExceededError(self.experiment, remaining, self.total)
            self.jobs = [
                self.studio.submit(req, model, self.experiment, label)
                for label, req, model in self.items
            ]
        return self.jobs

    def _repr_html_(self) -> str:
        state = (
            f"{len(self.jobs)} jobs submitted"
            if self.jobs
            else "not submitted: call .submit(), or pass confirm=True"
        )
        return (
            f"<b>Sweep of {len(self.items)} variants in {html.escape(self.experiment)!s}: "
            f"{self.total} credits estimated</b> ({state}){self.plan.to_html(index=False)}"
        )

    def __repr__(self) -> str:
        return (
            f"<Sweep {len(self.items)} variants, {self.total} credits estimated, "
            f"{len(self.jobs)} submitted>"
        )


def build(
    studio: Studio,
    experiment: str,
    prompts: Sequence[str],
    durations: Sequence[Any],
    models: Sequence[str],
    resolutions: Sequence[str | None],
    upscales: Sequence[str | None],
    make: Make | None,
) -> Sweep:
    """Every combination as a validated request, labelled by what varies."""
    make = make or (
        lambda prompt, duration, resolution, upscale: TextToVideo(
            prompt, duration=duration, resolution=resolution, upscale=upscale
        )
    )
    axes = {
        "p": list(prompts),
        "d": list(durations),
        "m": list(models),
        "r": list(resolutions),
        "u": list(upscales),
    }
    items = []
    for combo in itertools.product(*axes.values()):
        prompt, duration, model, resolution, upscale = combo
        label = (
            "·".join(
                _part(name, values, value)
                for (name, values), value in zip(axes.items(), combo, strict=True)
                if len(values) > 1
            )
            or "only"
        )
        items.append((label, make(prompt, duration, resolution, upscale), model))
    return Sweep(studio, experiment, items)


def _part(name: str, values: list[Any], value: Any) -> str:
    if name == "p":
        return f"p{values.index(value) + 1}"
    return str(value) + ("s" if name == "d" and isinstance(value, int) else "")
