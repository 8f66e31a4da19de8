"""Team ledger figures, each beside a baseline measured in the same run:

- log() p50 and p99 on PostgreSQL (durable: committed, the server's WAL synced) against the same
  call on the SQLite file;
- the wake-up delay from `release_slot` in one process to the `listen` callback in another
  (p50, p95; goal p50 <= 50 ms), against a bare psycopg NOTIFY to LISTEN between two processes;
- the delay until that other process holds the slot (`acquire_slot` returns True), the moment its
  engine may send createTask, against the same baseline;
- 3 studio processes x 8 jobs on one account (limit 3) through a PostgreSQL ledger, studios at
  their defaults, with history of the same kind of task in the ledger (as bench_runtime's warm
  start); one SEEDANCE_USER, so a freed slot goes to the longest-waiting job wherever it is:
  the makespan against the ideal schedule for one account (every slot refilled the instant its
  task ends, in the order the server created them, from the tasks' own server-side render
  times, as bench_runtime computes it; goal <= 1.10x);
- in that batch, the wake-up from a freed slot (the studio's call to `release_slot`, so the
  release's own transaction counts) to the next createTask (the simulator's createTime) from
  another process (goal p50 <= 50 ms), against the same hand-off within one process, which
  needs no NOTIFY.

PostgreSQL is found as the tests find it (tests/pg.py): SEEDANCE_TEST_POSTGRES, a server at
127.0.0.1:5432, or a throwaway cluster; a fresh database is made and dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._report import Figure, percentile, timeit
from benchmarks.bench_runtime import ideal_makespan, load_average

ROOT = Path(__file__).resolve().parent.parent
LOGS = 500
ROUNDS = 200
ACCOUNT = "bench-account"
# a 5 s clip renders in about 2.2 s at 0.05: 24 of them on 3 slots in about 20 s;
# BENCH_TEAM_SPEED=1 (about 7 minutes) or 0.1 measure at the service's own pace and a tenth
SPEED = float(os.environ.get("BENCH_TEAM_SPEED", "0.05"))
STUDIOS, JOBS, HISTORY = 3, 8, 9

# waits for a slot that the parent holds; prints when the wake-up came and when the slot was in
# hand (CLOCK_MONOTONIC is one clock for every process on the machine)
WAITER = textwrap.dedent("""
    import sys, threading, time
    from seedance_nb.ledger import Ledger, Owner
    now = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    ledger = Ledger(sys.argv[1])
    rounds = int(sys.argv[3])
    me = Owner.new()
    ledger.register(me)
    woke, at = threading.Event(), [0]
    def heard(account):
        at[0] = now()
        woke.set()
    stop = ledger.listen(heard)
    for i in range(rounds):
        row = 1_000_000 + i
        woke.clear()
        if ledger.acquire_slot(sys.argv[2], me, "waiter", row, 1):
            raise SystemExit("the slot should have been taken")
        print("waiting", flush=True)
        while True:
            woke.wait(5)
            woke.clear()
            heard_at = at[0]
            if ledger.acquire_slot(sys.argv[2], me, "waiter", row, 1):
                break
        print(heard_at, now(), flush=True)
        ledger.release_slot(sys.argv[2], row)
        sys.stdin.readline()  # the parent holds the slot again
    stop()
    ledger.close()
""")

# the floor: one bare NOTIFY from one process heard by LISTEN in another, with psycopg alone
BARE = textwrap.dedent("""
    import sys, time
    import psycopg
    with psycopg.connect(sys.argv[1], autocommit=True) as conn:
        conn.execute("LISTEN bench_floor")
        print("ready", flush=True)
        seen = 0
        while seen < int(sys.argv[2]):
            for note in conn.notifies(timeout=5, stop_after=1):
                print(time.clock_gettime_ns(time.CLOCK_MONOTONIC), flush=True)
                seen += 1
""")


# one studio of the team batch, at the studio's defaults: notes when each of its slots was freed
# and when it saw each task done (wall clock, as the simulator's createTime and completeTime),
# runs its jobs on "go", and reports
STUDIO = textwrap.dedent("""
    import json, sys, threading, time
    import seedance_nb as sd
    from seedance_nb.ledger import Ledger
    url, base_url, key, outputs, tag, jobs = sys.argv[1:7]
    freed, seen, lock = [], {}, threading.Lock()
    release = Ledger.release_slot

    def noted(self, account, job_row):
        at = time.time()  # the slot is free once this commits: its NOTIFY may be heard, and
        done = release(self, account, job_row)  # the slot taken, before this returns
        if done:
            freed.append(at)
        return done

    def watch(job):
        with lock:
            if job.id not in seen and job.status in ("DOWNLOADING", "COMPLETED"):
                seen[job.id] = time.time()

    Ledger.release_slot = noted
    client = sd.Client(api_key=key, base_url=base_url)
    studio = sd.Studio(client=client, ledger=url, outputs=outputs, verbose=False)
    client.close()
    print(json.dumps({"owner": studio.owner.id}), flush=True)
    sys.stdin.readline()
    batch = []
    for i in range(int(jobs)):
        job = studio.submit(sd.TextToVideo(f"team bench {tag} scene {i}", duration=5),
                            experiment="team")
        job.on_update(watch)
        batch.append(job)
    studio.wait(batch)
    print(json.dumps({"seen": list(seen.values()), "freed": freed,
                      "statuses": [str(j.status) for j in batch]}), flush=True)
    studio.close()
""")


def _now() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _log_latencies(target: str) -> list[float]:
    """log() seconds per call on a fresh ledger at `target`."""
    from seedance_nb.ledger import Ledger

    with Ledger(target) as ledger:
        ledger.log(experiment="warm-up")
        return timeit(
            lambda: ledger.log(
                experiment="bench", model="seedance2", estimated_credits=200, prompt="a kite"
            ),
            LOGS,
        )


def _wake_ups(url: str) -> tuple[list[float], list[float]]:
    """(release -> callback, release -> slot in hand) seconds, over ROUNDS rounds."""
    from seedance_nb.ledger import Ledger, Owner

    heard: list[float] = []
    held: list[float] = []
    with Ledger(url) as ledger:
        me = Owner.new()
        ledger.register(me)
        row = 0
        assert ledger.acquire_slot(ACCOUNT, me, "releaser", row, 1)
        waiter = _spawn(WAITER, url, ACCOUNT, str(ROUNDS))
        assert waiter.stdout is not None
        try:
            for _ in range(ROUNDS):
                line = waiter.stdout.readline().strip()
                assert line == "waiting", line + (waiter.stderr.read() if waiter.stderr else "")
                start = _now()
                ledger.release_slot(ACCOUNT, row)
                heard_at, held_at = (int(x) for x in waiter.stdout.readline().split())
                heard.append((heard_at - start) / 1e9)
                held.append((held_at - start) / 1e9)
                row += 1
                while not ledger.acquire_slot(ACCOUNT, me, "releaser", row, 1):
                    time.sleep(0.001)  # the waiter gives its slot back at once
                assert waiter.stdin is not None
                waiter.stdin.write("go\n")
                waiter.stdin.flush()
        finally:
            waiter.wait(60)
            for pipe in (waiter.stdin, waiter.stdout, waiter.stderr):
                if pipe is not None:
                    pipe.close()
    return heard, held


def _floor(url: str) -> list[float]:
    """Seconds from a bare NOTIFY to the LISTEN in another process."""
    import psycopg

    out: list[float] = []
    listener = _spawn(BARE, url, str(ROUNDS))
    assert listener.stdout is not None
    try:
        assert listener.stdout.readline().strip() == "ready"
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(ROUNDS):
                start = _now()
                conn.execute("NOTIFY bench_floor")
                out.append((int(listener.stdout.readline()) - start) / 1e9)
    finally:
        listener.wait(60)
        for pipe in (listener.stdin, listener.stdout, listener.stderr):
            if pipe is not None:
                pipe.close()
    return out


@contextlib.contextmanager
def _schema(url: str) -> Iterator[str]:
    """A ledger URL of its own in the database at `url`: a new schema, dropped after."""
    import psycopg
    from pg import with_schema

    name = f"team_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield with_schema(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def _prime(url: str, sim: Any, work: Path) -> None:
    """`HISTORY` finished tasks of the batch's kind in the shared ledger, as earlier sessions
    leave them: every studio's poller learns their render times (bench_runtime's warm start)."""
    import seedance_nb as sd

    client = sd.Client(api_key=sim.api_key, base_url=sim.base_url)
    with sd.Studio(client=client, ledger=url, outputs=work / "prime", verbose=False) as studio:
        studio.wait(
            [
                studio.submit(sd.TextToVideo(f"team bench history {i}", duration=5))
                for i in range(HISTORY)
            ]
        )
    client.close()


def _team_batch(url: str) -> tuple[float, float, list[float], list[float], int]:
    """STUDIOS processes x JOBS jobs on one account: (makespan from "go" to the last task seen
    done, its ideal schedule, cross-process hand-offs, same-process hand-offs, 429 answers),
    in wall-clock seconds at the bench's speed."""
    import seedance_nb as sd

    sim = sd.simulator.start(speed=SPEED, credits=10**7, concurrency=3, seed=3)
    work = Path(tempfile.mkdtemp(prefix="bench-team-batch-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        _prime(url, sim, work)
        for i in range(STUDIOS):
            args = (url, sim.base_url, sim.api_key, str(work / f"s{i}"), f"s{i}", str(JOBS))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", STUDIO, *args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT), "SEEDANCE_USER": "bench"},
                )
            )
        owners = [json.loads(_line(p))["owner"] for p in procs]
        start = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        ends = [json.loads(_line(p)) for p in procs]
        for proc in procs:
            proc.communicate(timeout=60)
        refused = sim.stats()["responses"].get("429", 0)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    if any(set(e["statuses"]) != {"COMPLETED"} for e in ends):
        raise RuntimeError(f"the team batch did not complete: {ends}")

    with sd.Ledger(url) as ledger:
        batch = sorted(ledger.rows(experiment="team"), key=lambda r: r["sent_at"])
    durations = [(r["completed_at"] - r["sent_at"]).total_seconds() for r in batch]
    # each createTask fills the slot freed longest ago and not yet refilled
    events = [(r["sent_at"].timestamp(), 1, r["owner"]) for r in batch]
    events += [(at, 0, owners[i]) for i, e in enumerate(ends) for at in e["freed"]]
    waiting: list[tuple[float, str]] = []
    cross: list[float] = []
    same: list[float] = []
    for at, kind, owner in sorted(events):
        if kind == 0:
            waiting.append((at, owner))
        elif waiting:
            freed_at, freed_by = waiting.pop(0)
            (same if freed_by == owner else cross).append(at - freed_at)
    makespan = max(at for e in ends for at in e["seen"]) - start
    return makespan, ideal_makespan(durations), cross, same, refused


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise RuntimeError(proc.stderr.read()[-2000:] if proc.stderr else "no output")
    return line


def run() -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import server

    try:
        with server() as url, tempfile.TemporaryDirectory(prefix="bench-team-") as work:
            lite = _log_latencies(str(Path(work) / "team.sqlite"))
            team = _log_latencies(url)
            heard, held = _wake_ups(url)
            floor = _floor(url)
            before = load_average()
            with _schema(url) as team_url:
                makespan, ideal, cross, same, refused = _team_batch(team_url)
            after = load_average()
    except BaseException as exc:  # pytest.skip (no server, not root) is not an Exception
        if isinstance(exc, Exception | KeyboardInterrupt | SystemExit):
            raise
        raise RuntimeError(f"no PostgreSQL to measure: {exc}") from None

    ms = 1000
    return [
        Figure(
            "team ledger log() p50, PostgreSQL (durable)",
            percentile(team, 50) * ms,
            "ms",
            "SQLite log()",
            percentile(lite, 50) * ms,
        ),
        Figure(
            "team ledger log() p99, PostgreSQL (durable)",
            percentile(team, 99) * ms,
            "ms",
            "SQLite log()",
            percentile(lite, 99) * ms,
        ),
        Figure(
            "wake-up p50, release -> another process's listen callback",
            percentile(heard, 50) * ms,
            "ms",
            "bare NOTIFY -> LISTEN",
            percentile(floor, 50) * ms,
            "p50 <= 50 ms",
            percentile(heard, 50) <= 0.050,
        ),
        Figure(
            "wake-up p95, release -> another process's listen callback",
            percentile(heard, 95) * ms,
            "ms",
            "bare NOTIFY -> LISTEN",
            percentile(floor, 95) * ms,
        ),
        Figure(
            "slot in hand p50, release -> acquire_slot True in another process",
            percentile(held, 50) * ms,
            "ms",
            "bare NOTIFY -> LISTEN",
            percentile(floor, 50) * ms,
            "p50 <= 50 ms",
            percentile(held, 50) <= 0.050,
        ),
        Figure(
            f"makespan of {STUDIOS} processes x {JOBS} jobs on one account of limit 3"
            f" ({refused} answers 429)",
            makespan / SPEED,
            "s at speed 1",
            "ideal schedule",
            ideal / SPEED,
            "<= 1.10x",
            makespan <= 1.10 * ideal,
        ),
        Figure(
            f"wake-up p50, freed slot -> next createTask from another process ({len(cross)})",
            percentile(cross, 50) * ms,
            "ms",
            f"the same hand-off within one process ({len(same)})",
            percentile(same, 50) * ms if len(same) > 1 else float("nan"),
            "p50 <= 50 ms",
            percentile(cross, 50) <= 0.050,
        ),
        Figure("machine load average (1 min) after the team batch", after, "", "before it", before),
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for figure in run():
        print(figure.line())
