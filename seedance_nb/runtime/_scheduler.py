"""The engine's policy, apart from its I/O: when to send, when to poll, how long to back off.

`Scheduler` does no I/O and owns no loop; it reads the time only from the clock it is given
(monotonic seconds), so every decision can be tested with a fake clock. The engine keeps one
record per job (send time, next poll, last hint) and asks:

* `may_send(busy)` / `cooldown_left()`: may a queued job go out now?
* `rejected()` / `accepted()`: a createTask was refused with 429 / went through.
* `next_poll(kind, sent_at, now, polls_so_far, queue_waiting)`: when to poll a task next.
* `hint_slot(due, hinted, kind)`: when a callback hint may poll, or None when it is covered.
* `finished(kind, seconds)` / `load(rows)`: learn completion times.
* `expected(kind)` / `eta(kind, elapsed)`: predictions for the job's ETA.

How polls are placed: once the time scale is known (a completion seen, or the server's declared
speed), polls follow the optimal schedule (`_optimal`) for the kind's learned distribution
(`CompletionModel.mixture`), minimising queries + price x lag with the lag priced in medians of
the kind, so the schedule is the same at any time scale. Lag is dearer while jobs wait in the
local queue (it idles a slot). Before that, and past the plan's end, `_predict.poll_after`
grows the gaps geometrically; with callbacks on, polls are only a safety net.
`poll_interval` caps the gap between polls, never sets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._optimal import Plan, plan_for
from ._predict import COLD_GROWTH, PRIOR_SECONDS, CompletionModel, Key, poll_after, prior_seconds

Clock = Callable[[], float]
FEW = 3  # samples of a kind before its fit is trusted at the full price of lag


@dataclass(frozen=True)
class Policy:
    """The tunables, each a share or a ratio, so the schedule is the same at any time scale."""

    sparse: float = 0.2  # cold or tail: each poll finds the task done with about this chance
    dense: float = 0.1  # ...and while jobs wait in the local queue
    lag_price: float = 320.0  # nothing waits: a median's worth of lag costs this many queries
    queue_price: float = 1280.0  # jobs wait: lag idles a slot; 4x the price, 2x the polls
    cold_price: float = 200.0  # under FEW samples of the kind the fit is wide: poll sparser
    safety: float = 0.95  # callbacks on: polls only catch a callback that never came...
    safety_cap: float = 6.0  # ...so they may be this many poll_intervals apart
    hint_spacing: float = 0.9  # of poll_interval: at most one hint-driven poll per job per this
    hint_covered: float = 0.25  # of the hint spacing: a poll due this soon covers a hint
    cooldown_share: float = 1 / 16  # first 429 cooldown: this share of a typical task, doubled
    cooldown_cap: float = 60.0  # seconds: the longest cooldown after a run of 429s


class Scheduler:
    """Send, poll, back-off and hint decisions for one engine, from an injected clock."""

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        concurrency: int = 3,
        poll_interval: float = 5.0,
        callbacks: bool = False,
        policy: Policy | None = None,
        model: CompletionModel | None = None,
    ) -> None:
        self.clock = clock
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.callbacks = callbacks
        self.policy = policy or Policy()
        self.model = model or CompletionModel()
        self._rejections = 0
        self._cool_until = float("-inf")
        self._plans: dict[tuple[Key, float, float], Plan] = {}

    # ---- learning and predictions -----------------------------------------------------------
    def load(self, rows: list[dict[str, Any]]) -> None:
        """Learn from the ledger's completed rows (`Ledger` history, as `Predictor.load`)."""
        self.model.load(rows)
        self._plans.clear()

    def finished(self, kind: Key, seconds: float) -> None:
        """A task of `kind` completed `seconds` after its send (server createTime to
        completeTime when known): learn it, so every kind's next polls use it."""
        self.model.add(kind, seconds)
        self._plans.clear()

    def declare(self, speed: float | None) -> None:
        """The server's declared speed (a simulator's `X-Simulator-Speed`), or None; the plans
        are made again only when the model takes it as a change."""
        before = self.model.declared
        self.model.declare(speed)
        if self.model.declared != before:
            self._plans.clear()

    def ahead(self, kind: Key, speed: float | None) -> tuple[float, float]:
        """(median, p90) seconds from send to completion for a task of `kind` about to go,
        at the server's declared speed."""
        self.declare(speed)
        return self.expected(kind), self.late(kind, 0.0)

    def plan(self, kind: Key, price: float) -> Plan:
        """The optimal schedule (`_optimal`) for the learned distribution of `kind`, a median's
        worth of lag priced at `price` queries, gaps after the first capped at
        `poll_interval`; kept until the model learns something new."""
        key = (kind, price, self.poll_interval)
        found = self._plans.get(key)
        if found is None:
            dist = self.model.mixture(kind)
            found = plan_for(dist, price / dist.median, self.poll_interval)
            if len(self._plans) > 64:
                self._plans.clear()
            self._plans[key] = found
        return found

    def expected(self, kind: Key) -> float:
        """Typical (median) seconds from send to completion; from the prior before history."""
        return self.model.expected(kind)

    def late(self, kind: Key, elapsed: float) -> float:
        """Seconds until 9 in 10 of the tasks of `kind` still running at `elapsed` complete."""
        return self.model.mixture(kind).remaining(max(0.0, elapsed), 0.9)

    def eta(self, kind: Key, elapsed: float) -> float:
        """Median seconds still to go for a task of `kind` sent `elapsed` seconds ago."""
        return self.model.eta(kind, elapsed)

    # ---- polling ----------------------------------------------------------------------------
    def next_poll(
        self, kind: Key, sent_at: float, now: float, polls_so_far: int, queue_waiting: bool
    ) -> float:
        """Monotonic time of the next poll of a task of `kind` sent at `sent_at`.

        Call it after the send (`polls_so_far` 0) and after every poll that found the task
        running; `queue_waiting` says whether jobs wait in the local queue right now.
        """
        elapsed = max(0.0, now - sent_at)
        share = self.policy.dense if queue_waiting else self.policy.sparse
        dist, cap = self.model.distribution(kind), self.poll_interval
        if not self.callbacks and (dist is not None or self.model.declared is not None):
            price = self.policy.queue_price if queue_waiting else self.policy.lag_price
            if not queue_waiting and self.model.samples(kind) < FEW:
                price = self.policy.cold_price
            plan = self.plan(kind, price)
            at = plan.next_after(elapsed + 1e-9)
            if at is None:  # past the plan's end: gaps grow with the time elapsed, up to the cap
                polls = (0.0, *plan.polls)
                last = polls[-1] - polls[-2] if len(polls) > 1 else plan.end
                grow = (COLD_GROWTH - 1) * elapsed
                at = elapsed + max(min(max(last, grow), cap), 1e-3 * plan.end)
            return max(now, sent_at + at)
        if self.callbacks:
            share, dist = self.policy.safety, self.model.guess(kind)
            cap *= self.policy.safety_cap
        at = poll_after(
            dist,
            prior_seconds(kind),
            elapsed,
            first=polls_so_far == 0,
            share=share,
            cap=cap,
        )
        return max(now, sent_at + at)

    def hint_slot(
        self, due: float | None, hinted: float | None, kind: Key | None = None
    ) -> float | None:
        """When a callback hint may poll the task, or None when no extra poll is needed.

        `due` is the task's next planned poll (None while a poll is in flight), `hinted` the
        time the last hint-driven poll was planned for. Hints coalesce: none while a poll is in
        flight or due within `hint_covered` of the spacing, and at most one hint-driven poll per
        job per spacing. The spacing is `hint_spacing` of `poll_interval`, or of the typical
        time of `kind` when that is shorter: on a fast server a poll due in a few seconds is
        many medians of lag, not "about now". The engine plans the poll at the returned time and
        keeps it as `hinted`.
        """
        if due is None:
            return None
        now = self.clock()
        scale = self.poll_interval if kind is None else min(self.poll_interval, self.expected(kind))
        spacing = self.policy.hint_spacing * scale
        at = now if hinted is None else max(now, hinted + spacing)
        if due <= at + self.policy.hint_covered * spacing:
            return None
        return at

    # ---- sending ----------------------------------------------------------------------------
    def may_send(self, busy: int) -> bool:
        """Whether a queued job may be sent now, with `busy` tasks in flight or being sent."""
        return busy < self.concurrency and self.cooldown_left() == 0.0

    def cooldown_left(self) -> float:
        """Seconds until sending may resume after a 429 (0 when not cooling down)."""
        return max(0.0, self._cool_until - self.clock())

    def rejected(self) -> float:
        """A createTask was refused with 429: start (or lengthen) the cooldown; its seconds.

        The first cooldown is `cooldown_share` of a typical task at this session's speed, and
        each 429 in a row doubles it, up to `cooldown_cap`.
        """
        self._rejections += 1
        base = min(
            self.poll_interval, self.policy.cooldown_share * PRIOR_SECONDS * self.model.speed()
        )
        seconds = min(self.policy.cooldown_cap, base * 2.0 ** (self._rejections - 1))
        self._cool_until = self.clock() + seconds
        return seconds

    def accepted(self) -> None:
        """A createTask went through: the run of 429s is over."""
        self._rejections = 0
