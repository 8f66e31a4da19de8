"""Starts that do not grow with history: every query a `Studio()` makes at start, and every
row `seedance-nb status -n N` reads, is served by an index (SQLite's own query plans say so),
and status reads N rows. (The times at 200,000 rows are in benchmarks/bench_start.py.)"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

import seedance_nb as sd
from seedance_nb.api import JobStatus
from seedance_nb.cli._app import cli
from seedance_nb.ledger import Ledger
from seedance_nb.ledger._sql import SQLStore
from seedance_nb.ledger._sqlite import SQLiteStore

T0 = datetime(2026, 11, 24, tzinfo=timezone.utc)
AGGREGATES = ("SUM(", "COUNT(", "MAX(REV)", "FROM OWNERS", "FROM META", "SQLITE_", "PRAGMA")


def history(n: int) -> list[dict]:
    return [
        {
            "experiment": f"exp{i % 3}",
            "status": JobStatus.COMPLETED if i % 4 else JobStatus.FAILED,
            "model": "seedance2",
            "mode": "text-to-video",
            "estimated_credits": 10,
            "credits_used": 10,
            "submitted_at": T0 + timedelta(seconds=i),
            "sent_at": T0 + timedelta(seconds=i),
            "completed_at": T0 + timedelta(seconds=i + 30),
            "base_url": "http://127.0.0.1:1/api/v1",
        }
        for i in range(n)
    ]


@pytest.fixture
def traced(monkeypatch):
    """Every SQL statement the ledger's SQLite connections run, parameters filled in."""
    seen: list[str] = []
    real = SQLiteStore._connect

    def connect(self):
        db = real(self)
        db.set_trace_callback(seen.append)
        return db

    monkeypatch.setattr(SQLiteStore, "_connect", connect)
    return seen


def unindexed(path, statements: list[str]) -> list[tuple[str, list[str]]]:
    """Row-reading statements on `submissions` whose plan scans the table, or sorts what it
    read before a LIMIT (which then bounds nothing)."""
    bad = []
    with sqlite3.connect(path) as db:
        for sql in statements:
            upper = sql.upper()
            if not upper.lstrip().startswith("SELECT") or "SUBMISSIONS" not in upper:
                continue
            if any(word in upper.replace(" ", "") for word in AGGREGATES):
                continue
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
            # the primary key walked backwards to a LIMIT reads just that many rows
            walks_back = "ORDER BY ID DESC LIMIT" in upper
            # a sort of what an index found is bounded by it, unless it stands before a LIMIT
            if any(
                (d.startswith("SCAN") and "USING" not in d and not walks_back)
                or ("TEMP B-TREE" in d and "LIMIT" in upper)
                for d in plan
            ):
                bad.append((sql, plan))
    db.close()
    return bad


def test_a_studio_start_reads_history_through_indexes(tmp_path, traced, start_sim):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger._log_many(history(3000))
    sim = start_sim()
    traced.clear()
    client = sd.Client(api_key=sim.api_key, base_url=sim.base_url)
    studio = sd.Studio(client=client, ledger=path, outputs=tmp_path / "out", verbose=False)
    client.close()
    try:
        assert traced, "no statement was traced"
        assert unindexed(path, traced) == []
        starts = [s for s in traced if "ORDER BY ID DESC LIMIT" in s.upper()]
        assert starts, "the history is read newest first, bounded"
    finally:
        studio.close()


def test_recent_completions_are_bounded(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger._log_many(history(3000))
        recent = ledger.recent_completions(100)
        assert len(recent) == 100 and recent[-1]["id"] == 3000  # the newest completed
        assert all(r["status"] == JobStatus.COMPLETED for r in recent)


def test_status_reads_n_rows(tmp_path, traced, monkeypatch):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ledger._log_many(history(500))
    traced.clear()

    def refused(*args, **kwargs):
        raise AssertionError("status read every row")

    monkeypatch.setattr(SQLStore, "read_frame", refused)
    result = CliRunner().invoke(cli, ["status", "--ledger", str(path), "-n", "3"])
    assert result.exit_code == 0, result.output
    assert "3 of 500 job(s)" in result.output
    for row_id in ("498", "499", "500"):
        assert row_id in result.output
    assert "497" not in result.output
    assert unindexed(path, traced) == []
    result = CliRunner().invoke(
        cli, ["status", "--ledger", str(path), "-n", "2", "--experiment", "exp1"]
    )
    assert result.exit_code == 0 and "2 of 167 job(s) in 'exp1'" in result.output
    assert unindexed(path, traced) == []


def test_latest_and_count_on_both_backends(target):
    with Ledger(target) as ledger:
        ledger._log_many(history(30))
        assert [r["id"] for r in ledger.latest(3)] == [28, 29, 30]
        assert [r["id"] for r in ledger.latest(2, "exp0")] == [25, 28]
        assert ledger.count() == 30 and ledger.count("exp2") == 10
        assert ledger.latest(0) == [] and len(ledger.latest(99)) == 30


@pytest.mark.parametrize("analyze", [True, False])
def test_postgres_reads_recent_history_through_an_index_after_a_bulk_load(
    pg_url, monkeypatch, analyze
):
    """A bulk load refreshes the planner's statistics: without them PostgreSQL guesses "few
    completed rows" and sorts them all to keep the newest (seconds at 200,000 rows)."""
    from seedance_nb.ledger import _postgres

    if not analyze:  # the control: shows the test can fail
        plain = dataclasses.replace(_postgres.POSTGRES, analyze="")
        monkeypatch.setattr(_postgres.PostgresStore, "d", plain)
    with Ledger(pg_url) as ledger:
        ledger._log_many(history(20_000))
        with ledger._store._read() as tx:
            plan = "\n".join(
                row[0]
                for row in tx.run(
                    "EXPLAIN SELECT id FROM submissions WHERE status = ? "
                    "ORDER BY id DESC LIMIT 2000",
                    (JobStatus.COMPLETED.value,),
                ).fetchall()
            )
    assert ("Sort" not in plan) is analyze, plan
