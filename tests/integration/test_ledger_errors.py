"""A SQLite ledger's errors after it opened are `LedgerError` in words, as PostgreSQL's are: a
table taken away under a running kernel, or a file replaced by something that is not a database."""

from __future__ import annotations

import pytest

import seedance_nb as sd


def test_a_ledger_file_overwritten_with_garbage_raises_ledger_error_not_sqlite3(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with sd.Ledger(path) as ledger:
        ledger.log(experiment="e", prompt="a lighthouse")
        ledger.close()
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
        path.write_bytes(b"this is not a database\x00" * 512)
        with pytest.raises(sd.LedgerError) as caught:
            sd.Ledger(path)
        assert "not a seedance_nb ledger" in str(caught.value)


def test_a_write_error_inside_a_transaction_is_a_ledger_error_and_rolls_back(tmp_path):
    """A statement that fails inside a write (here a table dropped under the ledger by another
    tool) raises LedgerError naming the file, and the transaction leaves nothing behind."""
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    with sd.Ledger(path) as ledger:
        first = ledger.log(experiment="e", prompt="a lighthouse")
        other = sqlite3.connect(path)
        tables = [r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables
        for table in tables:
            other.execute(f"ALTER TABLE {table} RENAME TO gone_{table}")
        other.commit()
        other.close()
        with pytest.raises(sd.LedgerError) as caught:
            ledger.log(experiment="e", prompt="another")
        assert str(path) in str(caught.value)
        assert not isinstance(caught.value, sqlite3.Error)
        assert first
