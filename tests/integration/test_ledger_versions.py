"""A ledger written by any earlier seedance_nb opens in this one, on both backends, with its
rows kept and every new table, column, index and trigger added: SQLite files of schema 1-4 and
PostgreSQL databases of steps 1-3 (their DDL frozen in tests/ledger_versions as those releases
wrote it: version 1, then each later one as the change it made). One from a newer seedance_nb is
refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import seedance_nb as sd
from seedance_nb.api._status import JobStatus
from seedance_nb.ledger import Ledger, Owner, row_fence
from seedance_nb.ledger._schema import SCHEMA_VERSION

VERSIONS = Path(__file__).resolve().parents[1] / "ledger_versions"


def exercise(ledger: Ledger) -> None:
    """What a studio does first with a ledger: the old row is there and every new part works."""
    old = ledger.get(1)
    assert old["experiment"] == "old" and old["lease"] == 1 and old["account"] is None
    assert list(ledger.df["experiment"]) == ["old"]
    me = Owner.new()
    ledger.register(me)
    taken = ledger.claim(1, me)
    assert taken["lease"] == 2 and ledger.write(1, row_fence(taken), status=JobStatus.COMPLETED)
    assert ledger.df.loc[1, "status"] == JobStatus.COMPLETED  # the write bumped rev
    assert [r["id"] for r in ledger.recent_completions()] == [1]
    row = ledger.log(experiment="new", owner=me.id)
    assert ledger.get(row)["lease"] == 1
    assert ledger.acquire_slot("acct", me, "alice", row, 1)
    assert ledger.account_limit("acct") == 1


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_a_sqlite_file_of_every_earlier_version_opens(tmp_path, version):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        for step in range(1, version + 1):
            db.executescript((VERSIONS / f"sqlite_v{step}.sql").read_text())
        db.execute("INSERT INTO submissions (experiment, status) VALUES ('old', 'PENDING')")
    with Ledger(path) as ledger:
        exercise(ledger)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0] == (
            SCHEMA_VERSION
        )
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    db.close()
    with pytest.raises(sd.LedgerError, match="newer seedance_nb"):
        Ledger(path)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_postgres_database_of_every_earlier_version_opens(pg_url, version):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        for step in range(1, version + 1):
            conn.execute((VERSIONS / f"postgres_v{step}.sql").read_text().encode())
        conn.execute("INSERT INTO submissions (experiment, status) VALUES ('old', 'PENDING')")
    with Ledger(pg_url) as ledger:
        exercise(ledger)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
        assert found == SCHEMA_VERSION
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    with pytest.raises(sd.LedgerError, match="newer seedance_nb"):
        Ledger(pg_url)


def test_both_backends_have_one_schema(tmp_path, pg_url):
    """The same tables and columns on both, from one definition."""
    import psycopg

    Ledger(tmp_path / "new.sqlite").close()
    Ledger(pg_url).close()
    with sqlite3.connect(tmp_path / "new.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        lite = {(t, r[1]) for t in tables for r in db.execute(f"PRAGMA table_info({t})")}
    db.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        pg = {
            (r[0], r[1])
            for r in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        }
    assert lite == pg
