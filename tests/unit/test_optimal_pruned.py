"""The optimal schedule's DP scans each row only up to the next row's choice (`_optimal.solve`):
the same plans as a scan of every allowed next poll, on random mixtures, prices and caps."""

from __future__ import annotations

import math
import random

import pytest

from seedance_nb.runtime._optimal import DONE, Mixture, Plan, grid, solve


def full_scan(cdf, times, lam, cap=math.inf) -> tuple[float, ...]:
    """The textbook DP: every allowed next poll tried for every poll (the old `solve`)."""
    n = len(times) - 1
    f = [min(1.0, max(0.0, cdf(t))) for t in times]
    c = [0.0] * (n + 1)
    for i in range(1, n + 1):
        c[i] = c[i - 1] + (f[i] + f[i - 1]) / 2 * (times[i] - times[i - 1])
    cost, step = [0.0] * (n + 1), [n + 1] * (n + 1)
    for i in range(n - 1, -1, -1):
        alive = 1.0 - f[i]
        if alive <= DONE:
            continue
        best, arg = math.inf, n
        limit = math.inf if i == 0 else times[i] + cap
        for j in range(i + 1, n + 1):
            if times[j] > limit and j > i + 1:
                break
            value = alive + lam * (c[j] - c[i] - (times[j] - times[i]) * f[i]) + cost[j]
            if value < best:
                best, arg = value, j
        cost[i], step[i] = best, arg
    polls, i = [], 0
    while i <= n and 1.0 - f[i] > DONE and step[i] <= n:
        i = step[i]
        polls.append(times[i])
    return tuple(polls)


@pytest.mark.parametrize("seed", range(40))
def test_pruned_dp_gives_the_full_scans_plan(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.randint(1, 25)
    scale = math.log(rng.choice([0.5, 4.0, 45.0, 300.0]))
    dist = Mixture(
        tuple((1.0 / k, rng.gauss(scale, 0.3), rng.uniform(0.05, 0.8)) for _ in range(k))
    )
    times = grid(dist.quantile(0.0005), dist.quantile(0.9995), 200)
    lam = 10 ** rng.uniform(-2, 2.5) / dist.median
    cap = rng.choice([math.inf, 0.1, 1.0, 5.0, 60.0]) * math.exp(scale)
    plan = solve(dist.cdf, times, lam, cap)
    assert isinstance(plan, Plan) and plan.polls
    assert plan.polls == full_scan(dist.cdf, times, lam, cap)
