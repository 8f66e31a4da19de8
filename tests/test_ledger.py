"""The ledger: durable rows, pandas views with real dtypes, budgets, reconcile, two kernels."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import seedance_nb as sd
from seedance_nb.ledger import Ledger

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        yield ledger


def done(ledger, experiment="e", credits=200, seconds=30.0, **extra):
    row = ledger.log(
        experiment=experiment,
        model="seedance2",
        mode="text-to-video",
        estimated_credits=credits,
        status="QUEUED",
        **extra,
    )
    ledger.update(
        row,
        status="COMPLETED",
        credits_used=credits,
        sent_at=T0,
        completed_at=T0 + timedelta(seconds=seconds),
    )
    return row


def test_log_update_get_round_trip(ledger):
    row = ledger.log(
        experiment="beach",
        label="A",
        model="seedance2",
        mode="text-to-video",
        prompt="a dog",
        params='{"model": "seedance2"}',
        estimated_credits=200,
        status="QUEUED",
        fingerprint="f1",
        base_url="http://127.0.0.1:1/api/v1",
    )
    ledger.update(row, status="PENDING", task_id="task_1", sent_at=T0)
    got = ledger.get(row)
    assert got["status"] == "PENDING" and got["task_id"] == "task_1" and got["label"] == "A"
    assert got["sent_at"] == T0 and got["submitted_at"].tzinfo is not None
    with pytest.raises(KeyError):
        ledger.get(999)
    with pytest.raises(KeyError):
        ledger.update(999, status="FAILED")


@pytest.mark.parametrize("field", ["api_key", "authorization", "colour"])
def test_unknown_fields_and_credentials_are_refused(ledger, field):
    with pytest.raises(ValueError, match=field):
        ledger.log(experiment="e", **{field: "x"})


def test_naive_datetimes_are_refused(ledger):
    with pytest.raises(ValueError, match="timezone"):
        ledger.log(experiment="e", sent_at=datetime(2026, 1, 1))


def test_rows_find_and_unfinished(ledger):
    a = ledger.log(experiment="x", fingerprint="fp", status="QUEUED")
    ledger.log(experiment="y", fingerprint="fp", status="QUEUED")
    failed = ledger.log(experiment="x", fingerprint="fp2", status="FAILED")
    assert [r["id"] for r in ledger.rows(experiment="x")] == [a, failed]
    assert ledger.find("fp", "x")["id"] == a
    assert ledger.find("fp2", "x") is None  # a failed row is not reused
    assert ledger.find("fp", "z") is None
    assert {r["id"] for r in ledger.unfinished()} == {a, a + 1}


def test_df_has_real_dtypes_and_follows_changes(ledger):
    first = done(ledger, "beach", seconds=42)
    ledger.log(experiment="city", label="B", estimated_credits=160, status="QUEUED")
    df = ledger.df
    assert list(df.index) == [first, first + 1]
    assert (
        str(df["submitted_at"].dtype).startswith("datetime64")
        and str(df["completed_at"].dt.tz) == "UTC"
    )
    assert df["estimated_credits"].dtype == "int64"
    assert df["credits_used"].dtype == "Int64" and pd.isna(df.loc[first + 1, "credits_used"])
    for name in ("experiment", "label", "model", "mode", "status"):
        assert df[name].dtype == "category"
    assert df.loc[first, "render_seconds"] == 42
    ledger.update(first + 1, status="COMPLETED", credits_used=160)
    third = ledger.log(experiment="forest", estimated_credits=1, status="QUEUED")
    again = ledger.df
    assert again.loc[first + 1, "status"] == "COMPLETED" and third in again.index
    assert again["experiment"].dtype == "category" and len(again) == 3


def test_df_sees_rows_written_by_another_connection(ledger):
    assert ledger.df.empty  # fills the cache
    with Ledger(ledger.path) as other:
        row = other.log(experiment="other", status="QUEUED")
    assert row in ledger.df.index


def test_summary_spent_and_committed(ledger):
    done(ledger, "a", 200, 30)
    done(ledger, "a", 100, 10)
    ledger.log(experiment="a", estimated_credits=50, status="PENDING")
    ledger.log(experiment="b", estimated_credits=70, status="FAILED")
    summary = ledger.summary()
    assert summary.loc["a", "submissions"] == 3 and summary.loc["a", "completed"] == 2
    assert summary.loc["b", "failed"] == 1 and summary.loc["a", "estimated"] == 350
    assert summary.loc["a", "used"] == 300 and summary.loc["a", "mean_render_s"] == 20
    assert ledger.spent("a") == 300 and ledger.spent() == 300 and ledger.spent("b") == 0
    assert ledger.committed("a") == 350


def test_budgets(ledger):
    assert ledger.remaining("a") is None
    ledger.set_budget("a", 500)
    done(ledger, "a", 200)
    ledger.log(experiment="a", estimated_credits=200, status="QUEUED")
    assert ledger.remaining("a") == 100
    ledger.check_budget("a", 100)
    with pytest.raises(sd.BudgetExceededError) as info:
        ledger.check_budget("a", 160)
    assert info.value.remaining == 100 and "160" in str(info.value)
    ledger.set_budget("a", None)
    ledger.check_budget("a", 10**9)
    with pytest.raises(ValueError):
        ledger.set_budget("a", -1)


def test_reconcile_against_the_account(ledger):
    first = ledger.reconcile(sd.Credits(credits=5000, available=5000))
    assert first["ok"].all() and (first["ledger"] == 0).all()
    done(ledger, "a", 200)
    ledger.log(experiment="a", estimated_credits=160, status="PENDING")
    agreed = ledger.reconcile(sd.Credits(credits=4800, available=4640))
    assert agreed["ok"].all()
    assert agreed.loc["spent since baseline", "account"] == 200
    off = ledger.reconcile(sd.Credits(credits=4700, available=4540))
    assert not off.loc["spent since baseline", "ok"]
    assert off.loc["spent since baseline", "difference"] == 100


def test_reconcile_accepts_a_client(ledger, sim, client):
    assert ledger.reconcile(client)["ok"].all()


def test_votes(ledger):
    a, b, c = (done(ledger, "ab") for _ in range(3))
    ledger.vote("ab", a, [b, c])
    votes = ledger.votes("ab")
    assert list(votes["winner"]) == [a, a] and list(votes["loser"]) == [b, c]
    assert ledger.votes("other").empty


def test_plot_has_a_line_per_experiment(ledger):
    done(ledger, "a")
    done(ledger, "b")
    figure = ledger.plot()
    assert len(figure.axes[0].get_lines()) == 2


def test_exports_round_trip(ledger, tmp_path):
    done(ledger, "a")
    csv = pd.read_csv(ledger.to_csv(tmp_path / "l.csv"))
    assert csv.loc[0, "credits_used"] == 200
    parquet = pd.read_parquet(ledger.to_parquet(tmp_path / "l.parquet"))
    assert parquet["experiment"].dtype == "category" and len(parquet) == 1


WRITER = textwrap.dedent("""
    import sys
    from seedance_nb.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    for i in range(int(sys.argv[2])):
        row = ledger.log(experiment=sys.argv[3], status="QUEUED", estimated_credits=i)
        ledger.update(row, status="PENDING")
        print(row, flush=True)
""")


def test_two_processes_write_one_file_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    Ledger(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "150", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("kernel-a", "kernel-b")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    with Ledger(path) as ledger:
        assert len(ledger.rows(experiment="kernel-a")) == 150
        assert len(ledger.rows(experiment="kernel-b")) == 150
        assert len(ledger.rows(status="PENDING")) == 300


def test_kill_9_loses_no_returned_row(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "100000", "k"], stdout=subprocess.PIPE, text=True
    )
    returned = [int(proc.stdout.readline()) for _ in range(200)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    with sqlite3.connect(path) as db:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    with Ledger(path) as ledger:
        present = {r["id"] for r in ledger.rows(experiment="k")}
    assert set(returned) <= present
