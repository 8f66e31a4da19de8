"""Per-user budgets beside per-experiment ones, on SQLite and a real PostgreSQL: refused in the
insert's own transaction with a message naming the budget, what is left and who set it; calendar
periods by the database's clock; every change recorded; five processes at once never overspend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

import seedance_nb as sd
from seedance_nb.api._status import JobStatus
from seedance_nb.ledger import Ledger
from seedance_nb.ledger._budgets import period_start


def submit(ledger: Ledger, experiment: str, cost: int, user: str | None = "alice") -> int:
    return ledger.log(
        experiment=experiment, estimated_credits=cost, user_name=user, enforce_budget=True
    )


def test_a_user_budget_refuses_across_experiments_naming_itself(ledger, monkeypatch):
    monkeypatch.setenv("SEEDANCE_USER", "lab-lead")
    ledger.set_budget(user="alice", credits=500, period="month")
    submit(ledger, "beach", 200)
    submit(ledger, "forest", 200)
    submit(ledger, "forest", 900, user="bob")  # another user's rows do not count
    with pytest.raises(sd.BudgetExceededError) as refused:
        submit(ledger, "city", 200)
    text = str(refused.value)
    assert "monthly budget of 500 credits for user 'alice'" in text
    assert "set by lab-lead" in text and "100 credits left" in text and "cost 200" in text
    assert refused.value.remaining == 100 and refused.value.set_by == "lab-lead"
    assert ledger.count() == 3  # the refused row was never written
    assert ledger.remaining(user="alice") == 100
    submit(ledger, "city", 100)  # exactly what is left fits
    assert ledger.remaining(user="alice") == 0


def test_experiment_budgets_keep_working_and_either_budget_refuses(ledger):
    ledger.set_budget("beach", 300)
    ledger.set_budget(experiment="forest", credits=1000)
    ledger.set_budget(user="alice", credits=600)
    assert ledger.budget("beach") == 300 and ledger.budget(user="alice") == 600
    submit(ledger, "beach", 250)
    with pytest.raises(sd.BudgetExceededError, match="experiment 'beach'"):
        submit(ledger, "beach", 100)  # the user has room, the experiment has not
    submit(ledger, "forest", 350)
    with pytest.raises(sd.BudgetExceededError, match="user 'alice'"):
        submit(ledger, "forest", 100)  # the experiment has room, the user has not
    ledger.set_budget(user="alice", credits=None)  # removed
    submit(ledger, "forest", 100)
    assert ledger.remaining("beach") == 50 and ledger.remaining(user="alice") is None
    with pytest.raises(ValueError, match="one of the two"):
        ledger.set_budget("beach", 10, user="alice")
    with pytest.raises(ValueError, match="period"):
        ledger.set_budget(user="alice", credits=10, period="year")


def test_a_failed_row_frees_its_credits_and_a_period_counts_only_its_own_rows(ledger):
    ledger.set_budget(user="alice", credits=300, period="day")
    row = submit(ledger, "beach", 300)
    ledger.update(row, status=JobStatus.FAILED)  # nothing charged: the budget gets it back
    assert ledger.remaining(user="alice") == 300
    yesterday = ledger.clock() - timedelta(days=1, minutes=1)
    ledger.log(experiment="old", estimated_credits=999, user_name="alice", submitted_at=yesterday)
    assert ledger.remaining(user="alice") == 300  # yesterday's row is another day's
    ledger.set_budget(user="alice", credits=300, period=None)
    assert ledger.remaining(user="alice") == 300 - 999


def test_every_budget_change_is_recorded_with_its_author(ledger, monkeypatch):
    monkeypatch.setenv("SEEDANCE_USER", "carol")
    ledger.set_budget(user="alice", credits=5000, period="month")
    monkeypatch.setenv("SEEDANCE_USER", "dave")
    ledger.set_budget(user="alice", credits=2000, period="week")
    ledger.set_budget("beach", 100)
    ledger.set_budget("beach", None)
    history = ledger.budget_history()
    assert list(history["set_by"]) == ["carol", "dave", "dave", "dave"]
    assert list(history["credits"].astype("object").where(history["credits"].notna(), None)) == [
        5000,
        2000,
        100,
        None,
    ]
    assert list(history["period"].fillna("-")) == ["month", "week", "-", "-"]
    assert (history["at"] <= ledger.clock() + timedelta(seconds=1)).all()
    assert ledger.budget(user="alice") == 2000


def test_calendar_periods_start_in_utc():
    now = datetime(2026, 3, 5, 1, 30, tzinfo=timezone(timedelta(hours=5)))  # 4 March, UTC
    assert period_start(now, "day") == datetime(2026, 3, 4, tzinfo=timezone.utc)
    assert period_start(now, "week") == datetime(2026, 3, 2, tzinfo=timezone.utc)  # Monday
    assert period_start(now, "month") == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert period_start(now, None) is None


SUBMITTER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import seedance_nb as sd
    from seedance_nb.ledger import Ledger

    ledger = Ledger(sys.argv[1])
    go = Path(sys.argv[2])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    accepted, refusals = 0, []
    for i in range(12):
        try:
            ledger.log(experiment=f"exp-{os.getpid()}-{i}", estimated_credits=128,
                       user_name="alice", enforce_budget=True)
            accepted += 1
        except sd.BudgetExceededError as exc:
            refusals.append(str(exc))
    print(json.dumps({"accepted": accepted, "refusals": refusals}), flush=True)
    """
)


def test_five_processes_never_overspend_one_user_budget_on_postgresql(pg_url, tmp_path):
    budget, cost = 2000, 128  # room for 15 of the 60 rows asked for
    with Ledger(pg_url) as ledger:
        ledger.set_budget(user="alice", credits=budget, period="month")
        go = tmp_path / "go"
        env = {**os.environ, "SEEDANCE_USER": "lab-lead"}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SUBMITTER, pg_url, str(go)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(5)
        ]
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        go.touch()  # all five start at once
        outs = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            outs.append(json.loads(out))
        assert sum(o["accepted"] for o in outs) == budget // cost
        refusals = [r for o in outs for r in o["refusals"]]
        assert len(refusals) == 5 * 12 - budget // cost
        assert all("monthly budget of 2000 credits for user 'alice'" in r for r in refusals)
        assert all("set by" in r and "credits left" in r for r in refusals)
        assert ledger.committed() == (budget // cost) * cost <= budget
        assert ledger.remaining(user="alice") == budget - (budget // cost) * cost
