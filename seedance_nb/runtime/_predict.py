"""When will a task finish? Learned from the ledger's history of similar tasks.

Two generations live here until the engine switches over:

* `Predictor`, `window` and `next_poll`: the current poller (polls at `low + k * step`, a step
  tied to the fixed loop's interval).
* `CompletionModel`, `LogNormal` and `poll_after`: scale-free polling. Completion times of a
  task kind are modelled as lognormal, learned from the ledger and from this session, with a
  prior from the API's published example (about 45 s for 5 s of 720p) scaled by length,
  upscale and model, so every job has an ETA before any history exists. Polls fall where the
  conditional distribution says a fixed share of the still-running tasks will have finished,
  so the detection lag is a fixed fraction of the spread at any time scale; with no history
  at all they start at a small fraction of the prior and grow geometrically.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict, deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from ..api._status import JobStatus
from ._optimal import Mixture

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
            sample = row_sample(row)
            if sample is not None:
                self.add(*sample)

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


# ---- scale-free model ---------------------------------------------------------------------------
PRIOR_SECONDS = 44.455  # the API's published example: 5 s of 720p, createTime -> completeTime
PRIOR_LENGTH = 5
FIXED_SHARE = 2.0  # a render costs like (FIXED_SHARE + seconds) seconds of clip
UPSCALE_FACTOR: dict[str | None, float] = {None: 1.0, "2k": 1.4, "4k": 1.8}
MODEL_FACTOR: dict[str, float] = {"seedance2": 1.0, "seedance2-fast": 0.6}
SIGMA0 = 0.35  # prior spread of log(completion time) within one kind
SIGMA0_WEIGHT = 4.0  # the prior spread counts as this many degrees of freedom
SIGMA_FLOOR = 0.05
TRANSFER = 0.2  # extra log-spread when a kind's centre comes from other kinds or the prior
COLD_FIRST = 0.05  # with no history, the first poll at this share of the prior...
COLD_GROWTH = 1.35  # ...and each next one at this multiple of the time elapsed (up to the cap)
BANDWIDTH = 0.9  # of the fitted log-spread, times n^-1/5: each sample's part in the mixture
PRIOR_PARTS = 2.0  # the fitted lognormal counts as this many samples in the mixture
TRUSTED = 0.99  # beyond this quantile, gaps grow at least with the overrun (see `poll_after`)
_NORMAL = NormalDist()
_TINY = 1e-12


def prior_seconds(key: Key) -> float:
    """What the API's published example suggests a task of this kind takes, send to done."""
    model, seconds, _, upscale = key
    length = (FIXED_SHARE + seconds) / (FIXED_SHARE + PRIOR_LENGTH)
    return PRIOR_SECONDS * length * UPSCALE_FACTOR.get(upscale, 1.0) * MODEL_FACTOR.get(model, 1.0)


@dataclass(frozen=True)
class LogNormal:
    """Completion time T with log T ~ Normal(mu, sigma); times in seconds from the send."""

    mu: float
    sigma: float

    @property
    def median(self) -> float:
        return math.exp(self.mu)

    def survival(self, t: float) -> float:
        """P(T > t)."""
        if t <= 0:
            return 1.0
        return _NORMAL.cdf(-(math.log(t) - self.mu) / self.sigma)

    def quantile(self, p: float) -> float:
        """The time by which a share `p` of tasks have finished."""
        p = min(max(p, _TINY), 1 - _TINY)
        return math.exp(self.mu + self.sigma * _NORMAL.inv_cdf(p))

    def after(self, elapsed: float, share: float) -> float | None:
        """The time by which a share `share` of the tasks still running at `elapsed` finish;
        None when `elapsed` is so far out in the tail that the model has nothing to say."""
        left = self.survival(elapsed) * (1 - share)
        if left < _TINY:
            return None
        return max(elapsed, math.exp(self.mu - self.sigma * _NORMAL.inv_cdf(left)))

    def remaining(self, elapsed: float) -> float:
        """Median time still to go for a task that has not finished after `elapsed` seconds."""
        end = self.after(elapsed, 0.5)
        return max(0.0, end - elapsed) if end is not None else (COLD_GROWTH - 1) * elapsed


def row_sample(row: dict[str, Any]) -> tuple[Key, float] | None:
    """A completed ledger row as (kind, seconds from send to completion), or None."""
    sent, done = row.get("sent_at"), row.get("completed_at")
    if row.get("status") != JobStatus.COMPLETED.value or sent is None or done is None:
        return None
    try:
        params = json.loads(row["params"] or "{}")
        key = key_of(row["model"], params.get("inputs", {}))
        seconds = (done - sent).total_seconds()
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return (key, seconds) if seconds > 0 else None


class CompletionModel:
    """A lognormal of completion times per task kind, learned as tasks finish.

    log T of a kind is centred on the mean of its own samples, shrunk towards its prior moved
    by the session's speed (the mean log ratio of every sample to its own kind's prior), each
    weighted by its precision; the spread is pooled over kinds and shrunk towards `SIGMA0`.
    So one finished task of any kind rescales every kind (a simulator at --speed 0.1 is found
    out at the first completion), and a kind's own samples take over as they come.
    """

    def __init__(self) -> None:
        self._logs: dict[Key, deque[float]] = defaultdict(lambda: deque(maxlen=HISTORY))
        self._cache: dict[Key, LogNormal] = {}
        self._mixtures: dict[Key, Mixture] = {}
        self.declared: float | None = None  # the server's own word on its speed, if any

    def load(self, rows: list[dict[str, Any]]) -> None:
        """Learn from completed ledger rows (same rows as `Predictor.load`)."""
        for row in rows:
            sample = row_sample(row)
            if sample is not None:
                self.add(*sample)

    def add(self, key: Key, seconds: float) -> None:
        """Learn one completion: `seconds` from send to completion for a task of kind `key`."""
        if seconds > 0 and math.isfinite(seconds):
            self._logs[key].append(math.log(seconds))
            self._cache.clear()
            self._mixtures.clear()

    @property
    def learned(self) -> bool:
        """Whether any completion has been seen (until then, polls follow the cold schedule)."""
        return any(self._logs.values())

    def samples(self, key: Key) -> int:
        return len(self._logs.get(key, ()))

    def speed(self) -> float:
        """How much longer than the prior tasks take here (1.0 before any history)."""
        ratios = [x - math.log(prior_seconds(k)) for k, xs in self._logs.items() for x in xs]
        if not ratios:
            return self.declared or 1.0
        return math.exp(statistics.fmean(ratios))

    def declare(self, speed: float | None) -> None:
        """The server says it runs `speed` times the published timing (a simulator): the prior
        is scaled by it until completions are seen. None (the hosted API) keeps the prior."""
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            return
        if speed != self.declared:
            self.declared = speed
            self._cache.clear()
            self._mixtures.clear()

    def distribution(self, key: Key) -> LogNormal | None:
        """The learned distribution for this kind, or None before any completion is seen."""
        if key in self._cache:
            return self._cache[key]
        groups = [xs for xs in self._logs.values() if xs]
        if not groups:
            return None
        total = sum(len(xs) for xs in groups)
        squares = sum(sum((x - statistics.fmean(xs)) ** 2 for x in xs) for xs in groups)
        freedom = sum(len(xs) - 1 for xs in groups)
        var = (SIGMA0_WEIGHT * SIGMA0**2 + squares) / (SIGMA0_WEIGHT + freedom)
        var = max(var, SIGMA_FLOOR**2)
        centre = math.log(prior_seconds(key) * self.speed())
        precision = 1 / (var / total + TRANSFER**2)
        own = list(self._logs.get(key, ()))
        if own:
            centre = (centre * precision + statistics.fmean(own) * len(own) / var) / (
                precision + len(own) / var
            )
            precision += len(own) / var
        found = LogNormal(centre, math.sqrt(var + 1 / precision))
        self._cache[key] = found
        return found

    def guess(self, key: Key) -> LogNormal:
        """The learned distribution, or before any history the prior's."""
        learned = self.distribution(key)
        if learned is not None:
            return learned
        centre = math.log(prior_seconds(key) * (self.declared or 1.0))
        return LogNormal(centre, math.sqrt(SIGMA0**2 + TRANSFER**2))

    def mixture(self, key: Key) -> Mixture:
        """A heavier-tailed fit for this kind: the fitted lognormal (`guess`) mixed with one
        narrow lognormal per sample of the kind (kernel density in log time), so a skewed or
        long-tailed kind is followed as its samples say. With no sample of the kind, the other
        kinds' samples stand in, moved by the ratio of their priors."""
        if key in self._mixtures:
            return self._mixtures[key]
        base = self.guess(key)
        own = list(self._logs.get(key, ()))
        if not own:
            here = math.log(prior_seconds(key))
            own = [
                x - math.log(prior_seconds(k)) + here for k, xs in self._logs.items() for x in xs
            ]
        parts = [(1.0, base.mu, base.sigma)]
        if own:
            rest = len(own) / (len(own) + PRIOR_PARTS)
            width = max(SIGMA_FLOOR, BANDWIDTH * base.sigma * len(own) ** -0.2)
            parts = [(1.0 - rest, base.mu, base.sigma)]
            parts += [(rest / len(own), x, width) for x in own]
        found = self._mixtures[key] = Mixture(tuple(parts))
        return found

    def expected(self, key: Key) -> float:
        """Median seconds from send to completion (the prior's before any history)."""
        return self.guess(key).median

    def eta(self, key: Key, elapsed: float) -> float:
        """Median seconds still to go for a task of this kind `elapsed` seconds after its send."""
        return self.guess(key).remaining(max(0.0, elapsed))


def poll_after(
    dist: LogNormal | None,
    prior: float,
    elapsed: float,
    *,
    first: bool,
    share: float,
    cap: float,
) -> float:
    """Seconds after the send at which to poll next, `elapsed` seconds after it.

    With a learned `dist`, the next poll comes when a share `share` of the tasks still running
    now will have finished, so every poll has about that chance of finding the task done and
    the lag scales with the spread, not with `cap`. Between polls no gap exceeds `cap`; the
    first poll may come later, when the history says nothing finishes before. With no history
    (`dist` None) polls start at `COLD_FIRST * prior` and each comes at `COLD_GROWTH` times the
    time elapsed, up to `cap` apart. Beyond the model's `TRUSTED` quantile (a task running late,
    or a model gone stale) gaps grow at least in step with the overrun, so it is not hammered.
    """
    if dist is None:
        gap = min(COLD_FIRST * prior if first else (COLD_GROWTH - 1) * elapsed, cap)
        return elapsed + max(gap, 1e-3 * prior)
    at = dist.after(elapsed, share)
    gap = at - elapsed if at is not None else (COLD_GROWTH - 1) * elapsed
    # past the last hundredth, trust the model less: gaps grow with the overrun, as when cold
    gap = max(gap, (COLD_GROWTH - 1) * (elapsed - dist.quantile(TRUSTED)))
    if not first:
        gap = min(gap, cap)
    return elapsed + max(gap, 1e-3 * dist.median)
