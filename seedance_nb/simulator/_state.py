"""Accounts, tasks and their lifecycle: everything the simulator remembers, in memory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..api import Request, TaskStatus, estimate_credits
from ._config import SimConfig

ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)
FAILURE_REASONS = (
    "Content moderation: the prompt was flagged by the safety filter",
    "Generation failed: the model could not converge on a stable result",
    "Internal render error: please retry the task",
)


def now_ms() -> int:
    """Milliseconds since the epoch, the API's time unit."""
    return int(time.time() * 1000)


@dataclass
class Account:
    """One API key's balance: `credits` held and `reserved` for running tasks."""

    name: str
    credits: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.credits - self.reserved


@dataclass
class SimTask:
    """A task as the simulator tracks it."""

    id: str
    account: Account
    model: str
    request: Request
    inputs: dict[str, Any]
    estimate: int
    callback_url: str | None
    width: int
    height: int
    created: int = field(default_factory=now_ms)
    status: TaskStatus = TaskStatus.PENDING
    completed: int | None = None
    error: str | None = None
    credits_used: int = 0

    def body(self, base: str) -> dict[str, Any]:
        """The queryTask answer (and the callback payload), exactly as the API shapes it."""
        done = self.status is TaskStatus.COMPLETED
        return {
            "taskId": self.id,
            "model": self.model,
            "status": self.status.value,
            "creditsUsed": self.credits_used,
            "output": [
                {
                    "url": f"{base}/files/videos/{self.id}.mp4",
                    "width": self.width,
                    "height": self.height,
                }
            ]
            if done
            else None,
            "error": self.error,
            "createTime": self.created,
            "completeTime": self.completed,
        }


class Store:
    """The simulator's memory and clock: accounts, tasks, timings, statistics."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.accounts = {
            key: Account(f"account-{i + 1}", config.credits)
            for i, key in enumerate(config.api_keys)
        }
        self.tasks: dict[str, SimTask] = {}
        self.stats: Counter[str] = Counter()
        self.payloads: Counter[str] = Counter()
        self._fail_tally = self.rng.random()  # where in the first 1/fail_rate tasks one fails
        self._background: set[asyncio.Task[None]] = set()

    def account(self, key: str) -> Account | None:
        """The account a bearer key opens, compared in constant time."""
        found = None
        for candidate, account in self.accounts.items():
            if secrets.compare_digest(candidate.encode(), key.encode()):
                found = account
        return found

    def running(self, account: Account) -> int:
        return sum(1 for t in self.tasks.values() if t.account is account and t.status in ACTIVE)

    def create(
        self,
        account: Account,
        model: str,
        request: Request,
        inputs: dict[str, Any],
        callback_url: str | None,
        size: tuple[int, int],
    ) -> SimTask:
        """Record a task and reserve its credits (the caller has checked the limits)."""
        estimate = estimate_credits(request, model)
        task = SimTask(
            id=f"task_{secrets.token_hex(10)}",
            account=account,
            model=model,
            request=request,
            inputs=inputs,
            estimate=estimate,
            callback_url=callback_url,
            width=size[0],
            height=size[1],
        )
        account.reserved += estimate
        self.tasks[task.id] = task
        digest = json.dumps([account.name, model, inputs], sort_keys=True).encode()
        self.payloads[hashlib.sha256(digest).hexdigest()] += 1
        self.stats["tasks_created"] += 1
        return task

    def schedule(self) -> tuple[float, float, bool]:
        """Queue wait and render time (seconds, before `speed`) and whether it fails.

        Failures are an exact share, not a dice roll: each task adds `fail_rate` to a tally
        and fails when it passes 1, so 10% means one task in every ten, and a test can count
        on seeing them.
        """
        self._fail_tally += self.config.fail_rate
        fails = self._fail_tally >= 1.0
        if fails:
            self._fail_tally -= 1.0
        return self.rng.uniform(1.0, 4.0), self.rng.uniform(0.85, 1.2), fails

    def finish(self, task: SimTask, *, failed: bool) -> None:
        """Move a task to its final state: charge the reservation, or release it."""
        task.account.reserved -= task.estimate
        task.completed = now_ms()
        if failed:
            task.status = TaskStatus.FAILED
            task.error = self.rng.choice(FAILURE_REASONS)
            self.stats["tasks_failed"] += 1
        else:
            task.status = TaskStatus.COMPLETED
            task.credits_used = task.estimate
            task.account.credits -= task.estimate
            self.stats["tasks_completed"] += 1
            self.stats["credits_charged"] += task.estimate

    def spawn(self, coro: Any) -> None:
        """Run background work on the server's loop, holding a reference until it ends."""
        job = asyncio.get_running_loop().create_task(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    def snapshot(self) -> dict[str, Any]:
        """Counters for tests and benchmarks; accounts are named, never keyed."""
        by_status = Counter(t.status.value for t in self.tasks.values())
        return {
            "counters": dict(self.stats),
            "tasks": dict(by_status),
            "duplicate_payloads": sum(n - 1 for n in self.payloads.values() if n > 1),
            "accounts": {
                a.name: {
                    "credits": a.credits,
                    "availableCredits": a.available,
                    "running": self.running(a),
                }
                for a in self.accounts.values()
            },
        }


def render_seconds(request: Request, model: str, spread: float) -> float:
    """Render time at speed 1: grows with length and upscale; the fast model is quicker."""
    base = 8.0 + 3.0 * request.seconds
    base *= {None: 1.0, "2k": 1.4, "4k": 1.8}[request.upscale]
    base *= 0.6 if model == "seedance2-fast" else 1.0
    return base * spread
