"""The optimal poll schedule (`runtime._optimal`): table tests against known optima."""

from __future__ import annotations

import itertools
import math

import pytest

from seedance_nb.runtime._optimal import Mixture, grid, plan_for, solve


def uniform_grid(end: float, steps: int) -> list[float]:
    return [end * k / steps for k in range(steps + 1)]


@pytest.mark.parametrize("mass", [0.3, 7.0, 45.0])
@pytest.mark.parametrize("lam", [0.01, 1.0, 100.0])
def test_a_point_mass_gets_one_poll_at_the_mass(mass: float, lam: float) -> None:
    times = uniform_grid(2 * mass, 200)
    plan = solve(lambda t: 1.0 if t >= mass - 1e-9 else 0.0, times, lam)
    assert plan.polls == pytest.approx((mass,))
    assert plan.queries == pytest.approx(1.0)


def uniform_optimum(lam: float) -> float:
    """The least E[queries] + lam E[lag] for T uniform on [0, 1], in closed form: with k polls
    the gaps shrink by 1/lam each (first-order conditions), so try every k."""
    best = math.inf
    for k in range(1, 200):
        first = (1 + k * (k - 1) / (2 * lam)) / k
        gaps = [first - i / lam for i in range(k)]
        if gaps[-1] <= 0:
            break
        points = [sum(gaps[: i + 1]) for i in range(k)]
        queries = sum(1 - p for p in [0.0, *points[:-1]])
        lag = sum(g * g / 2 for g in gaps)
        best = min(best, queries + lam * lag)
    return best


@pytest.mark.parametrize("lam", [2.0, 10.0, 50.0, 300.0])
def test_a_uniform_gets_the_known_optimum(lam: float) -> None:
    plan = solve(lambda t: min(1.0, t), uniform_grid(1.0, 2000), lam)
    assert plan.polls[-1] == pytest.approx(1.0)
    assert plan.queries + lam * plan.lag == pytest.approx(uniform_optimum(lam), rel=2e-3)
    gaps = [b - a for a, b in zip((0.0, *plan.polls), plan.polls, strict=False)]
    if len(gaps) > 2:  # gaps shrink by 1/lam each: the later polls are cheaper
        for a, b in itertools.pairwise(gaps):
            assert a - b == pytest.approx(1 / lam, abs=2.5e-3)


def test_more_lambda_means_more_polls_and_less_lag() -> None:
    dist = Mixture(((0.7, math.log(40), 0.3), (0.3, math.log(70), 0.5)))
    plans = [plan_for(dist, lam) for lam in (0.02, 0.1, 0.5, 2.0, 10.0)]
    for low, high in itertools.pairwise(plans):
        assert high.queries > low.queries
        assert high.lag < low.lag


def test_the_cap_bounds_every_gap_but_the_first() -> None:
    dist = Mixture(((1.0, math.log(40), 0.6),))
    free = plan_for(dist, 0.05)
    capped = plan_for(dist, 0.05, cap=3.0)
    gaps = [b - a for a, b in zip(capped.polls, capped.polls[1:], strict=False)]
    assert max(gaps) <= 3.0 + 1e-9
    assert max(b - a for a, b in zip(free.polls, free.polls[1:], strict=False)) > 3.0
    assert capped.queries > free.queries  # the cap costs queries in the tail


def test_the_plan_is_scale_free() -> None:
    """The same shape 10x faster gets the same polls 10x sooner, at lam 10x larger."""
    slow = plan_for(Mixture(((1.0, math.log(45), 0.4),)), 0.2)
    fast = plan_for(Mixture(((1.0, math.log(4.5), 0.4),)), 2.0)
    assert fast.queries == pytest.approx(slow.queries, rel=1e-6)
    assert fast.polls == pytest.approx(tuple(p / 10 for p in slow.polls), rel=1e-6)


def test_next_after_follows_the_plan_and_ends() -> None:
    plan = solve(lambda t: min(1.0, t), uniform_grid(1.0, 100), 20.0)
    assert plan.next_after(0.0) == plan.polls[0]
    assert plan.next_after(plan.polls[0]) == plan.polls[1]
    assert plan.next_after(1.0) is None


def test_mixture_quantiles_invert_the_cdf() -> None:
    dist = Mixture(((0.5, 0.0, 0.2), (0.5, 1.0, 0.5)))
    for p in (0.01, 0.5, 0.9, 0.999):
        assert dist.cdf(dist.quantile(p)) == pytest.approx(p, abs=1e-9)
    assert dist.remaining(0.0) == pytest.approx(dist.median)
    assert grid(2.0, 4.0, 4) == [0.0, 2.0, 2.5, 3.0, 3.5, 4.0]
