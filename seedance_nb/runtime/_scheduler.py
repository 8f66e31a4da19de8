"""The engine's policy, apart from its I/O: when to send, when to poll, how long to back off.

`Scheduler` does no I/O and owns no loop; it reads the time only from the clock it is given
(monotonic seconds), so every decision can be tested with a fake clock. The engine keeps one
record per job (send time, next poll, last hint) and asks:

* `may_send(busy)` / `cooldown_left()`: may a queued job go out now?
* `rejected()` / `accepted()`: a createTask was refused with 429 / went through.
* `next_poll(kind, sent_at, now, polls_so_far, queue_waiting)`: when to poll a task next.
* `hint_slot(due, hinted)`: when a callback hint may poll, or None when it is covered.
* `finished(kind, seconds)` / `load(rows)`: learn completion times.
* `expected(kind)` / `eta(kind, elapsed)`: predictions for the job's ETA.

How polls are placed (see `_predict.poll_after`): with history, the next poll comes when a
fixed share of the tasks of this kind still running now will have finished, so each poll has
that chance of finding the task done and the detection lag is a fixed fraction of the spread,
whatever the time scale. The share is small while jobs wait in the local queue (lag there is
an idle slot) and larger when nothing waits (queries buy little); with callbacks on, polls are
only a safety net. `poll_interval` caps the gap between polls, never sets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._predict import PRIOR_SECONDS, CompletionModel, Key, poll_after, prior_seconds

Clock = Callable[[], float]


@dataclass(frozen=True)
class Policy:
    """The tunables, each a share or a ratio, so the schedule is the same at any time scale."""

    sparse: float = 0.2  # nothing waits: each poll finds the task done with about this chance
    dense: float = 0.1  # jobs wait in the local queue: poll this much more closely
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

    # ---- learning and predictions -----------------------------------------------------------
    def load(self, rows: list[dict[str, Any]]) -> None:
        """Learn from the ledger's completed rows (`Ledger` history, as `Predictor.load`)."""
        self.model.load(rows)

    def finished(self, kind: Key, seconds: float) -> None:
        """A task of `kind` completed `seconds` after its send (server createTime to
        completeTime when known): learn it, so every kind's next polls use it."""
        self.model.add(kind, seconds)

    def expected(self, kind: Key) -> float:
        """Typical (median) seconds from send to completion; from the prior before history."""
        return self.model.expected(kind)

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

    def hint_slot(self, due: float | None, hinted: float | None) -> float | None:
        """When a callback hint may poll the task, or None when no extra poll is needed.

        `due` is the task's next planned poll (None while a poll is in flight), `hinted` the
        time the last hint-driven poll was planned for. Hints coalesce: none while a poll is in
        flight or due within `hint_covered` of the spacing, and at most one hint-driven poll per
        job per spacing. The engine plans the poll at the returned time and keeps it as
        `hinted`.
        """
        if due is None:
            return None
        now = self.clock()
        spacing = self.policy.hint_spacing * self.poll_interval
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
