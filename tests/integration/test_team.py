"""A lab sharing one account, end to end: studios in separate processes on one ledger (a SQLite
file, or a real PostgreSQL) against one simulator whose account runs 3 tasks at once. The
server's own books judge: it counts every answer by status code, every createTask and payload,
and every credit charged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seedance_nb as sd
from seedance_nb.ledger import account_id
from seedance_nb.runtime import _engine
from seedance_nb.runtime._download import verify_video
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CREATE = "requests POST /api/v1/jobs/createTask"
SENT = ("PENDING", "PROCESSING")  # on the server, with a task id

# A studio in a process of its own. It says who it is, waits for "go", then runs its tail.
HEAD = """
import json, os, sys
import seedance_nb as sd

env = os.environ
client = sd.Client(api_key=env["SIM_KEY"], base_url=env["SIM_URL"])
studio = sd.Studio(client=client, ledger=env["LEDGER"], outputs=env["OUTPUTS"],
                   experiment=env["EXPERIMENT"], poll_interval=0.05, verbose=False)
client.close()
if env["LEDGER"].endswith(".sqlite"):  # no wake-ups across processes: ask again as often as
    from seedance_nb.runtime import _engine  # it polls (1 s is 100 s at the tests' speed)
    _engine.SLOT_RETRY = 0.02

MODEL = "seedance2-fast"  # 4 s renders in about 0.25 s at the tests' speed

def req(i):  # 4 s at 720x720: the cheapest video for the simulator to make
    return sd.TextToVideo(f"{env['EXPERIMENT']} {env.get('SEEDANCE_USER', '')} scene {i}",
                          duration=4, resolution="720x720")

def say(**what):
    print(json.dumps(what), flush=True)

say(owner=studio.owner.id)
sys.stdin.readline()
"""

BATCH = """
jobs = [studio.submit(req(i), model=MODEL) for i in range(int(env["JOBS"]))]
studio.wait(jobs, timeout=120)
say(statuses=[str(j.status) for j in jobs])
studio.close()
"""

# Submits its batch, then stays until told to stop (killed, or closed once the test has seen
# what it needs). It never calls resume(): whatever it adopts, it adopts on its own.
STAY = """
jobs = [studio.submit(req(i), model=MODEL) for i in range(int(env["JOBS"]))]
say(submitted=[j.id for j in jobs])
sys.stdin.readline()
studio.wait(jobs, timeout=120)
say(statuses=[str(j.status) for j in jobs], adopted=studio.engine.stats["adopted"])
studio.close()
"""

# One user's job, submitted on "go"; notes the account's leases right after its first ask for
# a slot: the jobs that were granted before it stood in line.
SINGLE = """
from seedance_nb.ledger import Ledger

asked = []
acquire = Ledger.acquire_slot

def noted(self, account, owner, user, row, limit):
    got = acquire(self, account, owner, user, row, limit)
    if not asked:
        asked.append([x["job_row"] for x in self.slots(account)["leases"]])
    return got

Ledger.acquire_slot = noted
sys.stdin.readline()
job = studio.submit(req(0), model=MODEL)
job.result(timeout=120)
say(row=job.id, leases=asked[0])
studio.close()
"""

BUDGET = """
jobs = []
while True:
    try:
        jobs.append(studio.submit(req(len(jobs)), model=MODEL))
    except sd.BudgetExceededError:
        break
studio.wait(jobs, timeout=120)
say(accepted=len(jobs), statuses=[str(j.status) for j in jobs])
studio.close()
"""


class Team:
    """Studios of one account in separate processes, on one ledger and one simulator."""

    def __init__(self, sim: Any, ledger: str, work: Path) -> None:
        self.sim = sim
        self.ledger = ledger
        self.work = work
        self.procs: list[subprocess.Popen[str]] = []

    def spawn(self, tail: str, name: str, **env: str) -> subprocess.Popen[str]:
        """A studio process running HEAD then `tail`; its outputs go to work/<name>."""
        env = {
            "SIM_URL": self.sim.base_url,
            "SIM_KEY": self.sim.api_key,
            "LEDGER": self.ledger,
            "OUTPUTS": str(self.work / name),
            "EXPERIMENT": name,
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(HEAD + tail)],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            cwd=self.work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def team(start_sim: Callable[..., Any], target: str, tmp_path: Path) -> Iterator[Team]:
    """One account limited to 3 tasks at once, and a ledger whose schema exists before the race."""
    sim = start_sim(credits=1_000_000, concurrency=3, seed=5)
    sd.Ledger(target).close()
    crew = Team(sim, target, tmp_path)
    yield crew
    crew.close()


@pytest.fixture
def watch(target: str) -> Iterator[sd.Ledger]:
    """The test's own view of the ledger, opened once: it only reads, so a studio stopped in
    the middle of a write (SIGSTOP) holds it up on neither backend."""
    with sd.Ledger(target) as ledger:
        yield ledger


def said(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The next line the process printed, as JSON (or its stderr, if it ended instead)."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise AssertionError(proc.stderr.read()[-3000:] if proc.stderr else "no output")
    return json.loads(line)


def tell(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The process's last word, once it has exited cleanly and quietly."""
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_three_processes_share_the_accounts_three_slots(team: Team, watch: sd.Ledger) -> None:
    procs = [team.spawn(BATCH, f"p{i}", JOBS="8") for i in range(3)]
    for proc in procs:
        said(proc)
    tell(*procs)
    for proc in procs:
        assert finish(proc)["statuses"] == ["COMPLETED"] * 8

    stats = team.sim.stats()
    assert stats["responses"].get("429", 0) == 0, stats["responses"]  # the server never refused
    assert stats["counters"][CREATE] == stats["counters"]["tasks_created"] == 24
    assert stats["duplicate_payloads"] == 0
    done = watch.rows()
    assert len(done) == 24 and {r["status"] for r in done} == {"COMPLETED"}
    assert len({r["task_id"] for r in done}) == 24
    assert watch.spent() == stats["counters"]["credits_charged"] == 24 * 4 * 32
    assert watch.slots(done[0]["account"]) == {"leases": [], "waits": []}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_survivor_adopts_a_killed_studios_tasks_on_its_own(team: Team, watch: sd.Ledger) -> None:
    victim = team.spawn(STAY, "victim", JOBS="8")
    survivor = team.spawn(STAY, "survivor", JOBS="4")
    said(victim)
    heir = said(survivor)["owner"]
    tell(victim, survivor)
    said(victim)  # both batches are in the ledger
    said(survivor)

    def in_flight() -> list[dict[str, Any]]:
        return [r for r in watch.rows(experiment="victim") if r["status"] in SENT]

    def frozen_mid_batch() -> bool:
        """Stop the victim where it has tasks on the server, more queued, and nothing half
        sent (a row caught mid-send ends SEND_FAILED instead: it may or may not exist)."""
        if len(in_flight()) < 2:
            return False
        victim.send_signal(signal.SIGSTOP)
        everything = watch.rows()
        if (
            len(in_flight()) >= 2
            and not any(r["status"] == "SENDING" for r in everything)
            and any(r["status"] == "QUEUED" for r in everything if r["experiment"] == "victim")
        ):
            return True
        victim.send_signal(signal.SIGCONT)
        return False

    assert wait_until(frozen_mid_batch, timeout=30), "the victim never had two tasks in flight"
    left = {r["id"]: r for r in watch.rows(experiment="victim")}
    orphans = {i for i, r in left.items() if r["status"] in (*SENT, "DOWNLOADING")}
    victim.kill()
    victim.communicate(timeout=30)  # reaped: its pid is gone, so its heartbeat counts for nothing

    def adopted() -> bool:
        return all(r["status"] == "COMPLETED" for r in watch.rows() if r["id"] in orphans)

    assert wait_until(adopted, timeout=30), watch.rows(experiment="victim")
    tell(survivor)
    last = finish(survivor)  # it never called resume(): the engine adopted them on its own
    assert last["statuses"] == ["COMPLETED"] * 4 and last["adopted"] == len(orphans)

    for row in watch.rows(experiment="victim"):
        if row["id"] in orphans:  # carried on by the survivor, into its own outputs
            path = Path(row["local_path"])
            assert row["owner"] == heir and row["file_host"] == socket.gethostname()
            assert path.is_relative_to(team.work / "survivor") and verify_video(path) > 0
        elif left[row["id"]]["status"] == "QUEUED":  # never sent: left for resume()
            assert row["status"] == "QUEUED" and row["task_id"] is None
        else:  # saved by the victim before it died
            assert row["status"] == "COMPLETED" and row["owner"] != heir
            assert Path(row["local_path"]).is_relative_to(team.work / "victim")
    stats = team.sim.stats()
    sent = [r for r in watch.rows() if r["task_id"]]
    assert stats["counters"][CREATE] == stats["counters"]["tasks_created"] == len(sent)
    assert stats["duplicate_payloads"] == 0 and stats["responses"].get("429", 0) == 0


def test_a_single_job_goes_out_in_the_next_free_slot_despite_a_sweep(
    team: Team, watch: sd.Ledger
) -> None:
    alice = team.spawn(BATCH, "sweep", JOBS="20", SEEDANCE_USER="alice")
    bob = team.spawn(SINGLE, "single", SEEDANCE_USER="bob")
    said(alice)
    said(bob)
    tell(alice, bob)  # bob's studio is ready; its job waits for a second "go"
    account = account_id(team.sim.api_key, team.sim.base_url)

    def sweep_under_way() -> bool:
        sweep = watch.rows(experiment="sweep")
        return sum(r["task_id"] is not None for r in sweep) >= 3 and len(sweep) == 20

    assert wait_until(sweep_under_way, timeout=30)
    seen: list[set[int]] = []  # the rows granted a slot, in the order they were first seen

    def bob_granted() -> bool:
        leases = watch.slots(account)["leases"]
        new = {x["job_row"] for x in leases} - set().union(*seen)
        if new:
            seen.append(new)
        return any(x["user"] == "bob" for x in leases)

    tell(bob)
    assert wait_until(bob_granted, timeout=30)
    single = finish(bob)
    assert finish(alice)["statuses"] == ["COMPLETED"] * 20

    sweep = sorted(watch.rows(experiment="sweep"), key=lambda r: r["id"])
    bob_sent = watch.rows(experiment="single")[0]["sent_at"]
    # alice's jobs are granted in order; `cut` is the last that held a slot when bob asked
    cut = max(r for r in single["leases"] if r != single["row"])
    ahead = [row for found in seen[:-1] for row in found]  # granted before bob (ties aside)
    assert max(ahead) <= cut, (single, seen)  # the first slot freed after he asked was his
    # and he went out before the rest of alice's queue, but for jobs that took the account's
    # other two slots while his createTask was on its way
    later = [r for r in sweep if r["id"] > cut + 2]
    assert len(later) >= 10 and all(r["sent_at"] >= bob_sent for r in later)
    overtook = [r["id"] for r in sweep if r["id"] > cut and r["sent_at"] < bob_sent]
    assert len(overtook) <= 2, overtook
    assert team.sim.stats()["responses"].get("429", 0) == 0


def test_a_budget_shared_by_two_processes_is_never_exceeded(team: Team, watch: sd.Ledger) -> None:
    budget, cost = 1000, 4 * 32  # room for 7 jobs of 128 credits
    watch.set_budget("shared", budget)
    procs = [team.spawn(BUDGET, "shared", SEEDANCE_USER=f"u{i}") for i in range(2)]
    for proc in procs:
        said(proc)
    tell(*procs)
    outs = [finish(proc) for proc in procs]
    assert sum(o["accepted"] for o in outs) == budget // cost
    assert all(set(o["statuses"]) <= {"COMPLETED"} for o in outs)

    stats = team.sim.stats()
    assert watch.committed("shared") == watch.spent("shared") == 7 * cost <= budget
    assert watch.spent("shared") == stats["counters"]["credits_charged"]
    assert watch.remaining("shared") == budget - 7 * cost
    assert stats["duplicate_payloads"] == 0


def test_a_slot_freed_while_the_engine_asks_for_one_is_not_missed(
    start_sim: Callable[..., Any], make_studio: Callable[..., sd.Studio], monkeypatch
) -> None:
    """The wake-up of a release that lands while the engine's ask is on its way (its own task
    ending, typically) must not be overwritten by that ask's "no": the next ask is at once, not
    after SLOT_RETRY. Deterministic on SQLite, whose wake-ups are delivered in order."""
    monkeypatch.setattr(_engine, "SLOT_RETRY", 600.0)  # a missed wake-up waits this long
    studio = make_studio(start_sim(concurrency=3))
    ask = studio.ledger.acquire_slot
    asked: list[int] = []

    def racing(account: str, owner: Any, user: str, row: int, limit: int) -> bool:
        asked.append(row)
        if len(asked) == 1:  # refused, and a slot frees before the answer is read
            studio.ledger.announce(account)
            return False
        return ask(account, owner, user, row, limit)

    monkeypatch.setattr(studio.ledger, "acquire_slot", racing)
    job = studio.submit(sd.TextToVideo("raced for a slot", duration=4), model="seedance2-fast")
    assert job.result(timeout=30).status is sd.TaskStatus.COMPLETED
    assert len(asked) == 2 and studio.engine.stats["slot_waits"] == 0
