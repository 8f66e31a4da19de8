"""Ledger figures, each beside a CSV baseline from the same run:

- log() latency (durable: committed with the WAL synced) vs appending one line to a CSV file
  with flush + fsync;
- loading .df with 100,000 rows (cold, then after one more write) vs pandas.read_csv of the
  same rows;
- summary() on 100,000 rows vs a plain groupby on the CSV-loaded frame.
"""

from __future__ import annotations

import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._report import Figure, percentile, timeit

ROWS = 100_000
LOGS = 500


def _row(i: int) -> dict[str, object]:
    return {
        "experiment": f"exp{i % 7}",
        "label": "AB"[i % 2],
        "task_id": f"task_{i:020x}",
        "model": "seedance2",
        "mode": "text-to-video",
        "prompt": f"prompt number {i}",
        "params": '{"model": "seedance2", "inputs": {"prompt": "x", "duration": "5s"}}',
        "estimated_credits": 200,
        "credits_used": 200,
        "status": "COMPLETED",
        "fingerprint": f"{i:032x}",
        "base_url": "http://127.0.0.1:8765/api/v1",
    }


def run() -> list[Figure]:
    import pandas as pd

    from seedance_nb.ledger import NEXT_REV, Ledger

    work = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    ledger = Ledger(work / "ledger.sqlite")
    log_times = timeit(lambda: ledger.log(**_row(0)), LOGS)
    csv_path = work / "log.csv"
    with csv_path.open("a", newline="") as fh:
        writer = csv.writer(fh)

        def append() -> None:
            writer.writerow(_row(0).values())
            fh.flush()
            os.fsync(fh.fileno())

        csv_times = timeit(append, LOGS)

    big = Ledger(work / "big.sqlite")
    now = int(time.time() * 1000)
    rows = [_row(i) for i in range(ROWS)]
    names = [*rows[0], "submitted_at", "sent_at", "completed_at"]
    with big._write() as db:
        db.executemany(
            f"INSERT INTO submissions ({', '.join(names)}, rev) "
            f"VALUES ({', '.join('?' * len(names))}, {NEXT_REV})",
            [(*r.values(), now, now + 1000, now + 30_000 + i) for i, r in enumerate(rows)],
        )
    pd.DataFrame([{**r, "submitted_at": now} for r in rows]).to_csv(work / "big.csv")

    cold = timeit(lambda: Ledger(work / "big.sqlite").df, 3)
    big.df  # noqa: B018 - warm the cache, then one more row arrives

    def warm() -> None:
        big.log(**_row(1))
        big.df  # noqa: B018

    warm_times = timeit(warm, 5)
    read_csv = timeit(lambda: pd.read_csv(work / "big.csv"), 3)
    frame = pd.read_csv(work / "big.csv")
    summary = timeit(big.summary, 3)
    plain = timeit(
        lambda: frame.groupby("experiment").agg(
            n=("status", "size"), used=("credits_used", "sum"), est=("estimated_credits", "sum")
        ),
        3,
    )
    return [
        Figure(
            "ledger log() p50 (durable)",
            percentile(log_times, 50) * 1000,
            "ms",
            "CSV append + fsync",
            percentile(csv_times, 50) * 1000,
            "p50 <= 1 ms",
            percentile(log_times, 50) <= 0.001,
        ),
        Figure(
            "ledger log() p99 (durable)",
            percentile(log_times, 99) * 1000,
            "ms",
            "CSV append + fsync",
            percentile(csv_times, 99) * 1000,
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, first load",
            min(cold),
            "s",
            "pandas.read_csv",
            min(read_csv),
            "<= 0.3 s",
            min(cold) <= 0.3,
        ),
        Figure(
            f"ledger .df, {ROWS:,} rows, after one more write",
            statistics.median(warm_times),
            "s",
            "pandas.read_csv",
            min(read_csv),
            "<= 0.3 s",
            statistics.median(warm_times) <= 0.3,
        ),
        Figure(
            f"ledger summary(), {ROWS:,} rows",
            statistics.median(summary),
            "s",
            "groupby on the CSV frame",
            statistics.median(plain),
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
