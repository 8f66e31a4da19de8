"""Both ledger backends, SQLite and a real PostgreSQL, behave the same through `Ledger`: the same
rows, DataFrames (columns, dtypes, values), budgets, votes, reconcile and exports; and the team
guarantees hold across processes (a shared budget, one row per request)."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import seedance_nb as sd
from seedance_nb.ledger import Ledger, Owner, _cache

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SIM = "http://127.0.0.1:8765/api/v1"
HOSTED = "https://seedance2-ai.ai/api/v1"


def done(ledger, experiment="e", credits=200, seconds=30.0, **extra):
    """A row that went all the way: queued at T0, sent at T0, completed `seconds` later."""
    extra.setdefault("submitted_at", T0)
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


def cold(target):
    """`.df_full` as a new kernel sees it (no cache carried over)."""
    with Ledger(target) as fresh:
        return fresh.df_full


def history(ledger, seed=4, steps=300):
    """A random mix of inserts and updates (the same for the same seed), all times explicit."""
    rng = random.Random(seed)
    ids: list[int] = []
    for step in range(steps):
        if not ids or rng.random() < 0.4:
            ids.append(
                ledger.log(
                    experiment=rng.choice("abc"),
                    label=rng.choice(["A", "B", None]),
                    prompt=rng.choice(["a kite", 'a "quoted", comma', "ünïcode ✓", None]),
                    params={"model": "seedance2", "inputs": {"prompt": f"p{step}"}},
                    estimated_credits=rng.randrange(500),
                    submitted_at=T0 + timedelta(milliseconds=rng.randrange(10**7)),
                    fingerprint=f"{rng.randrange(20):032x}",
                    base_url=rng.choice([SIM, HOSTED]),
                )
            )
        else:
            ledger.update(
                rng.choice(ids),
                label=rng.choice(["A", "B", "C", f"only-{step}", None]),
                experiment=rng.choice("abcd"),
                status=rng.choice(["PENDING", "PROCESSING", "COMPLETED", "FAILED", "UNKNOWN"]),
                credits_used=rng.choice([None, rng.randrange(500)]),
                sent_at=T0 + timedelta(milliseconds=rng.randrange(1000)),
                completed_at=T0 + timedelta(seconds=rng.randrange(100), milliseconds=7),
                task_id=f"task_{step}",
            )
    return ids


# ---- the same history gives the same frames -----------------------------------------------------
def test_sqlite_and_postgres_give_equal_frames_for_the_same_history(tmp_path, pg_url):
    with Ledger(tmp_path / "l.sqlite") as lite, Ledger(pg_url) as team:
        for ledger in (lite, team):
            history(ledger)
            a, b, c = done(ledger, "votes"), done(ledger, "votes"), done(ledger, "votes")
            ledger.vote("votes", a, [b, c])
            ledger.vote("votes", c, [b])
            ledger.set_budget("a", 10_000)
        assert lite.backend == "sqlite" and team.backend == "postgresql"
        pd.testing.assert_frame_equal(lite.df_full, team.df_full)
        pd.testing.assert_frame_equal(lite.df, team.df)
        pd.testing.assert_frame_equal(lite.summary(), team.summary())
        pd.testing.assert_frame_equal(
            lite.summary(["experiment", "label"]), team.summary(["experiment", "label"])
        )
        lv, tv = lite.votes(), team.votes()
        pd.testing.assert_frame_equal(lv.drop(columns="at"), tv.drop(columns="at"))
        assert lv["at"].dtype == tv["at"].dtype == "datetime64[ns, UTC]"
        for base_url in (None, SIM, HOSTED):
            assert lite.spent(base_url=base_url) == team.spent(base_url=base_url)
            assert lite.committed(base_url=base_url) == team.committed(base_url=base_url)
        assert lite.remaining("a") == team.remaining("a")
        for ledger in (lite, team):
            ledger.reconcile(SimpleNamespace(credits=9000, available=9000), base_url=HOSTED)
        balance = SimpleNamespace(credits=8000, available=7500)
        pd.testing.assert_frame_equal(
            lite.reconcile(balance, base_url=HOSTED), team.reconcile(balance, base_url=HOSTED)
        )
        lite.to_parquet(tmp_path / "lite.parquet")
        team.to_parquet(tmp_path / "team.parquet")
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "lite.parquet"), pd.read_parquet(tmp_path / "team.parquet")
        )
        lite.to_csv(tmp_path / "lite.csv")
        team.to_csv(tmp_path / "team.csv")
        assert (tmp_path / "lite.csv").read_text() == (tmp_path / "team.csv").read_text()
    pd.testing.assert_frame_equal(cold(tmp_path / "l.sqlite"), cold(pg_url))


# ---- every method, on both ----------------------------------------------------------------------
def test_log_update_get_round_trip(ledger):
    before = datetime.now(timezone.utc)
    row = ledger.log(experiment="beach", label="A", prompt="a dog", estimated_credits=200)
    assert isinstance(row, int) and ledger.log(experiment="beach") == row + 1 and len(ledger) == 2
    got = ledger.get(row)
    assert got["status"] == "QUEUED" and got["credits_used"] is None and "rev" not in got
    assert before - timedelta(seconds=1) <= got["submitted_at"] <= datetime.now(timezone.utc)
    sent = T0 + timedelta(milliseconds=123)
    ledger.update(row, status="PENDING", task_id="task_1", sent_at=sent)
    got = ledger.get(row)
    assert got["sent_at"] == sent and got["task_id"] == "task_1" and got["label"] == "A"
    ledger.update(row, completed_at="2026-11-24T12:01:00Z", local_path=Path("/v/1.mp4"))
    assert ledger.get(row)["completed_at"] == T0 + timedelta(minutes=1)
    assert ledger.get(row)["local_path"] == "/v/1.mp4"
    ledger.update(row)  # nothing to change is fine
    with pytest.raises(KeyError):
        ledger.get(999)
    with pytest.raises(KeyError):
        ledger.update(999, status="FAILED")
    with pytest.raises(ValueError, match="api_key"):
        ledger.log(experiment="e", api_key="x")
    with pytest.raises(ValueError, match="status"):
        ledger.update(row, status="DONE")
    with pytest.raises(ValueError, match="experiment"):
        ledger.log(label="x")


def test_rows_find_and_unfinished(ledger):
    a = ledger.log(experiment="x", fingerprint="fp", status="QUEUED")
    b = ledger.log(experiment="y", fingerprint="fp", status="PROCESSING")
    failed = ledger.log(experiment="x", fingerprint="fp2", status="FAILED")
    c = done(ledger, "x", fingerprint="fp")
    assert [r["id"] for r in ledger.rows(experiment="x")] == [a, failed, c]
    assert [r["id"] for r in ledger.rows(experiment="x", fingerprint="fp")] == [a, c]
    assert [r["id"] for r in ledger.rows(status=["QUEUED", "FAILED"])] == [a, failed]
    assert [r["id"] for r in ledger.rows(label=None, id=b)] == [b]
    assert [r["id"] for r in ledger.rows(id=[a, b])] == [a, b]
    assert [r["id"] for r in ledger.rows(submitted_at=T0)] == [c]
    assert ledger.rows(status=[]) == []
    assert len(ledger.rows()) == 4
    assert ledger.find("fp", "x")["id"] == c
    assert ledger.find("fp2", "x") is None and ledger.find("fp", "z") is None
    assert [r["id"] for r in ledger.unfinished()] == [a, b]


def test_df_follows_random_changes_exactly(ledger, target):
    rng = random.Random(9)
    ids = history(ledger, seed=9, steps=60)
    for _ in range(5):
        ledger.update(rng.choice(ids), status="CANCELLED", label=None)
        ledger.log(experiment="late", status="QUEUED")
        pd.testing.assert_frame_equal(ledger.df_full, cold(target))
    df = ledger.df_full
    for name in ("submitted_at", "sent_at", "completed_at"):
        assert df[name].dtype == "datetime64[ns, UTC]"
    assert df["estimated_credits"].dtype == "int64" and df["credits_used"].dtype == "Int64"
    assert isinstance(df["status"].dtype, pd.CategoricalDtype)


def test_df_sees_rows_written_by_another_connection(ledger, target):
    assert ledger.df.empty
    with Ledger(target) as other:
        row = other.log(experiment="other", status="QUEUED")
        assert row in ledger.df.index
        other.update(row, status="CANCELLED")
    assert ledger.df.loc[row, "status"] == "CANCELLED"


def test_a_snapshot_speeds_the_next_kernel_and_stays_exact(target, monkeypatch):
    monkeypatch.setattr(_cache, "SNAPSHOT_ROWS", 10)
    with Ledger(target) as ledger:
        ids = [done(ledger, f"e{i % 3}", credits=i, label="AB"[i % 2]) for i in range(30)]
        ledger.df  # noqa: B018 - 30 rows read one by one: stores a snapshot
    with Ledger(target) as ledger:
        ledger.update(ids[0], status="FAILED", error="boom")
        ledger.log(experiment="late", status="QUEUED", label="C")
    from seedance_nb.ledger import _frame

    loaded = []
    real = _frame.decode
    monkeypatch.setattr(_frame, "decode", lambda blob: loaded.append(1) or real(blob))
    with Ledger(target) as fresh:
        df = fresh.df_full
        assert loaded == [1]  # came from the snapshot
        assert df.loc[ids[0], "status"] == "FAILED" and "late" in set(df["experiment"])
        assert len(df) == 31


def test_summary_spent_committed_and_budgets(ledger, target):
    done(ledger, "a", 200, 30, label="A")
    done(ledger, "a", 100, 10, label="B")
    ledger.log(experiment="a", estimated_credits=50, status="PENDING", label="A")
    ledger.log(experiment="b", estimated_credits=70, status="FAILED")
    summary = ledger.summary()
    assert summary.loc["a"].to_dict() == {
        "count": 3,
        "completed": 2,
        "failed": 0,
        "in_flight": 1,
        "estimated": 350,
        "used": 300,
        "mean_render_s": 20.0,
        "lost": 0,
    }
    assert ledger.spent("a") == 300 and ledger.committed("a") == 350 and ledger.committed("b") == 0
    assert ledger.budget("a") is None and ledger.remaining("a") is None
    ledger.set_budget("a", 500)
    assert ledger.remaining("a") == 150
    with pytest.raises(sd.BudgetExceededError) as info:
        ledger.check_budget("a", 160)
    assert info.value.remaining == 150
    with Ledger(target) as other:  # budgets live in the store
        assert other.budget("a") == 500
    ledger.set_budget("a", None)
    assert ledger.budget("a") is None
    with pytest.raises(ValueError):
        ledger.set_budget("a", -1)


def test_log_enforces_the_budget_in_its_own_transaction(ledger):
    ledger.set_budget("a", 300)
    ledger.log(experiment="a", estimated_credits=200, enforce_budget=True)
    with pytest.raises(sd.BudgetExceededError) as info:
        ledger.log(experiment="a", estimated_credits=200, enforce_budget=True)
    assert info.value.remaining == 100 and len(ledger) == 1
    ledger.log(experiment="a", estimated_credits=200, status="FAILED", enforce_budget=True)
    ledger.log(experiment="no-budget", estimated_credits=10**6, enforce_budget=True)


def test_enforced_budgets_hold_under_threads(ledger):
    ledger.set_budget("a", 1000)
    refused = []

    def submit():
        try:
            ledger.log(experiment="a", estimated_credits=100, enforce_budget=True)
        except sd.BudgetExceededError:
            refused.append(1)

    threads = [threading.Thread(target=submit) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ledger) == 10 and len(refused) == 15 and ledger.remaining("a") == 0


def test_reconcile(ledger):
    first = ledger.reconcile(SimpleNamespace(credits=5000, available=5000))
    assert first["ok"].all() and first.attrs["baseline_at"].tzinfo is not None
    done(ledger, "a", 200)
    ledger.log(experiment="a", estimated_credits=160, status="PENDING")
    agreed = ledger.reconcile(sd.Credits(credits=4800, available=4640))
    assert agreed["ok"].all() and agreed.loc["reserved", "ledger"] == 160
    off = ledger.reconcile(sd.Credits(credits=4700, available=4540))
    assert off.loc["spent", "difference"] == 100
    ledger.set_baseline(sd.Credits(credits=4700, available=4540))
    assert ledger.reconcile(sd.Credits(credits=4700, available=4540))["ok"].all()
    assert ledger.reconcile(sd.Credits(credits=1, available=1), base_url=HOSTED)["ok"].all()


def test_votes(ledger):
    a, b, c = (done(ledger, "ab") for _ in range(3))
    ledger.vote("ab", a, [b, c])
    ledger.vote("ab", b, [c])
    votes = ledger.votes("ab")
    assert list(votes.columns) == ["experiment", "ballot", "winner", "loser", "at"]
    assert list(votes["winner"]) == [a, a, b] and list(votes["ballot"]) == [1, 1, 2]
    assert votes["at"].dtype == "datetime64[ns, UTC]" and ledger.votes("other").empty
    with pytest.raises(KeyError):
        ledger.vote("ab", a, [999])
    with pytest.raises(ValueError):
        ledger.vote("ab", a, [a])
    ledger.retract_vote(1)
    assert list(ledger.votes()["ballot"]) == [2]
    with pytest.raises(KeyError):
        ledger.retract_vote(1)


def test_owners_claim_move_and_log_once(ledger, target):
    mine, theirs = Owner.new(), Owner("another-host/1/x", "another-host", 1)
    ledger.register(mine)
    ledger.register(theirs)
    assert ledger.owner_alive(mine.id) and ledger.owner_alive(theirs.id)
    assert not ledger.owner_alive(None) and not ledger.owner_alive("nobody")
    row, earlier = ledger.log_once(experiment="e", fingerprint="f", owner=theirs.id)
    assert earlier is None
    again, earlier = ledger.log_once(experiment="e", fingerprint="f")
    assert again == row and earlier["id"] == row
    forced, earlier = ledger.log_once(experiment="e", fingerprint="f", force=True)
    assert forced != row and earlier is None
    assert ledger.claim(row, mine) is None  # its owner lives
    assert row not in [r["id"] for r in ledger.claimable(mine)]
    assert not ledger.move(row, mine, "QUEUED", status="SENDING")
    assert ledger.move(row, theirs, "QUEUED", status="SENDING")
    ledger.retire(theirs)
    assert not ledger.owner_alive(theirs.id)
    assert row in [r["id"] for r in ledger.claimable(mine)]
    claimed = ledger.claim(row, mine)
    assert claimed["owner"] == mine.id and claimed["status"] == "SENDING"
    ledger.update(row, status="DOWNLOAD_FAILED")
    assert ledger.claim(row, theirs)["status"] == "DOWNLOADING"  # final rows: anyone
    with pytest.raises(KeyError):
        ledger.claim(999, mine)
    ledger.beat(theirs)  # re-registers
    assert ledger.owner_alive(theirs.id)
    ledger.set_budget("tight", 100)
    ledger.log_once(experiment="tight", fingerprint="g", estimated_credits=100, enforce_budget=True)
    with pytest.raises(sd.BudgetExceededError):
        ledger.log_once(
            experiment="tight", fingerprint="h", estimated_credits=1, enforce_budget=True
        )
    _, reused = ledger.log_once(
        experiment="tight", fingerprint="g", estimated_credits=100, enforce_budget=True
    )
    assert reused is not None  # the same request is reused, not refused


def test_the_api_key_never_lands_in_the_store(ledger, monkeypatch):
    key = "sk-live-0123456789abcdef"
    monkeypatch.setenv("SEEDANCE_API_KEY", key)
    row = ledger.log(experiment="e")
    ledger.update(row, status="FAILED", error=f"401 for key {key}")
    assert ledger.get(row)["error"] == "401 for key ***"
    with pytest.raises(ValueError, match="credentials"):
        ledger.update(row, params={"model": "m", "inputs": {"prompt": key}})


def test_exports_round_trip(ledger, tmp_path):
    done(ledger, "a", label="A", prompt='a "quoted", comma')
    ledger.log(experiment="b", status="QUEUED", estimated_credits=40)
    df = ledger.df_full
    pd.testing.assert_frame_equal(pd.read_parquet(ledger.to_parquet(tmp_path / "l.parquet")), df)
    csv = pd.read_csv(ledger.to_csv(tmp_path / "l.csv"), index_col="id")
    assert list(csv.index) == list(df.index) and csv.iloc[0]["prompt"] == 'a "quoted", comma'


def test_repr_never_shows_a_password(pg_url):
    from seedance_nb.ledger._postgres import redact

    assert redact("postgresql://bob:s3cret@db:5432/lab?password=x&sslmode=require") == (
        "postgresql://bob@db:5432/lab?sslmode=require"
    )
    with Ledger(pg_url) as ledger:
        assert repr(ledger).startswith("Ledger('postgresql://") and ledger.backend == "postgresql"
    with pytest.raises(sd.LedgerError, match="cannot connect") as info:
        Ledger("postgresql://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(info.value)


# ---- schema versions ----------------------------------------------------------------------------
def test_studios_opening_a_new_database_at_once_create_it_once(pg_url):
    code = "import sys; from seedance_nb.ledger import Ledger; Ledger(sys.argv[1]).close()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, pg_url], stderr=subprocess.PIPE, cwd=ROOT)
        for _ in range(3)
    ]
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors


# ---- across processes ---------------------------------------------------------------------------
# waits for "go" on stdin, so every child starts at the same moment
SPENDER = textwrap.dedent("""
    import sys
    import seedance_nb as sd
    from seedance_nb.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    written = 0
    for i in range(40):
        try:
            ledger.log(experiment="shared", estimated_credits=30, enforce_budget=True)
            written += 1
        except sd.BudgetExceededError:
            pass
    ledger.close()
    print(written, flush=True)
""")

ONCE = textwrap.dedent("""
    import sys
    from seedance_nb.ledger import Ledger
    ledger = Ledger(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(4):
        row, earlier = ledger.log_once(
            experiment="same", fingerprint=f"fp{i}", estimated_credits=100, status="QUEUED"
        )
        print(row, earlier is None, flush=True)
    ledger.close()
""")


def race(code: str, target: str, count: int = 2) -> list[str]:
    """Run `count` copies of `code` against `target` from the same moment; their stdouts."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = [proc.communicate(timeout=120) for proc in procs]
    assert [p.returncode for p in procs] == [0] * count, [err for _, err in outs]
    return [out for out, _ in outs]


def test_a_budget_shared_by_two_processes_is_never_exceeded(target):
    with Ledger(target) as ledger:
        ledger.set_budget("shared", 1000)
    written = [int(out) for out in race(SPENDER, target)]
    with Ledger(target) as ledger:
        assert sum(written) == len(ledger) == 1000 // 30  # 33 rows: 990 credits
        assert ledger.committed("shared") == 990 and ledger.remaining("shared") == 10


def test_two_processes_logging_the_same_requests_at_once_write_one_row_each(target):
    outs = race(ONCE, target)
    lines = [[line.split() for line in out.splitlines()] for out in outs]
    with Ledger(target) as ledger:
        assert len(ledger) == 4
        assert sorted(r["fingerprint"] for r in ledger.rows()) == [f"fp{i}" for i in range(4)]
    for i in range(4):
        (row_a, new_a), (row_b, new_b) = lines[0][i], lines[1][i]
        assert row_a == row_b and {new_a, new_b} == {"True", "False"}
