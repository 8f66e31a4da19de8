"""When will a task finish? Learned from the ledger's history of similar tasks.

The poller uses the prediction to stay quiet early and look closely near the end: it polls at
`low + k * step`, where `low` is the early edge of what similar tasks took and `step` is under
the seed's 5 s loop, so completion is seen sooner than that loop would see it, with a fraction
of its queries.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

Key = tuple[str, int, str | None, str | None]  # model, seconds, resolution, upscale
HISTORY = 40  # recent samples kept per key
MIN_SAMPLES = 3
DENSE = 0.8  # inside a known window, polls come this much closer together than the fixed loop


@dataclass(frozen=True)
class Window:
    """Expected time from send to completion, in seconds: the early edge and the typical value."""

    low: float
    typical: float


def key_of(model: str, inputs: dict[str, Any]) -> Key:
    """What makes two tasks take about as long: model, length, size, upscale."""
    seconds = int(str(inputs.get("duration", "5s")).rstrip("s") or 5)
    return (model, seconds, inputs.get("resolution"), inputs.get("upscaleResolution"))


class Predictor:
    """Completion-time history per task kind, fed from the ledger and from finished jobs."""

    def __init__(self) -> None:
        self._by_key: dict[Key, deque[float]] = defaultdict(lambda: deque(maxlen=HISTORY))

    def load(self, rows: list[dict[str, Any]]) -> None:
        """Learn from completed ledger rows (their server-side send and completion times)."""
        for row in rows:
            sent, done = row.get("sent_at"), row.get("completed_at")
            if row.get("status") != "COMPLETED" or sent is None or done is None:
                continue
            try:
                params = json.loads(row["params"] or "{}")
                key = key_of(row["model"], params.get("inputs", {}))
            except (ValueError, TypeError, KeyError):
                continue
            self.add(key, (done - sent).total_seconds())

    def add(self, key: Key, seconds: float) -> None:
        if seconds > 0:
            self._by_key[key].append(seconds)

    def window(self, key: Key) -> Window | None:
        """The expected window for a task of this kind, or None with too little history.

        With no sample of exactly this kind, the same model's tasks are scaled by length.
        """
        samples = list(self._by_key.get(key, ()))
        if len(samples) < MIN_SAMPLES:
            samples = [
                s * key[1] / k[1]
                for k, values in self._by_key.items()
                if k[0] == key[0] and k[3] == key[3]
                for s in values
            ]
            if len(samples) < MIN_SAMPLES:
                return None
            return Window(low=0.7 * min(samples), typical=statistics.median(samples))
        ordered = sorted(samples)
        low = ordered[max(0, int(0.05 * len(ordered)) - 1)] if len(ordered) >= 20 else ordered[0]
        return Window(low=low, typical=statistics.median(ordered))


def next_poll(elapsed: float, window: Window | None, spacing: float) -> float:
    """Seconds after sending at which to poll next, given `elapsed` seconds so far.

    With history, polls fall at `low + k * DENSE * spacing` (k >= 1): the window is where
    completions happen, so it is searched more closely than the fixed loop would, which keeps
    the detection lag clearly under that loop's while the early silence saves the queries.
    With no history, `low` is 0 and this is the plain fixed loop at `spacing`.
    """
    if window is None:
        return (int(elapsed / spacing) + 1) * spacing
    low, step = window.low, DENSE * spacing
    if elapsed < low:
        return low + step
    return low + (int((elapsed - low) / step) + 1) * step
