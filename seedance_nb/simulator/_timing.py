"""How long a task takes, at speed 1: a short queue wait, then a render time with a long tail.

The model (all times in seconds at `--speed 1`; the simulator multiplies them by its speed):

- queue wait: uniform between QUEUE_WAIT[0] and QUEUE_WAIT[1] (median 2.5 s);
- render time: ``m * (FLOOR + (1 - FLOOR) * exp(SIGMA * Z))``, Z standard normal, capped at
  ``CAP * m``: a fixed share of the median that every render needs, plus a lognormal part
  that gives the right tail. Its median is exactly ``m``; its quantile p is
  ``m * (FLOOR + (1 - FLOOR) * exp(SIGMA * z_p))`` below the cap (the cap is at p = 0.997);
- the median ``m = (BASE + PER_SECOND * seconds) * UPSCALE[upscale] * MODEL[model]``.

With the defaults, 5 s at 720p on seedance2 has m = 42 s, p90 72.5 s, p95 87.4 s, p99 128 s,
never less than 21 s nor more than 168 s; with the queue, the median from createTime to
completeTime is about 44.5 s, as in the API's published example (1711234567890 ->
1711234612345). Longer clips, upscales and the standard model take longer; seedance2-fast
takes 0.6 of the time.
"""

from __future__ import annotations

import math
import random

QUEUE_WAIT = (1.0, 4.0)
BASE = 12.0
PER_SECOND = 6.0
UPSCALE: dict[str | None, float] = {None: 1.0, "2k": 1.4, "4k": 1.8}
MODEL: dict[str, float] = {"seedance2": 1.0, "seedance2-fast": 0.6}
FLOOR = 0.5
SIGMA = 0.7
CAP = 4.0


def median_render(seconds: int, upscale: str | None, model: str) -> float:
    """The median render time of a clip, at speed 1."""
    return (BASE + PER_SECOND * seconds) * UPSCALE.get(upscale, 1.0) * MODEL.get(model, 1.0)


def render_time(rng: random.Random, seconds: int, upscale: str | None, model: str) -> float:
    """One render time drawn from the model, at speed 1."""
    median = median_render(seconds, upscale, model)
    spread = FLOOR + (1 - FLOOR) * math.exp(SIGMA * rng.normalvariate(0.0, 1.0))
    return median * min(CAP, spread)


def queue_wait(rng: random.Random) -> float:
    """One queue wait drawn from the model, at speed 1."""
    return rng.uniform(*QUEUE_WAIT)
