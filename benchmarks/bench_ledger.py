"""Ledger figures, each beside a baseline measured in the same run:

- log() and update() latency (durable: committed, the WAL synced) vs appending one line to a
  CSV file with flush + fsync;
- loading .df with 100,000 rows in a new kernel: from the rows alone (a file no .df has read
  yet) and from the columnar snapshot the first load leaves in the file; both vs pandas.read_csv
  of the same rows, and the row path also vs pandas.read_sql_query of the same table;
- .df again after one more write (only changed rows are read);
- summary() on 100,000 rows vs the same groupby on the CSV-loaded frame.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks._report import Figure, percentile, timeit

ROWS = 100_000
LOGS = 1_000
T0 = datetime(2026, 11, 24, tzinfo=timezone.utc)


def _row(i: int) -> dict[str, object]:
    """A realistic finished submission (the fields the runtime writes)."""
    sent = T0 + timedelta(seconds=7 * i)
    status = "FAILED" if i % 20 == 0 else "COMPLETED"
    prompt = f"a golden retriever surfing a wave at sunset, take {i}"
    return {
        "experiment": f"exp{i % 7}",
        "label": "AB"[i % 2],
        "task_id": f"task_{i:020x}",
        "model": ("seedance2", "seedance2-fast")[i % 3 == 0],
        "mode": "text-to-video",
        "prompt": prompt,
        "params": json.dumps(
            {"model": "seedance2", "inputs": {"prompt": prompt, "duration": "5s"}}
        ),
        "estimated_credits": 200,
        "credits_used": 200 if status == "COMPLETED" else 0,
        "status": status,
        "error": "render failed" if status == "FAILED" else None,
        "submitted_at": sent - timedelta(seconds=1),
        "sent_at": sent,
        "completed_at": sent + timedelta(seconds=20 + i % 40),
        "video_url": f"https://cdn.example/v/{i}.mp4" if status == "COMPLETED" else None,
        "local_path": f"videos/{i}.mp4" if status == "COMPLETED" else None,
        "fingerprint": f"{i:032x}",
        "base_url": "http://127.0.0.1:8765/api/v1",
    }


def _latencies(work: Path) -> tuple[list[float], list[float], list[float]]:
    """log() and update() seconds per call, and CSV append + fsync, in alternating rounds."""
    from seedance_nb.ledger import Ledger

    ledger = Ledger(work / "latency.sqlite")
    row = _row(1)
    logs: list[float] = []
    updates: list[float] = []
    appends: list[float] = []
    with (work / "latency.csv").open("a", newline="") as fh:
        writer = csv.writer(fh)

        def append() -> None:
            writer.writerow(row.values())
            fh.flush()
            os.fsync(fh.fileno())

        for _ in range(5):
            ids: list[int] = []
            logs += timeit(lambda ids=ids: ids.append(ledger.log(**row)), LOGS // 5)
            it = iter(ids)
            updates += timeit(lambda it=it: ledger.update(next(it), status="PENDING"), LOGS // 5)
            appends += timeit(append, LOGS // 5)
    ledger.close()
    return logs, updates, appends


def _cold_df(path: Path, times: int) -> list[float]:
    """Seconds for the first .df of a freshly opened ledger (as in a new kernel), `times` times."""
    from seedance_nb.ledger import Ledger

    out: list[float] = []
    for _ in range(times):
        with Ledger(path) as fresh:
            out += timeit(lambda fresh=fresh: fresh.df, 1)
    return out


def run() -> list[Figure]:
    import pandas as pd

    from seedance_nb.ledger import Ledger, _cache

    work = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    try:
        logs, updates, appends = _latencies(work)

        path = work / "big.sqlite"
        with Ledger(path) as big:
            big._log_many([_row(i) for i in range(ROWS)])
        every = _cache.SNAPSHOT_ROWS
        _cache.SNAPSHOT_ROWS = 10**12  # rows only: no snapshot written yet
        from_rows = _cold_df(path, 3)
        _cache.SNAPSHOT_ROWS = every
        with Ledger(path) as first:
            first.df.to_csv(work / "big.csv")  # this load leaves a snapshot in the file
        from_snapshot = _cold_df(path, 5)
        with sqlite3.connect(path) as db:
            read_sql = timeit(lambda: pd.read_sql_query("SELECT * FROM submissions", db), 3)
        read_csv = timeit(lambda: pd.read_csv(work / "big.csv"), 3)

        with Ledger(path) as big:
            big.df  # noqa: B018 - warm, then one more row arrives before each read

            def one_more() -> None:
                big.log(**_row(ROWS + 1))
                big.df  # noqa: B018

            warm = timeit(one_more, 5)
            summary = timeit(big.summary, 5)

        frame = pd.read_csv(work / "big.csv")

        def plain() -> None:
            status = frame["status"]
            frame.assign(
                completed=status.eq("COMPLETED"),
                failed=status.isin(["FAILED", "SEND_FAILED"]),
            ).groupby("experiment").agg(
                count=("status", "size"),
                completed=("completed", "sum"),
                failed=("failed", "sum"),
                estimated=("estimated_credits", "sum"),
                used=("credits_used", "sum"),
                mean_render_s=("render_seconds", "mean"),
            )

        groupby = timeit(plain, 5)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ms = 1000
    return [
        Figure(
            "ledger log() p50 (durable)",
            percentile(logs, 50) * ms,
            "ms",
            "CSV append + fsync",
            percentile(appends, 50) * ms,
            "p50 <= 1 ms",
            percentile(logs, 50) <= 0.001,
        ),
        Figure(
            "ledger log() p99 (durable)",
            percentile(logs, 99) * ms,
            "ms",
            "CSV append + fsync",
            percentile(appends, 99) * ms,
        ),
        Figure(
            "ledger update() p50 (durable)",
            percentile(updates, 50) * ms,
            "ms",
            "CSV append + fsync",
            percentile(appends, 50) * ms,
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, new kernel, from the snapshot",
            statistics.median(from_snapshot),
            "s",
            "pandas.read_csv",
            min(read_csv),
            "<= 0.3 s",
            statistics.median(from_snapshot) <= 0.3,
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, new kernel, from rows only",
            statistics.median(from_rows),
            "s",
            "pandas.read_csv",
            min(read_csv),
            "<= 0.3 s",
            statistics.median(from_rows) <= 0.3,
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, from rows only",
            statistics.median(from_rows),
            "s",
            "pandas.read_sql_query",
            min(read_sql),
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, after one more write",
            statistics.median(warm),
            "s",
            "pandas.read_csv",
            min(read_csv),
            "<= 0.3 s",
            statistics.median(warm) <= 0.3,
        ),
        Figure(
            f"ledger summary(), {ROWS:,} rows",
            statistics.median(summary),
            "s",
            "groupby on the CSV frame",
            statistics.median(groupby),
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
