"""Tune the scheduler without a server: play it against render times drawn from the simulator's
timing model (`seedance_nb.simulator._timing`) on a simulated clock.

For each speed (1.0 and 0.1, the studio's default `poll_interval` of 5 s at both) it reports,
each beside its baseline computed on the same render times:

- a batch that fits the slots (3 jobs, nothing queued): queries per task and median detection
  lag, against the seed's fixed 5 s loop scaled to the same speed (query at once, then every
  5 s x speed);
- 12 jobs at concurrency 3: makespan against the ideal schedule (every slot refilled the
  instant its task ends), a queued job being sent the moment a completion is detected;
  goal <= 1.05x;
- webhook mode (a callback `HINT_DELAY` x speed after completion): median lag and queries.

Each runs warm (`HISTORY` finished tasks of the same kind, as a ledger would hold) and cold (no
history, only the simulator's declared speed scaling the published prior).

The real limit (`optimal_frontier`): the optimal schedule (`seedance_nb.runtime._optimal`) for
the simulator's true completion-time distribution, traced over the price of lag, against the
poller's own frontier over the same prices (`poller_frontier`): queries per task at the seed
loop's median lag, goal <= 1.15x the optimum; and the default poller's median lag, goal <= 0.5x
the loop's at <= 1.0x its queries.
Polls take no time here; `python -m benchmarks.sim_scheduler` prints the table.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
import statistics
from dataclasses import dataclass, field

from benchmarks._report import Figure
from seedance_nb.runtime._predict import Key
from seedance_nb.runtime._scheduler import Policy, Scheduler
from seedance_nb.simulator._timing import queue_wait, render_time

KIND: Key = ("seedance2", 5, "1280x720", None)
POLL_INTERVAL = 5.0  # the studio's default, at every speed
LOOP = 5.0  # the seed's loop, seconds at speed 1
HISTORY = 9
TRIALS = 300
HINT_DELAY = 0.02  # seconds at speed 1 from completion to the callback's arrival
SPEEDS = (1.0, 0.1)


def durations(rng: random.Random, n: int, speed: float) -> list[float]:
    """Seconds from send to completion of `n` tasks of `KIND`, as the simulator draws them."""
    _, seconds, _, upscale = KIND
    return [
        speed * (queue_wait(rng) + render_time(rng, seconds, upscale, KIND[0])) for _ in range(n)
    ]


@dataclass
class Outcome:
    """One batch through the scheduler on a simulated clock."""

    queries: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    makespan: float = 0.0
    ideal: float = 0.0


def play(
    sched: Scheduler, times: list[float], concurrency: int, hint_delay: float | None = None
) -> Outcome:
    """Run `times` FIFO through `concurrency` slots, polling as `sched` says, from t = 0.

    A queued job is sent the instant a completion is detected; with `hint_delay`, a callback
    arrives that long after each completion and goes through `hint_slot`.
    """
    now = 0.0
    sched.clock = lambda: now
    queue = list(range(len(times)))
    sent: dict[int, float] = {}
    polls = dict.fromkeys(queue, 0)
    due: dict[int, float | None] = {}
    hinted: dict[int, float | None] = {}
    events: list[tuple[float, int, str, int]] = []  # (time, order, what, job)
    order = 0
    out = Outcome(ideal=ideal_makespan(times, concurrency))

    def push(at: float, what: str, job: int) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, what, job))

    def plan(job: int, at: float) -> None:
        due[job] = at
        push(at, "poll", job)

    def dispatch() -> None:
        fresh = []
        while queue and sched.may_send(len(sent) - len(out.lags)):
            job = queue.pop(0)
            sent[job] = now
            fresh.append(job)
        for job in fresh:  # planned once the round is over, as the engine's sends return
            plan(job, sched.next_poll(KIND, now, now, 0, bool(queue)))
            if hint_delay is not None:
                push(now + times[job] + hint_delay, "hint", job)

    dispatch()
    while events:
        now, _, what, job = heapq.heappop(events)
        if what == "hint":
            at = sched.hint_slot(due.get(job), hinted.get(job))
            if at is not None:
                hinted[job] = at
                plan(job, at)
            continue
        if due.get(job) != now:  # superseded by a hint's poll, or already detected
            continue
        polls[job] += 1
        if now >= sent[job] + times[job]:
            due[job] = None
            out.queries.append(polls[job])
            out.lags.append(now - sent[job] - times[job])
            out.makespan = now
            sched.finished(KIND, times[job])
            dispatch()
        else:
            plan(job, sched.next_poll(KIND, sent[job], now, polls[job], bool(queue)))
    return out


def ideal_makespan(times: list[float], slots: int) -> float:
    """FIFO on `slots` slots, each refilled the instant its task ends."""
    ends = [0.0] * slots
    for t in times:
        i = ends.index(min(ends))
        ends[i] += t
    return max(ends)


def seed_loop(times: list[float], speed: float) -> tuple[list[int], list[float]]:
    """The seed's loop on the same tasks: a query at once, then one every `LOOP` x speed."""
    step = LOOP * speed
    queries = [math.ceil(t / step) + 1 for t in times]
    lags = [math.ceil(t / step) * step - t for t in times]
    return queries, lags


def frontier(speed: float, n: int = 2000, seed: int = 5) -> tuple[float, float]:
    """The fewest queries per task any schedule of one family can spend while its median lag
    stays within the seed loop's, and that loop's queries, on the same tasks: silent until
    `a`, then every `s` seconds for `w` seconds, then every `POLL_INTERVAL` (the cap). Knowing
    the true distribution, it may even give up on the early half of the tasks to win the
    median, so no policy of this kind beats it; it shows how far the goals can be met at all.
    """
    rng = random.Random(seed)
    times = sorted(durations(rng, n, speed))
    seed_queries, seed_lags = seed_loop(times, speed)
    target, best = statistics.median(seed_lags), math.inf
    for a in (speed * x for x in range(16, 56)):
        for s in (speed * x for x in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)):
            for w in (speed * x for x in range(0, 48, 2)):
                polls = [a + s * k for k in range(int(w / s) + 1)]
                while polls[-1] < times[-1]:
                    polls.append(polls[-1] + POLL_INTERVAL)
                found = [bisect.bisect_left(polls, t) for t in times]
                lags = [polls[i] - t for i, t in zip(found, times, strict=True)]
                if statistics.median(lags) <= target:
                    best = min(best, statistics.fmean(found) + 1)
    return best, statistics.fmean(seed_queries)


def scheduler(
    rng: random.Random, speed: float, warm: bool, policy: Policy | None, callbacks: bool = False
) -> Scheduler:
    sched = Scheduler(
        clock=lambda: 0.0,
        concurrency=3,
        poll_interval=POLL_INTERVAL,
        callbacks=callbacks,
        policy=policy,
    )
    if warm:
        for t in durations(rng, HISTORY, speed):
            sched.finished(KIND, t)
    else:  # no history, but the simulator declares its speed (X-Simulator-Speed)
        sched.declare(speed)
    return sched


def measure(
    speed: float, warm: bool, policy: Policy | None = None, seed: int = 7, trials: int = TRIALS
) -> dict:
    """Every figure at one speed, over `trials` independent sessions."""
    rng = random.Random(seed)
    fit_q, fit_lag, seed_q, seed_lag, ratios, hook_q, hook_lag = [], [], [], [], [], [], []
    batch_q: list[int] = []
    for _ in range(trials):
        times = durations(rng, 3, speed)
        got = play(scheduler(rng, speed, warm, policy), times, 3)
        fit_q += got.queries
        fit_lag += got.lags
        q, lag = seed_loop(times, speed)
        seed_q += q
        seed_lag += lag
        times = durations(rng, 12, speed)
        got = play(scheduler(rng, speed, warm, policy), times, 3)
        ratios.append(got.makespan / got.ideal)
        batch_q += got.queries
        times = durations(rng, 3, speed)
        hooks = scheduler(rng, speed, warm, policy, callbacks=True)
        got = play(hooks, times, 3, hint_delay=HINT_DELAY * speed)
        hook_q += got.queries
        hook_lag += got.lags
    return {
        "queries": statistics.fmean(fit_q),
        "seed_queries": statistics.fmean(seed_q),
        "lag": statistics.median(fit_lag),
        "mean_lag": statistics.fmean(fit_lag),
        "seed_lag": statistics.median(seed_lag),
        "makespan_ratio": statistics.median(ratios),
        "makespan_mean": statistics.fmean(ratios),
        "makespan_queries": statistics.fmean(batch_q),
        "hook_queries": statistics.fmean(hook_q),
        "hook_lag": statistics.median(hook_lag),
    }


def run(policy: Policy | None = None) -> list[Figure]:
    """The harness's figures at every speed, warm and cold: the limit figures, then makespan
    and webhook mode."""
    figures = limit_figures() if policy is None else []
    for speed in SPEEDS:
        for warm in (True, False):
            m = measure(speed, warm, policy)
            tag = f"speed {speed:g}, {'warm' if warm else 'cold'}"
            figures += [
                Figure(
                    f"sim: makespan of 12 jobs at concurrency 3, median of {TRIALS} ({tag})",
                    m["makespan_ratio"],
                    "x ideal",
                    "ideal schedule",
                    1.0,
                    "<= 1.05x",
                    m["makespan_ratio"] <= 1.05,
                ),
                Figure(
                    f"sim: webhook median lag ({tag}; {m['hook_queries']:.2f} queries per task)",
                    m["hook_lag"] / speed,
                    "s at speed 1",
                    "seed's 5 s loop",
                    m["seed_lag"] / speed,
                    "<= 0.1 s at <= 1.2 queries",
                    m["hook_lag"] <= 0.1 and m["hook_queries"] <= 1.2,
                ),
            ]
    return figures


# ---- the real limit: the optimal schedule for the true distribution -----------------------------
PRICES = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0)  # queries per median of lag


def true_cdf(speed: float, n: int = 20000, seed: int = 11) -> tuple[list[float], float]:
    """The simulator's completion-time distribution at `speed`, as an empirical CDF (sorted
    draws) and its median."""
    draws = sorted(durations(random.Random(seed), n, speed))
    return draws, statistics.median(draws)


def score(polls: tuple[float, ...], times: list[float]) -> tuple[float, float]:
    """Queries per task and median lag of a fixed schedule on `times` (a task past the last
    poll is polled on at the last gap)."""
    queries, lags = [], []
    gap = polls[-1] - polls[-2] if len(polls) > 1 else polls[-1]
    for t in times:
        i = bisect.bisect_left(polls, t)
        at = polls[i] if i < len(polls) else polls[-1] + gap * math.ceil((t - polls[-1]) / gap)
        extra = 0 if i < len(polls) else math.ceil((t - polls[-1]) / gap)
        queries.append(min(i, len(polls) - 1) + 1 + extra)
        lags.append(at - t)
    return statistics.fmean(queries), statistics.median(lags)


def optimal_frontier(speed: float, cap: float = math.inf) -> list[tuple[float, float, float]]:
    """(price, queries per task, median lag) of the optimal schedule for the simulator's true
    completion-time distribution, for each price of a median of lag, scored on fresh draws."""
    from seedance_nb.runtime._optimal import grid, solve

    draws, median = true_cdf(speed)
    times = grid(draws[0], draws[-1], 800)

    def cdf(t: float) -> float:
        return bisect.bisect_right(draws, t) / len(draws)

    test = durations(random.Random(99), 4000, speed)
    out = []
    for price in PRICES:
        plan = solve(cdf, times, price / median, cap)
        out.append((price, *score(plan.polls, test)))
    return out


def poller_frontier(speed: float, warm: bool) -> list[tuple[float, float, float]]:
    """(price, queries per task, median lag) of the studio's poller, batch of 3, per price."""
    out = []
    for price in PRICES:
        cold = price * Policy.cold_price / Policy.lag_price  # both prices move together
        m = measure(speed, warm, Policy(lag_price=price, cold_price=cold), trials=100)
        out.append((price, m["queries"], m["lag"]))
    return out


def at_lag(points: list[tuple[float, float, float]], target: float) -> float:
    """Queries per task at median lag `target`, interpolated along a frontier (log scale)."""
    ordered = sorted((lag, q) for _, q, lag in points)
    for (l0, q0), (l1, q1) in itertools.pairwise(ordered):
        if l0 <= target <= l1:
            w = (math.log(target) - math.log(l0)) / (math.log(l1) - math.log(l0))
            return math.exp(math.log(q0) + w * (math.log(q1) - math.log(q0)))
    return math.nan


def limit_figures() -> list[Figure]:
    """The poller against the optimal schedule at the seed loop's median lag, and its default
    policy against the loop, at each speed, warm and cold."""
    figures = []
    for speed in SPEEDS:
        best = optimal_frontier(speed)
        for warm in (True, False):
            tag = f"speed {speed:g}, {'warm' if warm else 'cold'}"
            m = measure(speed, warm)
            target = m["seed_lag"]
            mine = at_lag(poller_frontier(speed, warm), target)
            limit = at_lag(best, target)
            figures += [
                Figure(
                    f"sim: queries per task at the loop's median lag ({tag})",
                    mine,
                    "queries",
                    "optimal schedule",
                    limit,
                    "<= 1.15x",
                    mine <= 1.15 * limit,
                ),
                Figure(
                    f"sim: median lag of the default poller ({tag}; "
                    f"{m['queries']:.2f} queries vs the loop's {m['seed_queries']:.2f})",
                    m["lag"] / speed,
                    "s at speed 1",
                    "seed's 5 s loop",
                    target / speed,
                    "<= 0.5x at <= 1.0x queries",
                    m["lag"] <= 0.5 * target and m["queries"] <= m["seed_queries"],
                ),
            ]
    return figures


def print_frontier() -> None:
    for speed in SPEEDS:
        print(f"optimal frontier at speed {speed:g} (price: queries per task, median lag at 1):")
        for price, q, lag in optimal_frontier(speed):
            print(f"  {price:7g}: {q:6.2f} queries, {lag / speed:6.3f} s")


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
    print_frontier()
    for speed in SPEEDS:
        best, loop = frontier(speed)
        print(
            f"bound at speed {speed:g}: no schedule of the frontier family keeps the median lag "
            f"within the loop's under {best:.2f} queries per task ({best / loop:.2f}x the loop's)"
        )
