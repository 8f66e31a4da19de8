"""The ledger: durable rows, pandas views with real dtypes, budgets, reconcile, votes, threads."""

from __future__ import annotations

import enum
import random
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pandas as pd
import pytest
from matplotlib.figure import Figure

import seedance_nb as sd
from seedance_nb.ledger import Ledger, _cache, _frame
from seedance_nb.ledger._cache import NAMES
from seedance_nb.ledger._schema import SELECT

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SIM = "http://127.0.0.1:8765/api/v1"
HOSTED = "https://seedance2-ai.ai/api/v1"


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        yield ledger


def done(ledger, experiment="e", credits=200, seconds=30.0, **extra):
    """A row that went all the way: queued, sent at T0, completed `seconds` later."""
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


def full_load(path):
    """The frame built straight from every row, bypassing caches and snapshots."""
    with sqlite3.connect(path) as db:
        rows = db.execute(f"SELECT {SELECT} FROM submissions ORDER BY id").fetchall()
    return _frame.build(NAMES, rows)


# ---- import, open, close ------------------------------------------------------------------------
def test_import_stays_light():
    code = (
        "import sys, seedance_nb.ledger; "
        "bad = [m for m in ('pandas', 'matplotlib', 'numpy', 'ipywidgets', 'anywidget') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_open_close_and_reopen(tmp_path):
    path = tmp_path / "sub" / "l.sqlite"
    with Ledger(path) as ledger:
        assert ledger.path == path and repr(ledger) == f"Ledger({str(path)!r})"
        row = ledger.log(experiment="e")
    ledger.close()  # idempotent
    with Ledger(path) as again:
        assert again.get(row)["experiment"] == "e" and len(again) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sd.Ledger is Ledger
    with pytest.raises(ValueError, match="file"):
        Ledger(":memory:")


def test_an_older_file_gains_the_new_tables_and_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE submissions (id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, "
            "status TEXT NOT NULL DEFAULT 'QUEUED', estimated_credits INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute("INSERT INTO submissions (experiment) VALUES ('old')")
        db.execute(
            "CREATE TABLE baselines (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, "
            "credits INTEGER NOT NULL, available INTEGER NOT NULL, ledger_spent INTEGER NOT NULL)"
        )
    with Ledger(path) as ledger:
        assert ledger.get(1)["fingerprint"] is None
        assert list(ledger.df["experiment"]) == ["old"]
        ledger.reconcile(SimpleNamespace(credits=10, available=10))
        ledger.update(1, status="COMPLETED", credits_used=5)
        assert ledger.df.loc[1, "credits_used"] == 5


# ---- writing ------------------------------------------------------------------------------------
def test_log_update_get_round_trip(ledger):
    before = datetime.now(timezone.utc)
    row = ledger.log(
        experiment="beach",
        label="A",
        model="seedance2",
        mode="text-to-video",
        prompt="a dog",
        params='{"model": "seedance2", "inputs": {"prompt": "a dog"}}',
        estimated_credits=200,
        fingerprint="f1",
        base_url=SIM,
    )
    assert isinstance(row, int) and ledger.log(experiment="beach") == row + 1
    got = ledger.get(row)
    assert got["status"] == "QUEUED" and got["credits_used"] is None
    assert before - timedelta(seconds=1) <= got["submitted_at"] <= datetime.now(timezone.utc)
    assert got["submitted_at"].tzinfo is not None and "rev" not in got
    sent = T0 + timedelta(milliseconds=123)
    ledger.update(row, status="PENDING", task_id="task_1", sent_at=sent)
    got = ledger.get(row)
    assert got["status"] == "PENDING" and got["task_id"] == "task_1" and got["label"] == "A"
    assert got["sent_at"] == sent  # exact to the millisecond
    ledger.update(row, completed_at="2026-11-24T12:01:00Z", local_path=ledger.path)
    assert ledger.get(row)["completed_at"] == T0 + timedelta(minutes=1)
    ledger.update(row)  # nothing to change is fine
    with pytest.raises(KeyError):
        ledger.get(999)
    with pytest.raises(KeyError):
        ledger.update(999, status="FAILED")


@pytest.mark.parametrize(
    "field", ["api_key", "authorization", "Authorization", "apiKey", "colour", "rev", "id"]
)
def test_unknown_fields_and_credentials_are_refused(ledger, field):
    with pytest.raises(ValueError, match=field):
        ledger.log(experiment="e", **{field: "x"})
    row = ledger.log(experiment="e")
    with pytest.raises(ValueError, match=field):
        ledger.update(row, **{field: "x"})


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"sent_at": datetime(2026, 1, 1)}, "timezone"),
        ({"sent_at": 1_700_000_000_000}, "datetime"),
        ({"sent_at": "yesterday"}, "ISO"),
        ({"status": "DONE"}, "status"),
        ({"estimated_credits": 2.5}, "estimated_credits"),
        ({"credits_used": "many"}, "credits_used"),
        ({"prompt": 5}, "prompt"),
        ({"params": "{not json"}, "params"),
        ({"params": {"model": "x", "headers": {"Authorization": "Bearer k"}}}, "Authorization"),
        ({"params": {"model": "x", "api_key": "k"}}, "api_key"),
    ],
)
def test_bad_values_are_refused(ledger, fields, match):
    with pytest.raises(ValueError, match=match):
        ledger.log(experiment="e", **fields)
    assert len(ledger) == 0


def test_a_row_needs_an_experiment(ledger):
    with pytest.raises(ValueError, match="experiment"):
        ledger.log(label="x")


def test_params_and_enums_are_stored_as_text(ledger):
    class Status(str, enum.Enum):
        PENDING = "PENDING"

    payload = {"model": "seedance2", "inputs": {"prompt": "p", "duration": "5s"}}
    row = ledger.log(experiment="e", params=payload, status=Status.PENDING, estimated_credits=7.0)
    got = ledger.get(row)
    assert got["params"] == '{"model": "seedance2", "inputs": {"prompt": "p", "duration": "5s"}}'
    assert got["status"] == "PENDING" and got["estimated_credits"] == 7


def test_the_api_key_never_lands_in_the_file(ledger, monkeypatch):
    key = "sk-live-0123456789abcdef"
    monkeypatch.setenv("SEEDANCE_API_KEY", key)
    row = ledger.log(experiment="e")
    ledger.update(row, status="FAILED", error=f"401 for key {key}")
    assert ledger.get(row)["error"] == "401 for key ***"
    with pytest.raises(ValueError, match="credentials"):
        ledger.update(row, params={"model": "m", "inputs": {"prompt": key}})
    ledger.close()
    assert key.encode() not in ledger.path.read_bytes()


# ---- reading rows -------------------------------------------------------------------------------
def test_rows_find_and_unfinished(ledger):
    a = ledger.log(experiment="x", fingerprint="fp", status="QUEUED")
    b = ledger.log(experiment="y", fingerprint="fp", status="PROCESSING")
    failed = ledger.log(experiment="x", fingerprint="fp2", status="FAILED")
    c = done(ledger, "x", fingerprint="fp")
    assert [r["id"] for r in ledger.rows(experiment="x")] == [a, failed, c]
    assert [r["id"] for r in ledger.rows(experiment="x", fingerprint="fp")] == [a, c]
    assert [r["id"] for r in ledger.rows(status=["QUEUED", "FAILED"])] == [a, failed]
    assert [r["id"] for r in ledger.rows(label=None, id=b)] == [b]
    assert len(ledger.rows()) == 4
    assert ledger.find("fp", "x")["id"] == c  # the latest reusable one
    assert ledger.find("fp2", "x") is None  # a failed row is not reused
    assert ledger.find("fp", "z") is None
    assert [r["id"] for r in ledger.unfinished()] == [a, b]
    for status in ("CANCELLED", "SEND_FAILED", "COMPLETED"):
        ledger.update(a, status=status)
        assert a not in [r["id"] for r in ledger.unfinished()]
    with pytest.raises(ValueError, match="status"):
        ledger.rows(status="NOPE")


# ---- pandas views -------------------------------------------------------------------------------
def test_df_has_real_dtypes_and_follows_changes(ledger):
    first = done(ledger, "beach", seconds=42)
    ledger.log(experiment="city", label="B", estimated_credits=160, status="QUEUED")
    df = ledger.df_full
    assert list(df.index) == [first, first + 1] and df.index.name == "id"
    for name in ("submitted_at", "sent_at", "completed_at"):
        assert df[name].dtype == "datetime64[ns, UTC]"
    assert df["estimated_credits"].dtype == "int64"
    assert df["credits_used"].dtype == "Int64" and pd.isna(df.loc[first + 1, "credits_used"])
    for name in ("experiment", "label", "model", "mode", "status"):
        assert isinstance(df[name].dtype, pd.CategoricalDtype), name
    assert list(df["status"].cat.categories[:6]) == [
        "QUEUED",
        "SENDING",
        "PENDING",
        "PROCESSING",
        "DOWNLOADING",
        "COMPLETED",
    ]
    assert df.loc[first, "render_seconds"] == 42 and pd.isna(df.loc[first + 1, "render_seconds"])
    assert "rev" not in df.columns
    ledger.update(first + 1, status="COMPLETED", credits_used=160)
    third = ledger.log(experiment="forest", estimated_credits=1, status="QUEUED")
    again = ledger.df_full
    assert again.loc[first + 1, "status"] == "COMPLETED" and third in again.index
    assert again["experiment"].dtype == "category" and len(again) == 3
    pd.testing.assert_frame_equal(again, full_load(ledger.path))


def test_df_follows_random_changes_exactly(ledger):
    rng = random.Random(4)
    ids: list[int] = []
    for step in range(300):
        if not ids or rng.random() < 0.4:
            ids.append(
                ledger.log(
                    experiment=rng.choice("abc"),
                    label=rng.choice(["A", "B", None]),
                    estimated_credits=rng.randrange(500),
                )
            )
        else:
            ledger.update(
                rng.choice(ids),
                label=rng.choice(["A", "B", "C", f"only-{step}", None]),
                experiment=rng.choice("abcd"),
                status=rng.choice(["PENDING", "COMPLETED", "FAILED"]),
                credits_used=rng.choice([None, rng.randrange(500)]),
                sent_at=T0,
                completed_at=T0 + timedelta(seconds=rng.randrange(100)),
            )
        if rng.random() < 0.2:
            pd.testing.assert_frame_equal(ledger.df_full, full_load(ledger.path))
    pd.testing.assert_frame_equal(ledger.df_full, full_load(ledger.path))


def test_df_shows_the_columns_people_read_first_and_df_full_has_the_rest(ledger):
    row = done(ledger, "beach", label="A", prompt="a kite", fingerprint="f" * 16)
    df, full = ledger.df, ledger.df_full
    assert list(df.columns) == [
        "experiment",
        "label",
        "status",
        "mode",
        "model",
        "prompt",
        "estimated_credits",
        "credits_used",
        "render_seconds",
        "submitted_at",
        "local_path",
    ]
    assert df.index.name == "id" and list(df.index) == [row]
    assert {"params", "fingerprint", "owner", "task_id", "sent_at"} <= set(full.columns)
    assert "fingerprint" not in df and full.loc[row, "fingerprint"] == "f" * 16
    pd.testing.assert_frame_equal(df, full[df.columns])  # the same dtypes, the same values
    df.loc[row, "prompt"] = "changed"
    assert ledger.df.loc[row, "prompt"] == "a kite"  # a copy, like df_full


def test_df_is_a_copy(ledger):
    done(ledger)
    df = ledger.df
    df.loc[df.index[0], "credits_used"] = 999
    df["extra"] = 1
    assert ledger.df.iloc[0]["credits_used"] == 200 and "extra" not in ledger.df


def test_df_of_an_empty_ledger_has_the_columns_and_dtypes(ledger):
    df = ledger.df_full
    assert df.empty and df.index.name == "id"
    assert df["completed_at"].dtype == "datetime64[ns, UTC]" and "render_seconds" in df
    assert ledger.summary().empty and ledger.votes().empty


def test_df_sees_rows_written_by_another_connection(ledger):
    assert ledger.df.empty  # fills the cache
    with Ledger(ledger.path) as other:
        row = other.log(experiment="other", status="QUEUED")
        assert row in ledger.df.index
        other.update(row, status="CANCELLED")
    assert ledger.df.loc[row, "status"] == "CANCELLED"


def test_df_sees_plain_sql_edits(ledger):
    rows = [done(ledger, "a") for _ in range(3)]
    ledger.df  # noqa: B018 - fills the cache
    with sqlite3.connect(ledger.path) as db:
        db.execute("UPDATE submissions SET label = 'by hand' WHERE id = ?", (rows[0],))
        db.execute("INSERT INTO submissions (experiment, status) VALUES ('raw', 'QUEUED')")
    df = ledger.df
    assert df.loc[rows[0], "label"] == "by hand" and "raw" in set(df["experiment"])
    with sqlite3.connect(ledger.path) as db:
        db.execute("DELETE FROM submissions WHERE id = ?", (rows[1],))
    assert rows[1] not in ledger.df.index
    pd.testing.assert_frame_equal(ledger.df_full, full_load(ledger.path))


def test_a_snapshot_in_the_file_speeds_the_next_kernel_and_stays_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "SNAPSHOT_ROWS", 10)
    path = tmp_path / "snap.sqlite"
    with Ledger(path) as ledger:
        ids = [done(ledger, f"e{i % 3}", credits=i, label="AB"[i % 2]) for i in range(30)]
        ledger.df  # noqa: B018 - 30 rows read one by one: writes a snapshot
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT rows FROM df_snapshot").fetchone()[0] == 30
    with Ledger(path) as ledger:  # changes after the snapshot, by rows and by plain SQL
        ledger.update(ids[0], status="FAILED", error="boom")
        ledger.log(experiment="late", status="QUEUED", label="C")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE submissions SET prompt = 'edited' WHERE id = ?", (ids[1],))
    with Ledger(path) as fresh:
        loaded = []
        real = _frame.decode
        monkeypatch.setattr(_frame, "decode", lambda blob: loaded.append(1) or real(blob))
        df = fresh.df_full
        assert loaded == [1]  # came from the snapshot
        assert df.loc[ids[0], "status"] == "FAILED" and df.loc[ids[1], "prompt"] == "edited"
        pd.testing.assert_frame_equal(df, full_load(path))
    with sqlite3.connect(path) as db:  # a delete invalidates the snapshot
        db.execute("DELETE FROM submissions WHERE id = ?", (ids[2],))
        assert db.execute("SELECT COUNT(*) FROM df_snapshot").fetchone()[0] == 0
    with Ledger(path) as fresh:
        pd.testing.assert_frame_equal(fresh.df_full, full_load(path))


def test_a_damaged_snapshot_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(_cache, "SNAPSHOT_ROWS", 5)
    path = tmp_path / "snap.sqlite"
    with Ledger(path) as ledger:
        for _ in range(8):
            done(ledger)
        ledger.df  # noqa: B018
    with sqlite3.connect(path) as db:
        db.execute("UPDATE df_snapshot SET data = x'00010203'")
    with Ledger(path) as fresh:
        pd.testing.assert_frame_equal(fresh.df_full, full_load(path))


def test_summary_spent_and_committed(ledger):
    done(ledger, "a", 200, 30, label="A")
    done(ledger, "a", 100, 10, label="B")
    ledger.log(experiment="a", estimated_credits=50, status="PENDING", label="A")
    ledger.log(experiment="b", estimated_credits=70, status="FAILED")
    ledger.log(experiment="b", estimated_credits=70, status="CANCELLED")
    summary = ledger.summary()
    assert list(summary.columns) == [
        "count",
        "completed",
        "failed",
        "in_flight",
        "estimated",
        "used",
        "mean_render_s",
        "lost",
    ]
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
    assert summary.loc["b", "failed"] == 1 and summary.loc["b", "count"] == 2
    by_label = ledger.summary(by=["experiment", "label"])
    assert by_label.loc[("a", "A"), "count"] == 2 and by_label.loc[("a", "B"), "used"] == 100
    assert ledger.summary("status").loc["COMPLETED", "used"] == 300
    with pytest.raises(ValueError, match="colour"):
        ledger.summary("colour")
    assert ledger.spent("a") == 300 and ledger.spent() == 300 and ledger.spent("b") == 0
    assert ledger.committed("a") == 350 and ledger.committed() == 350
    assert ledger.committed("b") == 0


def test_spent_and_committed_by_server(ledger):
    done(ledger, "a", 200, base_url=SIM)
    done(ledger, "a", 100, base_url=HOSTED)
    ledger.log(experiment="a", estimated_credits=40, status="PENDING", base_url=HOSTED)
    assert ledger.spent(base_url=HOSTED) == 100 and ledger.spent("a", base_url=SIM) == 200
    assert ledger.committed(base_url=HOSTED) == 140


def test_plot_has_a_line_per_experiment(ledger):
    assert isinstance(ledger.plot(), Figure)  # empty is fine
    done(ledger, "a")
    done(ledger, "a", seconds=60)
    done(ledger, "b")
    ledger.log(experiment="c", status="QUEUED")  # nothing completed: no line
    figure = ledger.plot()
    assert isinstance(figure, Figure)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2 and [line.get_label() for line in lines] == ["a", "b"]
    assert list(lines[0].get_ydata()) == [200, 400]
    mine = Figure()
    axes = mine.subplots(1, 2)
    assert ledger.plot(ax=axes[1]) is mine and len(axes[1].get_lines()) == 2


def test_plot_shows_itself_as_a_png_readable_on_dark_themes(ledger):
    import io

    from IPython.core.formatters import PNGFormatter
    from matplotlib.colors import to_rgba
    from PIL import Image

    done(ledger, "a")
    done(ledger, "b", seconds=60)
    figure = ledger.plot()
    png = PNGFormatter()(figure)  # what IPython shows for a cell's value, no pyplot involved
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "RGBA" and image.getpixel((2, 2))[3] == 255  # opaque, not see-through
    ax = figure.axes[0]
    assert to_rgba(figure.get_facecolor())[3] == 1 and to_rgba(ax.get_facecolor())[3] == 1
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]
    assert legend.get_title().get_text() == "experiment"
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # outside


def test_exports_round_trip(ledger, tmp_path):
    done(ledger, "a", label="A", prompt='a "quoted", comma')
    ledger.log(experiment="b", status="QUEUED", estimated_credits=40)
    df = ledger.df_full
    parquet = pd.read_parquet(ledger.to_parquet(tmp_path / "l.parquet"))
    pd.testing.assert_frame_equal(parquet, df)
    out = ledger.to_csv(tmp_path / "l.csv")
    csv = pd.read_csv(out, index_col="id", parse_dates=["submitted_at", "sent_at", "completed_at"])
    assert list(csv.index) == list(df.index)
    assert csv.loc[df.index[0], "prompt"] == 'a "quoted", comma'
    assert csv.loc[df.index[0], "credits_used"] == 200 and pd.isna(csv.iloc[1]["credits_used"])
    assert csv["completed_at"].iloc[0] == df["completed_at"].iloc[0]


# ---- budgets ------------------------------------------------------------------------------------
def test_budgets(ledger):
    assert ledger.budget("a") is None and ledger.remaining("a") is None
    ledger.check_budget("a", 10**9)  # no budget, no limit
    ledger.set_budget("a", 500)
    assert ledger.budget("a") == 500 and ledger.remaining("a") == 500
    done(ledger, "a", 200)
    ledger.log(experiment="a", estimated_credits=200, status="QUEUED")  # held while queued
    ledger.log(experiment="a", estimated_credits=999, status="FAILED")  # holds nothing
    ledger.log(experiment="b", estimated_credits=999, status="PENDING")  # another experiment
    assert ledger.remaining("a") == 100
    ledger.check_budget("a", 100)
    with pytest.raises(sd.BudgetExceededError) as info:
        ledger.check_budget("a", 160)
    assert info.value.remaining == 100 and info.value.cost == 160
    assert "100" in str(info.value) and "160" in str(info.value)
    ledger.set_budget("a", 1000)
    assert ledger.remaining("a") == 600
    with Ledger(ledger.path) as other:  # budgets live in the file
        assert other.budget("a") == 1000
    ledger.set_budget("a", None)
    assert ledger.budget("a") is None
    ledger.check_budget("a", 10**9)
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(ValueError):
            ledger.set_budget("a", bad)


def test_a_completed_row_without_a_charge_counts_its_estimate(ledger):
    ledger.set_budget("a", 300)
    row = ledger.log(experiment="a", estimated_credits=200)
    ledger.update(row, status="COMPLETED")
    assert ledger.spent("a") == 0 and ledger.remaining("a") == 100


# (log's own budget check, alone and under threads: test_ledger_backends.py, on both backends)


# ---- reconcile ----------------------------------------------------------------------------------
def test_reconcile_against_the_account(ledger):
    first = ledger.reconcile(SimpleNamespace(credits=5000, available=5000))
    assert first["ok"].all() and (first[["ledger", "account", "difference"]] == 0).all().all()
    assert list(first.index) == ["spent", "reserved"]
    assert list(first.columns) == ["ledger", "account", "difference", "ok"]
    assert first.attrs["baseline_at"].tzinfo is not None
    done(ledger, "a", 200)
    ledger.log(experiment="a", estimated_credits=160, status="PENDING")
    ledger.log(experiment="a", estimated_credits=999, status="QUEUED")  # not sent: not reserved
    agreed = ledger.reconcile(sd.Credits(credits=4800, available=4640))
    assert agreed["ok"].all()
    assert agreed.loc["spent", "account"] == 200 and agreed.loc["reserved", "ledger"] == 160
    off = ledger.reconcile(sd.Credits(credits=4700, available=4540))
    assert not off.loc["spent", "ok"] and off.loc["reserved", "ok"]
    assert off.loc["spent", "difference"] == 100  # spent somewhere this ledger does not know
    ledger.set_baseline(sd.Credits(credits=4700, available=4540))
    assert ledger.reconcile(sd.Credits(credits=4700, available=4540))["ok"].all()


def test_reconcile_with_a_client_counts_only_its_server(ledger):
    class FakeClient:
        base_url = HOSTED

        def __init__(self, credits, available):
            self.balance = SimpleNamespace(credits=credits, available=available)

        def credits(self):
            return self.balance

    done(ledger, "a", 500, base_url=SIM)  # simulator spending is not the account's
    assert ledger.reconcile(FakeClient(1000, 1000))["ok"].all()
    done(ledger, "a", 100, base_url=HOSTED)
    done(ledger, "a", 300, base_url=SIM)
    report = ledger.reconcile(FakeClient(900, 900))
    assert report["ok"].all() and report.loc["spent", "ledger"] == 100
    assert report.attrs["base_url"] == HOSTED


def test_reconcile_refuses_what_it_cannot_read(ledger):
    class AsyncLike:
        async def credits(self):
            return SimpleNamespace(credits=1, available=1)

    with pytest.raises(TypeError, match="await"):
        ledger.reconcile(AsyncLike())
    with pytest.raises(TypeError, match="Credits"):
        ledger.reconcile(object())


def test_reconcile_accepts_a_real_client(ledger, sim, client):
    report = ledger.reconcile(client)
    assert report["ok"].all() and report.attrs["base_url"] == sim.base_url


# ---- votes --------------------------------------------------------------------------------------
def test_votes(ledger):
    a, b, c = (done(ledger, "ab") for _ in range(3))
    ledger.vote("ab", a, [b, c])
    ledger.vote("ab", b, [c])
    votes = ledger.votes("ab")
    assert list(votes.columns) == ["experiment", "ballot", "winner", "loser", "at"]
    assert list(votes["winner"]) == [a, a, b] and list(votes["loser"]) == [b, c, c]
    assert list(votes["ballot"]) == [1, 1, 2] and votes["winner"].dtype == "int64"
    assert votes["at"].dtype == "datetime64[ns, UTC]"
    assert ledger.votes("other").empty and len(ledger.votes()) == 3
    with pytest.raises(ValueError):
        ledger.vote("ab", a, [])
    with pytest.raises(ValueError):
        ledger.vote("ab", a, [a, b])
    with pytest.raises(KeyError):
        ledger.vote("ab", a, [999])


def test_a_ballot_can_be_retracted(ledger):
    a, b, c = (done(ledger, "ab") for _ in range(3))
    ledger.vote("ab", a, [b, c])
    ledger.vote("ab", b, [c])
    ledger.retract_vote(1)
    votes = ledger.votes("ab")
    assert list(votes["ballot"]) == [2] and list(votes["winner"]) == [b]
    with pytest.raises(KeyError):
        ledger.retract_vote(1)


# ---- threads ------------------------------------------------------------------------------------
def test_threads_share_one_ledger(ledger):
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(name):
        try:
            for i in range(50):
                row = ledger.log(experiment=name, estimated_credits=i)
                ledger.update(row, status="PENDING")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader():
        try:
            while not stop.is_set():
                ledger.df  # noqa: B018
                ledger.remaining("t0")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not errors
    df = ledger.df
    assert len(df) == 200 and (df["status"] == "PENDING").all()
    assert df.groupby("experiment", observed=True).size().to_dict() == {
        f"t{i}": 50 for i in range(4)
    }
