"""The optimal poll schedule for a completion-time distribution, by dynamic programming.

A task finishes at a random time T (seconds from its send) with distribution function F. A
schedule is a list of poll times; the task is detected at the first poll at or after T. Each
poll costs one query and every second between T and its detection costs `lam` queries, so the
schedule minimises E[queries] + lam * E[lag]. Times are discretised on a grid; with W(i) the
least expected cost still to pay after a poll at grid time g_i (counted over all tasks, so a
task already done contributes nothing),

    W(i) = min over j > i of  S(g_i) + lam * L(i, j) + W(j),
    L(i, j) = E[(g_j - T); g_i < T <= g_j] = C(g_j) - C(g_i) - (g_j - g_i) F(g_i),

where S = 1 - F and C is the integral of F. The next poll after g_i may come at most `cap`
seconds later (the user's `poll_interval`), except the first one. By the principle of
optimality the schedule from the send is also optimal from any poll that found the task still
running, so one schedule per distribution serves every poll. Pure Python, no numpy.

`Mixture` is the distribution the studio learns: a mixture of lognormals (see
`CompletionModel.mixture`), heavier-tailed than one lognormal.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import sub

_SQRT2 = math.sqrt(2.0)
DONE = 1e-6  # a survival this small ends the schedule: nothing left to find
STEPS = 400  # grid points between the first and the last quantile considered


@dataclass(frozen=True)
class Mixture:
    """T with log T drawn from a weighted mix of normals: (weight, mu, sigma) per part."""

    parts: tuple[tuple[float, float, float], ...]

    @cached_property
    def _scaled(self) -> tuple[tuple[float, float, float], ...]:
        """(weight / 2, mu, sigma * sqrt 2) per part: the normal cdf by `math.erf` directly."""
        return tuple((w / 2, mu, sigma * _SQRT2) for w, mu, sigma in self.parts)

    def cdf(self, t: float) -> float:
        """P(T <= t)."""
        if t <= 0:
            return 0.0
        return self._cdf_log(math.log(t))

    def _cdf_log(self, x: float) -> float:
        """P(log T <= x)."""
        erf = math.erf
        return sum(h + h * erf((x - mu) / s) for h, mu, s in self._scaled)

    def survival(self, t: float) -> float:
        return 1.0 - self.cdf(t)

    def quantile(self, p: float) -> float:
        """The time by which a share `p` of tasks have finished (bisection in log time)."""
        lo = min(mu - 9 * sigma for _, mu, sigma in self.parts)
        hi = max(mu + 9 * sigma for _, mu, sigma in self.parts)
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self._cdf_log(mid) < p else (lo, mid)
        return math.exp((lo + hi) / 2)

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def remaining(self, elapsed: float, share: float = 0.5) -> float:
        """Seconds until a share `share` of the tasks still running at `elapsed` have finished."""
        left = self.survival(elapsed)
        if left <= DONE:
            return 0.0
        return max(0.0, self.quantile(1.0 - left * (1.0 - share)) - elapsed)


@dataclass(frozen=True)
class Plan:
    """An optimal schedule and what it is expected to cost on its own distribution."""

    polls: tuple[float, ...]
    queries: float  # expected queries per task
    lag: float  # expected seconds from completion to detection
    end: float  # the grid's last time: past it the schedule has nothing more to say

    def next_after(self, elapsed: float) -> float | None:
        """The first planned poll later than `elapsed`, or None past the plan's end."""
        i = bisect.bisect_right(self.polls, elapsed)
        return self.polls[i] if i < len(self.polls) else None


def grid(lo: float, hi: float, steps: int = STEPS) -> list[float]:
    """Time 0 (the send), then `steps` + 1 evenly spaced times from `lo` to `hi`."""
    lo = max(lo, 0.0)
    step = (hi - lo) / steps
    return [0.0] + [lo + k * step for k in range(steps + 1) if lo + k * step > 0]


def solve(
    cdf: Callable[[float], float],
    times: Sequence[float],
    lam: float,
    cap: float = math.inf,
) -> Plan:
    """The schedule on the grid `times` (ascending, from the send at times[0]) minimising
    E[queries] + lam * E[lag] for completion times with distribution function `cdf`.

    The last grid time must lie where (nearly) every task has finished; the schedule always
    reaches it unless the tasks are all done before. Gaps after the first poll stay <= `cap`
    when the grid allows (a gap of one grid step is always allowed).
    """
    n = len(times) - 1
    f = [min(1.0, max(0.0, cdf(t))) for t in times]
    c = [0.0] * (n + 1)  # C(g_i): the integral of F from times[0], by trapezoids
    for i in range(1, n + 1):
        c[i] = c[i - 1] + (f[i] + f[i - 1]) / 2 * (times[i] - times[i - 1])
    # value(i, j) = S(g_i) + lam * (C(g_j) - C(g_i) - (g_j - g_i) F(g_i)) + W(j)
    #             = [S(g_i) + lam * (g_i F(g_i) - C(g_i))] + [lam C(g_j) + W(j)] - lam F(g_i) g_j:
    # a minimum over j of a[j] - s_i g_j with s_i = lam F(g_i) growing with i, so the best next
    # poll never comes earlier for a later poll (the windows' ends grow with i too, past the
    # first poll). Each row thus scans only up to the next row's choice, not the whole window.
    cost = [0.0] * (n + 1)
    step = [n + 1] * (n + 1)  # the next poll's index after a poll at i (n + 1: stop)
    a = [lam * x for x in c]  # lam C(g_j) + W(j), W added as i goes down
    for i in range(n - 1, -1, -1):
        alive = 1.0 - f[i]
        if alive <= DONE:
            continue
        end = n + 1
        if i > 0:  # one grid step is always allowed
            end = max(bisect.bisect_right(times, times[i] + cap, i + 1), i + 2)
            end = min(end, step[i + 1] + 1)
        values = list(map(sub, a[i + 1 : end], map((lam * f[i]).__mul__, times[i + 1 : end])))
        best = min(values)
        step[i] = i + 1 + values.index(best)
        cost[i] = alive + lam * (times[i] * f[i] - c[i]) + best
        a[i] += cost[i]
    polls: list[float] = []
    queries = lag = 0.0
    i = 0
    while i <= n and 1.0 - f[i] > DONE and step[i] <= n:
        j = step[i]
        queries += 1.0 - f[i]
        lag += c[j] - c[i] - (times[j] - times[i]) * f[i]
        polls.append(times[j])
        i = j
    return Plan(tuple(polls), queries, lag, times[-1])


def plan_for(dist: Mixture, lam: float, cap: float = math.inf, steps: int = STEPS) -> Plan:
    """The optimal schedule for `dist`, its grid spanning the quantiles 0.0005 to 0.9995."""
    times = grid(dist.quantile(0.0005), dist.quantile(0.9995), steps)
    return solve(dist.cdf, times, lam, cap)
