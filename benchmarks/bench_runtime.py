"""The studio's poller against the simulator, with the studio at its defaults (no
`poll_interval` tuning), at simulator speeds 1.0 and 0.1. Each figure is beside its baseline
from the same run:

- a batch that fits the slots (3 jobs, concurrency 3), with history (`HISTORY` finished tasks
  of the same kind in the ledger before the studio opens) and without: queries per task
  (goal <= 1.0x the loop's) and median detection lag (goal <= 0.5x the loop's), against the
  seed's fixed 5 s loop scaled to the same speed (a queryTask right after createTask, then one
  every 5 s x speed). The loop follows the very tasks the studio sent, from the moment each
  was created, on a client and loop of its own, so both are measured on the same render times;
- 12 jobs at concurrency 3 (no history): makespan from the first submit to the last detection,
  against the ideal schedule (FIFO on 3 slots, each refilled the instant its task ends) of the
  tasks' server-side times (createTime -> completeTime); goal <= 1.05x. Beside it, the slowest
  refill: createTime of a queued job minus the moment the studio saw the completion that freed
  its slot (a slot left idle shows here);
- webhook mode (`webhook_url="http://127.0.0.1:0/hook"`, no history): median detection lag and
  queries per task; goal <= 0.1 s at <= 1.2 queries per task;
- event-loop lag p99 of the 12-job studio's loop while the batch runs, against the same loop
  idle for a second before it; goal <= 10 ms.

Detection lag = when the studio showed the task done (the job's first update to DOWNLOADING)
minus the server's completeTime, in wall-clock seconds at the simulator's speed (the webhook's
goal is in those seconds too). Each scenario has its own simulator account, ledger and studio,
and the scenarios of one round run side by side, each in a process of its own; speed 1.0 runs
`ROUNDS[1.0]` rounds at once (about 4-5 minutes in all), speed 0.1 one round after another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import seedance_nb as sd
from benchmarks._report import Figure, percentile

SPEEDS = (1.0, 0.1)
ROUNDS = {1.0: 2, 0.1: 3}  # independent rounds per speed: more tasks behind every median
PARALLEL = {1.0: True, 0.1: False}  # rounds side by side (speed 1 is slow, not busy)
LOOP = 5.0  # the seed's loop, seconds at speed 1
HISTORY = 9
FIT = 3
BATCH = 12
WEBHOOK_URL = "http://127.0.0.1:0/hook"
KEYS_PER_ROUND = 6  # cold, 3 for the history (then the warm batch), 12-job batch, webhook


@dataclass
class Run:
    """One batch through one studio, and the seed's loop on the same tasks."""

    queries: int = 0  # the studio's queryTask calls
    tasks: int = 0
    lags: list[float] = field(default_factory=list)
    loop_queries: list[int] = field(default_factory=list)
    loop_lags: list[float] = field(default_factory=list)
    makespan: float = 0.0
    ideal: float = 0.0
    refills: list[float] = field(default_factory=list)
    slot_waits: int = 0
    loop_idle: list[float] = field(default_factory=list)  # event-loop wake-up delays, idle
    loop_busy: list[float] = field(default_factory=list)  # ... while the batch ran
    notes: list[str] = field(default_factory=list)  # per task, printed by `python -m`


class SeedLoop:
    """The seed's loop, on a loop and clients of its own: follows a task from its creation,
    querying it at once and then every `LOOP` x speed until it is final."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._clients: dict[str, sd.AsyncClient] = {}

    def follow(
        self, api_key: str, task_id: str, step: float
    ) -> concurrent.futures.Future[tuple[int, float]]:
        return asyncio.run_coroutine_threadsafe(self._follow(api_key, task_id, step), self.loop)

    async def _follow(self, api_key: str, task_id: str, step: float) -> tuple[int, float]:
        client = self._clients.get(api_key)
        if client is None:
            client = self._clients[api_key] = sd.AsyncClient(api_key, self.base_url)
        queries = 0
        while True:
            queries += 1
            task = await client.get_task(task_id)
            if task.done:
                assert task.completed_at is not None
                return queries, time.time() - task.completed_at.timestamp()
            await asyncio.sleep(step)

    def close(self) -> None:
        async def shut() -> None:
            for client in self._clients.values():
                await client.aclose()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@dataclass
class Bench:
    """What one scenario needs: the simulator's address and speed, the seed's loop, a folder."""

    base_url: str
    speed: float
    seed: SeedLoop
    work: Path

    def studio(self, key: str, ledger: Path, name: str, **options: object) -> sd.Studio:
        client = sd.Client(api_key=key, base_url=self.base_url)
        return sd.Studio(
            client=client,
            ledger=ledger,
            outputs=self.work / f"out-{name}",
            verbose=False,
            **options,  # type: ignore[arg-type]
        )

    def timeout(self, jobs: int) -> float:
        return 60.0 + 600.0 * self.speed * jobs / 3

    def batch(self, studio: sd.Studio, key: str, n: int, tag: str, follow: bool) -> Run:
        """Submit `n` new jobs at once and wait for them; with `follow`, the seed's loop
        follows each task from its creation."""
        step = LOOP * self.speed
        before = studio.engine.stats["queries"]
        detected: dict[int, float] = {}
        followers: dict[int, concurrent.futures.Future[tuple[int, float]]] = {}
        lock = threading.Lock()

        def watch(job: sd.runtime.Job) -> None:
            with lock:
                if follow and job.task_id is not None and job.id not in followers:
                    followers[job.id] = self.seed.follow(key, job.task_id, step)
                if job.id not in detected and job.status in (
                    sd.runtime.JobStatus.DOWNLOADING,
                    sd.runtime.JobStatus.COMPLETED,
                ):
                    detected[job.id] = time.time()

        start = time.time()
        jobs = []
        for i in range(n):
            job = studio.submit(sd.TextToVideo(f"bench {tag} scene {i}", duration=5))
            job.on_update(watch)
            watch(job)
            jobs.append(job)
        studio.wait(jobs, timeout=self.timeout(n))
        for job in jobs:
            if job.status is not sd.runtime.JobStatus.COMPLETED or job.id not in detected:
                raise RuntimeError(f"{tag}: job #{job.id} ended {job.status}: {job.error}")
        run = Run(queries=studio.engine.stats["queries"] - before, tasks=n)
        run.slot_waits = studio.engine.stats["slot_waits"]
        for job in jobs:
            assert job.task is not None and job.task.completed_at is not None
            run.lags.append(detected[job.id] - job.task.completed_at.timestamp())
        for future in followers.values():
            queries, lag = future.result(self.timeout(1))
            run.loop_queries.append(queries)
            run.loop_lags.append(lag)
        tasks = [j.task for j in jobs if j.task is not None]
        durations = [(t.completed_at - t.created_at).total_seconds() for t in tasks]  # type: ignore[operator]
        run.makespan = max(detected.values()) - start
        run.ideal = ideal_makespan(durations)
        creates = sorted(t.created_at.timestamp() for t in tasks)  # type: ignore[union-attr]
        seen = sorted(detected.values())
        run.refills = [creates[i + 3] - seen[i] for i in range(n - 3)]
        loop = [followers[j.id].result()[0] if follow else "-" for j in jobs]
        run.notes = [
            f"{tag} #{job.id}: render {d:.2f} s, studio {studio.engine.tracks[job.id].polls + 1} "
            f"queries, loop {q}, lag {lag:.3f} s"
            for job, d, q, lag in zip(jobs, durations, loop, run.lags, strict=True)
        ]
        if n > 3:
            run.notes.append(
                f"{tag}: makespan {run.makespan:.2f} s, ideal {run.ideal:.2f} s, refills "
                + ", ".join(f"{r:.3f}" for r in run.refills)
            )
        return run

    # ---- scenarios -----------------------------------------------------------------------------
    def cold(self, keys: list[str], tag: str) -> Run:
        studio = self.studio(keys[0], self.work / f"{tag}-cold.sqlite", f"{tag}-cold")
        try:
            assert not studio.engine.scheduler.model.learned
            return self.batch(studio, keys[0], FIT, f"{tag}-cold", follow=True)
        finally:
            studio.close()

    def warm(self, keys: list[str], tag: str) -> Run:
        """`HISTORY` tasks of the same kind through three studios (three accounts) on one
        ledger, then a fresh studio on that ledger, which loads them as history."""
        ledger = self.work / f"{tag}-warm.sqlite"
        primes = [self.studio(k, ledger, f"{tag}-prime{i}") for i, k in enumerate(keys[1:4])]
        try:
            with concurrent.futures.ThreadPoolExecutor(len(primes)) as pool:
                list(
                    pool.map(
                        lambda p: self.batch(
                            p[1], keys[1 + p[0]], HISTORY // 3, f"{tag}-h{p[0]}", False
                        ),
                        enumerate(primes),
                    )
                )
        finally:
            for p in primes:
                p.close()
        studio = self.studio(keys[1], ledger, f"{tag}-warm")
        try:
            assert studio.engine.scheduler.model.learned
            return self.batch(studio, keys[1], FIT, f"{tag}-warm", follow=True)
        finally:
            studio.close()

    def queued(self, keys: list[str], tag: str) -> Run:
        """`BATCH` jobs through 3 slots, probing the studio's event loop meanwhile (and for a
        second before, idle)."""
        studio = self.studio(keys[4], self.work / f"{tag}-batch.sqlite", f"{tag}-batch")
        try:
            idle = probe(studio, lambda: time.sleep(1.0))
            box: list[Run] = []
            busy = probe(
                studio,
                lambda: box.append(self.batch(studio, keys[4], BATCH, f"{tag}-batch", False)),
            )
            box[0].loop_idle, box[0].loop_busy = idle, busy
            return box[0]
        finally:
            studio.close()

    def webhook(self, keys: list[str], tag: str) -> Run:
        studio = self.studio(
            keys[5], self.work / f"{tag}-hook.sqlite", f"{tag}-hook", webhook_url=WEBHOOK_URL
        )
        try:
            return self.batch(studio, keys[5], FIT, f"{tag}-hook", follow=True)
        finally:
            studio.close()


SCENARIOS: dict[str, Callable[[Bench, list[str], str], Run]] = {
    "cold": Bench.cold,
    "warm": Bench.warm,
    "queued": Bench.queued,
    "webhook": Bench.webhook,
}


def probe(studio: sd.Studio, during: Callable[[], object], period: float = 0.005) -> list[float]:
    """How late the studio's loop wakes a sleeper, sampled every `period` s while `during()`."""
    stop = asyncio.Event()

    async def sample() -> list[float]:
        lags = []
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(period)
            lags.append(time.perf_counter() - start - period)
        return lags

    future = studio._host.submit(sample())
    try:
        during()
    finally:
        studio._host.soon(stop.set)
    return future.result(10)


def ideal_makespan(durations: list[float], slots: int = 3) -> float:
    """FIFO on `slots` slots, each refilled the instant its task ends, nothing else in the way."""
    ends = [0.0] * slots
    for d in durations:
        i = ends.index(min(ends))
        ends[i] += d
    return max(ends)


def load_average() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return float(Path("/proc/loadavg").read_text().split()[0])
    return float("nan")


def scenario(name: str, base_url: str, speed: float, keys: list[str], tag: str) -> Run:
    """One scenario, in a process of its own (so no other studio shares its interpreter)."""
    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    seed = SeedLoop(base_url)
    try:
        return SCENARIOS[name](Bench(base_url, speed, seed, work), keys, tag)
    finally:
        seed.close()
        shutil.rmtree(work, ignore_errors=True)


def measure(speed: float) -> tuple[dict[str, list[Run]], float, float]:
    """Every scenario at `speed`, `ROUNDS[speed]` times; and the load average before, after.

    Each scenario runs in a process of its own against one simulator (in this process); the
    scenarios of a round run side by side, and at speed 1 all rounds at once.
    """
    rounds = ROUNDS[speed]
    keys = [f"bench-{i}-{secrets.token_hex(8)}" for i in range(KEYS_PER_ROUND * rounds)]
    sim = sd.simulator.start(
        speed=speed, credits=10**7, concurrency=3, seed=1, api_keys=tuple(keys)
    )
    out: dict[str, list[Run]] = {name: [] for name in SCENARIOS}
    load_before = load_average()
    spawn = multiprocessing.get_context("spawn")
    try:
        groups = [list(range(rounds))] if PARALLEL[speed] else [[r] for r in range(rounds)]
        for group in groups:
            calls = [
                (name, keys[KEYS_PER_ROUND * r : KEYS_PER_ROUND * (r + 1)], f"s{speed:g}r{r}")
                for r in group
                for name in SCENARIOS
            ]
            with concurrent.futures.ProcessPoolExecutor(len(calls), mp_context=spawn) as pool:
                futures = [
                    (name, pool.submit(scenario, name, sim.base_url, speed, k, tag))
                    for name, k, tag in calls
                ]
                for name, future in futures:
                    out[name].append(future.result())
    finally:
        load_after = load_average()
        sim.stop()
    return out, load_before, load_after


def pooled(runs: list[Run]) -> Run:
    total = Run()
    for r in runs:
        total.queries += r.queries
        total.tasks += r.tasks
        total.lags += r.lags
        total.loop_queries += r.loop_queries
        total.loop_lags += r.loop_lags
        total.makespan += r.makespan
        total.ideal += r.ideal
        total.refills += r.refills
        total.slot_waits += r.slot_waits
        total.loop_idle += r.loop_idle
        total.loop_busy += r.loop_busy
        total.notes += r.notes
    return total


def figures(speed: float, out: dict[str, list[Run]], load: tuple[float, float]) -> list[Figure]:
    tag = f"speed {speed:g}"
    result = []
    for name, label in (("warm", f"with {HISTORY} tasks of history"), ("cold", "no history")):
        r = pooled(out[name])
        queries, loop_queries = r.queries / r.tasks, statistics.fmean(r.loop_queries)
        lag, loop_lag = statistics.median(r.lags), statistics.median(r.loop_lags)
        result += [
            Figure(
                f"queries per task, batch of {FIT} that fits the slots, {label} "
                f"({tag}, {r.tasks} tasks)",
                queries,
                "queries",
                f"seed's 5 s loop x {speed:g}, same tasks",
                loop_queries,
                "<= 1.0x (with the lag below)",
                queries <= loop_queries,
            ),
            Figure(
                f"median detection lag, batch of {FIT} that fits the slots, {label} "
                f"({tag}, {r.tasks} tasks)",
                lag,
                "s",
                f"seed's 5 s loop x {speed:g}, same tasks",
                loop_lag,
                "<= 0.5x",
                lag <= 0.5 * loop_lag,
            ),
        ]
    r = pooled(out["queued"])
    result += [
        Figure(
            f"makespan of {BATCH} jobs at concurrency 3, no history ({tag}, "
            f"{len(out['queued'])} batch(es); {r.queries / r.tasks:.2f} queries per task)",
            r.makespan,
            "s",
            "ideal schedule of the same tasks",
            r.ideal,
            "<= 1.05x",
            r.makespan <= 1.05 * r.ideal,
        ),
        Figure(
            f"slowest refill of a slot, {BATCH} jobs at concurrency 3 ({tag}; "
            f"{r.slot_waits} slot waits)",
            max(r.refills),
            "s",
            "median detection lag of the same batch",
            statistics.median(r.lags),
        ),
    ]
    busy, idle = percentile(r.loop_busy, 99) * 1000, percentile(r.loop_idle, 99) * 1000
    result.append(
        Figure(
            f"event-loop lag p99 while {BATCH} jobs run ({tag})",
            busy,
            "ms",
            "the same loop idle",
            idle,
            "<= 10 ms",
            busy <= 10.0,
        )
    )
    r = pooled(out["webhook"])
    queries, lag = r.queries / r.tasks, statistics.median(r.lags)
    result += [
        Figure(
            f"webhook mode: median detection lag ({tag}, {r.tasks} tasks; "
            f"{queries:.2f} queries per task)",
            lag,
            "s",
            f"seed's 5 s loop x {speed:g}, same tasks",
            statistics.median(r.loop_lags),
            "<= 0.1 s at <= 1.2 queries per task",
            lag <= 0.1 and queries <= 1.2,
        ),
        Figure(
            f"webhook mode: queries per task ({tag}, {r.tasks} tasks)",
            queries,
            "queries",
            f"seed's 5 s loop x {speed:g}, same tasks",
            statistics.fmean(r.loop_queries),
            "<= 1.2 queries",
            queries <= 1.2,
        ),
        Figure(
            f"machine load average (1 min) after the {tag} runs",
            load[1],
            "",
            "before them",
            load[0],
        ),
    ]
    return result


NOTES: list[str] = []  # what each task cost, from the last `run()`


def run() -> list[Figure]:
    result = []
    NOTES.clear()
    for speed in SPEEDS:
        out, before, after = measure(speed)
        NOTES.extend(note for runs in out.values() for r in runs for note in r.notes)
        result += figures(speed, out, (before, after))
    return result


if __name__ == "__main__":
    found = run()
    print("\n".join(NOTES))
    for figure in found:
        print(figure.line(), flush=True)
