"""The scheduler's policy on a fake clock: no server, no loop, no sleeps."""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import pytest

from seedance_nb.runtime._predict import (
    COLD_FIRST,
    COLD_GROWTH,
    CompletionModel,
    Key,
    LogNormal,
    Predictor,
    key_of,
    prior_seconds,
)
from seedance_nb.runtime._scheduler import Policy, Scheduler

KIND: Key = ("seedance2", 5, "1280x720", None)


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schedule(sched: Scheduler, kind: Key, until: float, *, queue: bool = False) -> list[float]:
    """Every poll time (seconds after the send) of a task that has not ended by `until`."""
    polls: list[float] = []
    sent = 500.0
    while not polls or polls[-1] < until:
        now = sent + (polls[-1] if polls else 0.0)
        polls.append(sched.next_poll(kind, sent, now, len(polls), queue) - sent)
    return polls


def play(sched: Scheduler, kind: Key, ends: list[float], *, queue: bool = False):
    """Queries per task and detection lags for tasks ending at `ends` (seconds after send)."""
    queries, lags = [], []
    for end in ends:
        polls = schedule(sched, kind, end, queue=queue)
        queries.append(len(polls))
        lags.append(polls[-1] - end)
    return statistics.fmean(queries), statistics.fmean(lags)


def taught(median: float, n: int = 30, seed: int = 1, **kwargs: object) -> Scheduler:
    """A scheduler that has seen `n` tasks of KIND with this median (log-spread 0.3)."""
    rng = random.Random(seed)
    sched = Scheduler(clock=Clock(), **kwargs)  # type: ignore[arg-type]
    for _ in range(n):
        sched.finished(KIND, median * math.exp(rng.gauss(0.0, 0.3)))
    return sched


# ---- no history ---------------------------------------------------------------------------------
def test_first_polls_without_history_grow_geometrically_up_to_the_cap() -> None:
    sched = Scheduler(clock=Clock(), poll_interval=5.0)
    polls = schedule(sched, KIND, 60.0)
    assert polls[0] == pytest.approx(COLD_FIRST * prior_seconds(KIND))
    gaps = [b - a for a, b in pairwise(polls)]
    growing = [g for g in gaps if g < 5.0 - 1e-9]
    assert len(growing) >= 3
    for a, b in pairwise(polls[: len(growing) + 1]):
        assert b == pytest.approx(COLD_GROWTH * a)
    assert max(gaps) == pytest.approx(5.0)  # poll_interval caps the gap, never sets it early
    assert gaps[len(growing) :] == pytest.approx([5.0] * (len(gaps) - len(growing)))


def test_a_small_poll_interval_caps_even_the_first_cold_poll() -> None:
    sched = Scheduler(clock=Clock(), poll_interval=0.05)
    polls = schedule(sched, KIND, 1.0)
    assert polls[0] == pytest.approx(0.05)
    assert max(b - a for a, b in pairwise(polls)) <= 0.05 + 1e-9


def test_first_completion_at_a_tenth_of_the_prior_rescales_every_kind() -> None:
    sched = Scheduler(clock=Clock(), poll_interval=5.0)
    sched.finished(KIND, 0.1 * prior_seconds(KIND))
    assert sched.expected(KIND) == pytest.approx(0.1 * prior_seconds(KIND))
    other: Key = ("seedance2-fast", 10, "720x720", "2k")
    assert sched.expected(other) == pytest.approx(0.1 * prior_seconds(other))
    first = schedule(sched, KIND, 0.0)[0]
    assert 0.5 * sched.expected(KIND) < first < sched.expected(KIND)


# ---- with history -------------------------------------------------------------------------------
@pytest.mark.parametrize("median", [1.0, 100.0])
def test_detection_lag_is_a_fixed_fraction_of_the_median_at_any_scale(median: float) -> None:
    sched = taught(median, poll_interval=5.0)
    learned = sched.model.distribution(KIND)
    assert learned is not None
    rng = random.Random(2)
    ends = [learned.quantile(rng.random()) for _ in range(400)]
    queries, lag = play(sched, KIND, ends)
    assert lag <= 0.04 * median
    assert queries <= 12.0  # half the 5 s loop's lag for about its queries; at 100 s the cap


def test_the_schedule_scales_with_the_tasks() -> None:
    """Same shape of history at 1 s and at 100 s: the same polls, 100 times later."""
    fast = taught(1.0, poll_interval=math.inf)
    slow = taught(100.0, poll_interval=math.inf)
    assert [100 * t for t in schedule(fast, KIND, 3.0)] == pytest.approx(
        schedule(slow, KIND, 300.0)
    )


def test_history_puts_the_first_poll_where_completions_begin() -> None:
    sched = taught(40.0, poll_interval=5.0)
    first = schedule(sched, KIND, 0.0)[0]
    assert 25.0 < first < 40.0  # silence while nothing finishes, not a poll every 5 s
    polls = schedule(sched, KIND, 200.0)
    assert max(b - a for a, b in pairwise(polls)) <= 5.0 + 1e-9


def test_waiting_jobs_make_polls_denser_near_the_predicted_end() -> None:
    sched = taught(40.0, poll_interval=math.inf)
    learned = sched.model.distribution(KIND)
    assert learned is not None
    low, high = learned.quantile(0.25), learned.quantile(0.75)

    def inside(polls: list[float]) -> int:
        return sum(low <= t <= high for t in polls)

    sparse = schedule(sched, KIND, 200.0, queue=False)
    dense = schedule(sched, KIND, 200.0, queue=True)
    assert inside(dense) >= 2 * inside(sparse)
    ends = [learned.quantile((i + 0.5) / 200) for i in range(200)]
    sparse_q, sparse_lag = play(sched, KIND, ends, queue=False)
    dense_q, dense_lag = play(sched, KIND, ends, queue=True)
    assert dense_lag <= 0.6 * sparse_lag  # half the share, about half the lag
    assert dense_q > sparse_q


def test_callbacks_turn_polls_into_a_late_safety_net() -> None:
    sched = taught(40.0, poll_interval=5.0, callbacks=True)
    learned = sched.model.distribution(KIND)
    assert learned is not None
    assert schedule(sched, KIND, 0.0)[0] >= learned.quantile(0.9)
    cold = Scheduler(clock=Clock(), callbacks=True)
    assert schedule(cold, KIND, 0.0)[0] > prior_seconds(KIND)


def test_an_overdue_task_is_still_polled_at_growing_gaps_up_to_the_cap() -> None:
    sched = taught(1.0, poll_interval=5.0)
    polls = schedule(sched, KIND, 60.0)  # 60 times the median: far beyond the model
    end = sched.plan(KIND, sched.policy.lag_price).end  # the model's 99.95th percentile
    late = [t for t in polls if t > end]
    gaps = [b - a for a, b in pairwise(late)]
    assert all(b >= a - 1e-9 for a, b in pairwise(gaps))  # growing, not hammering
    assert max(gaps) == pytest.approx(5.0)  # up to the cap, never beyond
    assert len(late) <= 22


# ---- sending and 429s ---------------------------------------------------------------------------
def test_429_cooldown_grows_and_caps_and_a_send_resets_it() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock, concurrency=3, poll_interval=5.0)
    assert sched.may_send(0) and sched.may_send(2) and not sched.may_send(3)
    waits = [sched.rejected() for _ in range(10)]
    assert waits[0] == pytest.approx(Policy().cooldown_share * 44.455, rel=0.01)
    assert waits[1] == pytest.approx(2 * waits[0])
    assert waits[2] == pytest.approx(4 * waits[0])
    assert max(waits) == waits[-1] == Policy().cooldown_cap
    assert not sched.may_send(0)
    assert sched.cooldown_left() == pytest.approx(60.0)
    clock.now += 59.0
    assert not sched.may_send(0) and sched.cooldown_left() == pytest.approx(1.0)
    clock.now += 1.0
    assert sched.may_send(0) and sched.cooldown_left() == 0.0
    sched.accepted()
    assert sched.rejected() == pytest.approx(waits[0])


def test_429_cooldown_follows_the_sessions_time_scale() -> None:
    sched = Scheduler(clock=Clock(), poll_interval=5.0)
    sched.finished(KIND, 0.1 * prior_seconds(KIND))
    assert sched.rejected() == pytest.approx(0.1 * Policy().cooldown_share * 44.455, rel=0.01)


# ---- callback hints -----------------------------------------------------------------------------
def test_hints_coalesce() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock, poll_interval=5.0)
    spacing = 0.9 * 5.0
    now = clock.now
    assert sched.hint_slot(None, None) is None  # a poll is in flight: it will see the change
    assert sched.hint_slot(now + 0.2 * spacing, None) is None  # due soon anyway
    first = sched.hint_slot(now + 30.0, None)
    assert first == now  # the first hint polls at once
    clock.now += 1.0  # a replayed hint a second later: one hint-driven poll per spacing
    assert sched.hint_slot(now + 30.0, first) == pytest.approx(now + spacing)
    assert sched.hint_slot(now + spacing + 0.2 * spacing, first) is None
    clock.now = now + 10.0
    assert sched.hint_slot(now + 30.0, first) == pytest.approx(now + 10.0)


def test_hint_spacing_follows_a_fast_servers_time_scale() -> None:
    """On a server 20x faster than published (a 4 s clip in ~2 s), a safety poll due in 9 s
    is 4-5 medians of lag away: a callback polls at once instead of being 'covered' by a
    spacing measured in the minute-long `poll_interval`."""
    clock = Clock()
    sched = Scheduler(clock=clock, poll_interval=60.0)
    sched.declare(0.05)
    now = clock.now
    assert sched.hint_slot(now + 9.0, None) is None  # without the kind: 54 s spacing covers it
    assert sched.hint_slot(now + 9.0, None, KIND) == now  # with it: the spacing is ~2 s
    spacing = 0.9 * sched.expected(KIND)
    assert sched.hint_slot(now + 0.2 * spacing, None, KIND) is None  # due about now anyway
    clock.now += 0.1  # a replayed hint: still at most one hint-driven poll per spacing
    assert sched.hint_slot(now + 9.0, now, KIND) == pytest.approx(now + spacing)


# ---- predictions --------------------------------------------------------------------------------
def test_eta_comes_from_the_prior_before_history_and_from_history_after() -> None:
    sched = Scheduler(clock=Clock())
    assert sched.expected(KIND) == pytest.approx(44.455)
    assert sched.eta(KIND, 0.0) == pytest.approx(44.455)
    assert sched.eta(KIND, 20.0) == pytest.approx(44.455 - 20.0, abs=6.0)
    assert 0 < sched.eta(KIND, 300.0) < 300.0  # overdue: still a finite, positive guess
    assert sched.expected(("seedance2", 10, None, None)) == pytest.approx(44.455 * 12 / 7)
    assert sched.expected(("seedance2", 5, None, "4k")) == pytest.approx(44.455 * 1.8)
    assert sched.expected(("seedance2-fast", 5, None, None)) == pytest.approx(44.455 * 0.6)
    for seconds in (4.0, 4.5, 5.0, 4.2, 4.8):
        sched.finished(KIND, seconds)
    assert sched.eta(KIND, 0.0) == pytest.approx(4.5, rel=0.05)
    assert sched.eta(KIND, 4.0) < 1.5


def _row(model: str, inputs: dict, seconds: float, status: str = "COMPLETED") -> dict:
    sent = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return {
        "status": status,
        "model": model,
        "params": json.dumps({"model": model, "inputs": inputs}),
        "sent_at": sent,
        "completed_at": sent + timedelta(seconds=seconds),
    }


def test_learns_from_ledger_rows_like_predictor_load() -> None:
    inputs = {"prompt": "x", "duration": "5s", "resolution": "1280x720"}
    rows = [_row("seedance2", inputs, s) for s in (20.0, 22.0, 21.0)]
    rows += [
        _row("seedance2", inputs, 999.0, status="FAILED"),
        {**_row("seedance2", inputs, 5.0), "completed_at": None},
        {**_row("seedance2", inputs, 5.0), "params": "not json"},
    ]
    sched = Scheduler(clock=Clock())
    sched.load(rows)
    kind = key_of("seedance2", inputs)
    assert kind == KIND and sched.model.samples(kind) == 3
    assert sched.expected(kind) == pytest.approx(21.0, rel=0.05)
    old = Predictor()
    old.load(rows)
    window = old.window(kind)
    assert window is not None and window.typical == 21.0


def test_lognormal_conditional_quantiles() -> None:
    dist = LogNormal(math.log(10.0), 0.5)
    assert dist.median == pytest.approx(10.0)
    assert dist.quantile(0.5) == pytest.approx(10.0)
    assert dist.after(0.0, 0.5) == pytest.approx(10.0)
    later = dist.after(10.0, 0.5)  # half of those still running at the median
    assert later is not None and dist.survival(later) == pytest.approx(0.25)
    assert dist.after(1e6, 0.5) is None  # beyond anything the model can say
    assert CompletionModel().distribution(KIND) is None


@pytest.mark.parametrize("cap", [0.5, 2.0])
def test_poll_interval_stays_a_cap_on_the_optimal_schedule(cap: float) -> None:
    sched = taught(40.0, poll_interval=cap)
    polls = schedule(sched, KIND, 200.0)
    gaps = [b - a for a, b in pairwise(polls)]
    assert max(gaps) <= cap + 1e-9  # every gap after the first, however late the task runs
    free = schedule(taught(40.0, poll_interval=math.inf), KIND, 200.0)
    assert max(b - a for a, b in pairwise(free)) > cap  # the cap did the work
