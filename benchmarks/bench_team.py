"""Team ledger figures, each beside a baseline measured in the same run:

- log() p50 and p99 on PostgreSQL (durable: committed, the server's WAL synced) against the same
  call on the SQLite file;
- the wake-up delay from `release_slot` in one process to the `listen` callback in another
  (p50, p95; goal p50 <= 50 ms), against a bare psycopg NOTIFY to LISTEN between two processes;
- the delay until that other process holds the slot (`acquire_slot` returns True), the moment its
  engine may send createTask, against the same baseline.

PostgreSQL is found as the tests find it (tests/pg.py): SEEDANCE_TEST_POSTGRES, a server at
127.0.0.1:5432, or a throwaway cluster; a fresh database is made and dropped.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks._report import Figure, percentile, timeit

ROOT = Path(__file__).resolve().parent.parent
LOGS = 500
ROUNDS = 200
ACCOUNT = "bench-account"

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


def run() -> list[Figure]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import server

    try:
        with server() as url, tempfile.TemporaryDirectory(prefix="bench-team-") as work:
            lite = _log_latencies(str(Path(work) / "team.sqlite"))
            team = _log_latencies(url)
            heard, held = _wake_ups(url)
            floor = _floor(url)
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
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for figure in run():
        print(figure.line())
