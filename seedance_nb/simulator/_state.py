"""Accounts, tasks and their lifecycle: everything the simulator remembers.

In memory, and with `--data-dir` also in a SQLite file there (`_persist`), so a restarted
simulator carries on: tasks keep their wall-clock schedule, a task that was rendering when the
server stopped finishes when it was due to, and nothing is charged twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api import Request, TaskStatus, estimate_credits, from_inputs
from ._config import SimConfig
from ._persist import Saved
from ._timing import queue_wait, render_time

ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)
FAILURE_REASONS = (
    "Generation failed: the model could not converge on a stable result",
    "Internal render error: please retry the task",
)
MODERATION_FAILURE = (
    "Content moderation: the generated video was flagged by the safety filter; "
    "no credits were charged"
)
STATE_FILE = "state.sqlite3"


def now_ms() -> int:
    """Milliseconds since the epoch, the API's time unit."""
    return int(time.time() * 1000)


def key_id(key: str) -> str:
    """What identifies an account on disk and in logs: a hash of its key, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class Account:
    """One API key's balance: `credits` held and `reserved` for running tasks."""

    name: str
    key_id: str
    credits: int
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.credits - self.reserved

    def row(self) -> tuple[str, str, int]:
        return self.key_id, self.name, self.credits


@dataclass
class SimTask:
    """A task as the simulator tracks it, with its whole schedule fixed when it is created."""

    id: str
    account: Account
    model: str
    request: Request
    inputs: dict[str, Any]
    estimate: int
    callback_url: str | None
    width: int
    height: int
    seed: int  # the take: what makes this task's video its own
    base: str  # the address it was created at, for its callback's video URL
    created: int = field(default_factory=now_ms)
    starts: int = 0  # ms epoch: leaves the queue
    finishes: int = 0  # ms epoch: done
    outcome: str = "completed"  # "completed" | "failed" | "moderated"
    status: TaskStatus = TaskStatus.PENDING
    completed: int | None = None
    error: str | None = None
    credits_used: int = 0
    notified: bool = False  # its callback has been sent (or given up on)
    video: str | None = None  # the rendered file, once asked for

    def record(self) -> dict[str, Any]:
        """Everything needed to bring the task back after a restart (JSON-ready)."""
        return {
            "id": self.id,
            "account": self.account.key_id,
            "model": self.model,
            "inputs": self.inputs,
            "estimate": self.estimate,
            "callback_url": self.callback_url,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
            "base": self.base,
            "created": self.created,
            "starts": self.starts,
            "finishes": self.finishes,
            "outcome": self.outcome,
            "status": self.status.value,
            "completed": self.completed,
            "error": self.error,
            "credits_used": self.credits_used,
            "notified": self.notified,
            "video": self.video,
        }


class Store:
    """The simulator's memory and clock: accounts, tasks, timings, links, statistics."""

    def __init__(self, config: SimConfig, data_dir: Path | None = None) -> None:
        self.config = config
        self.saved = Saved(data_dir / STATE_FILE) if config.data_dir and data_dir else None
        self.accounts: dict[str, Account] = {}
        self.tasks: dict[str, SimTask] = {}
        self.stats: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.create_faults: list[str] = []  # one-shot createTask faults, 'lose' or 'cut', in order
        self.payloads: Counter[str] = Counter()
        self.fetches: Counter[str] = Counter()  # video files served, by task id
        self._background: set[asyncio.Task[None]] = set()
        stored = self.saved.accounts() if self.saved else {}
        for i, key in enumerate(config.api_keys):
            kid = key_id(key)
            name, credits = stored.get(kid, (f"account-{i + 1}", config.credits))
            self.accounts[key] = Account(name, kid, credits)
        starts = int(self.saved.meta("starts") or 0) if self.saved else 0
        # a restart continues the run's random sequence anew, still repeatable with --seed
        self.rng = random.Random(config.seed if not starts else f"{config.seed}/{starts}")
        self._fail_tally = self.rng.random()  # where in the first 1/fail_rate tasks one fails
        self._moderation_tally = self.rng.random()
        self.secret = secrets.token_bytes(32)
        if self.saved:
            self.secret = bytes.fromhex(self.saved.meta("secret") or self.secret.hex())
            self.saved.set_meta("secret", self.secret.hex())
            self.saved.set_meta("starts", str(starts + 1))
            for account in self.accounts.values():
                self.saved.save(account=account.row())
            self._load()

    def _load(self) -> None:
        """Bring back the tasks a previous run left, with their accounts' reservations."""
        assert self.saved is not None
        by_id = {a.key_id: a for a in self.accounts.values()}
        for rec in self.saved.tasks():
            account = by_id.get(rec["account"])
            if account is None:  # its key is not served this time: the task stays hidden
                continue
            task = SimTask(
                id=rec["id"],
                account=account,
                model=rec["model"],
                request=from_inputs(rec["inputs"]),
                inputs=rec["inputs"],
                estimate=rec["estimate"],
                callback_url=rec["callback_url"],
                width=rec["width"],
                height=rec["height"],
                seed=rec["seed"],
                base=rec["base"],
                created=rec["created"],
                starts=rec["starts"],
                finishes=rec["finishes"],
                outcome=rec["outcome"],
                status=TaskStatus(rec["status"]),
                completed=rec["completed"],
                error=rec["error"],
                credits_used=rec["credits_used"],
                notified=rec["notified"],
                video=rec["video"],
            )
            self.tasks[task.id] = task
            if task.status in ACTIVE:
                account.reserved += task.estimate
            self._count_payload(task)

    def save(self, task: SimTask, *, charge: bool = False) -> None:
        """Write a task (and, when it was charged, its account) to disk, if there is a disk."""
        if self.saved is not None:
            self.saved.save(task.record(), task.account.row() if charge else None)

    def close(self) -> None:
        if self.saved is not None:
            self.saved.close()

    def account(self, key: str) -> Account | None:
        """The account a bearer key opens, compared in constant time."""
        found = None
        for candidate, account in self.accounts.items():
            if secrets.compare_digest(candidate.encode(), key.encode()):
                found = account
        return found

    def running(self, account: Account) -> int:
        return sum(1 for t in self.tasks.values() if t.account is account and t.status in ACTIVE)

    def active(self) -> list[SimTask]:
        return [t for t in self.tasks.values() if t.status in ACTIVE]

    def get(self, task_id: str) -> SimTask | None:
        """A task whose record still lives; a final task is forgotten `task_ttl` after creation."""
        task = self.tasks.get(task_id)
        if task is None:
            return None
        ttl_ms = self.config.task_ttl * self.config.speed * 1000
        if task.status not in ACTIVE and now_ms() > task.created + ttl_ms:
            self.expire(task)
            return None
        return task

    def expire(self, task: SimTask) -> None:
        """Forget a task and delete its video, as the hosted service does after its retention."""
        del self.tasks[task.id]
        self.stats["tasks_expired"] += 1
        if task.video and not any(t.video == task.video for t in self.tasks.values()):
            Path(task.video).unlink(missing_ok=True)
        if self.saved is not None:
            self.saved.delete_task(task.id)

    def create(
        self,
        account: Account,
        model: str,
        request: Request,
        inputs: dict[str, Any],
        callback_url: str | None,
        size: tuple[int, int],
        base: str,
    ) -> SimTask:
        """Record a task, fix its schedule and outcome, and reserve its credits (the caller has
        checked the limits)."""
        estimate = estimate_credits(request, model)
        wait, render, outcome = self.schedule(request, model)
        created = now_ms()
        speed_ms = self.config.speed * 1000
        starts = created + round(wait * speed_ms)
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
            seed=self.rng.getrandbits(63),
            base=base,
            created=created,
            starts=starts,
            finishes=starts + round(render * speed_ms),
            outcome=outcome,
        )
        account.reserved += estimate
        self.tasks[task.id] = task
        self.save(task)
        self._count_payload(task)
        self.stats["tasks_created"] += 1
        return task

    def _count_payload(self, task: SimTask) -> None:
        digest = json.dumps([task.account.name, task.model, task.inputs], sort_keys=True).encode()
        self.payloads[hashlib.sha256(digest).hexdigest()] += 1

    def schedule(self, request: Request, model: str) -> tuple[float, float, str]:
        """Queue wait and render time (seconds at speed 1, see `_timing`) and the outcome.

        Failures are an exact share, not a dice roll: each task adds `fail_rate` (and
        `moderation_rate`) to a tally and fails when it passes 1, so 10% means one task in
        every ten, and a test can count on seeing them.
        """
        outcome = "completed"
        self._fail_tally += self.config.fail_rate
        if self._fail_tally >= 1.0:
            self._fail_tally -= 1.0
            outcome = "failed"
        self._moderation_tally += self.config.moderation_rate
        if self._moderation_tally >= 1.0:
            self._moderation_tally -= 1.0
            outcome = "moderated"
        wait = queue_wait(self.rng)
        return wait, render_time(self.rng, request.seconds, request.upscale, model), outcome

    def start(self, task: SimTask) -> None:
        """The task leaves the queue."""
        if task.status is TaskStatus.PENDING:
            task.status = TaskStatus.PROCESSING
            self.save(task)

    def finish(self, task: SimTask) -> None:
        """Move a task to its final state: charge the reservation, or release it."""
        if task.status not in ACTIVE:
            return
        task.account.reserved -= task.estimate
        task.completed = task.finishes  # on schedule, even if the server was down meanwhile
        if task.outcome != "completed":
            task.status = TaskStatus.FAILED
            if task.outcome == "moderated":
                task.error = MODERATION_FAILURE
                self.stats["tasks_moderated"] += 1
            else:
                task.error = self.rng.choice(FAILURE_REASONS)
            self.stats["tasks_failed"] += 1
            self.save(task)
            return
        task.status = TaskStatus.COMPLETED
        task.credits_used = task.estimate
        task.account.credits -= task.estimate
        self.stats["tasks_completed"] += 1
        self.stats["credits_charged"] += task.estimate
        self.save(task, charge=True)

    # ---- signed, expiring video links -------------------------------------------------------

    def _signature(self, task_id: str, expires: int) -> str:
        message = f"{task_id}.{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def video_url(self, task: SimTask, base: str) -> str:
        """A fresh link to the task's video, valid for `url_ttl` (times speed) from now."""
        expires = now_ms() + round(self.config.url_ttl * self.config.speed * 1000)
        signature = self._signature(task.id, expires)
        return f"{base}/files/videos/{task.id}.mp4?expires={expires}&signature={signature}"

    def link_problem(self, task: SimTask, expires: str | None, signature: str | None) -> str | None:
        """Why a video link may not be served (a CDN's 403), or None if it may."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 16:
            return "Access denied: the link is not signed; ask queryTask for a fresh one"
        good = self._signature(task.id, int(expires))
        if not hmac.compare_digest(good, signature):
            return "Access denied: the link's signature does not match"
        if now_ms() > int(expires):
            return "Access denied: the link has expired; ask queryTask for a fresh one"
        return None

    def body(self, task: SimTask, base: str) -> dict[str, Any]:
        """The queryTask answer (and the callback payload), exactly as the API shapes it."""
        done = task.status is TaskStatus.COMPLETED
        output = None
        if done:
            url = self.video_url(task, base)
            output = [{"url": url, "width": task.width, "height": task.height}]
        return {
            "taskId": task.id,
            "model": task.model,
            "status": task.status.value,
            "creditsUsed": task.credits_used,
            "output": output,
            "error": task.error,
            "createTime": task.created,
            "completeTime": task.completed,
        }

    def spawn(self, coro: Any) -> None:
        """Run background work on the server's loop, holding a reference until it ends."""
        job = asyncio.get_running_loop().create_task(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    def snapshot(self) -> dict[str, Any]:
        """Counters for tests and benchmarks; accounts are named, never keyed.

        `responses` counts the answers sent, by HTTP status code ("200", "429", ...), for
        every route but these statistics; a response cut off mid-way counts as "cut".
        """
        by_status = Counter(t.status.value for t in self.tasks.values())
        return {
            "counters": dict(self.stats),
            "responses": dict(self.responses),
            "tasks": dict(by_status),
            "duplicate_payloads": sum(n - 1 for n in self.payloads.values() if n > 1),
            "fetches": dict(self.fetches),
            "accounts": {
                a.name: {
                    "credits": a.credits,
                    "availableCredits": a.available,
                    "running": self.running(a),
                }
                for a in self.accounts.values()
            },
        }
