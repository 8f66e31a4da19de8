"""Start-up figures that must not grow with history, each beside a baseline from the same run:

- `Studio()` on a ledger of 200,000 rows vs `Studio()` on an empty ledger, on SQLite and on
  PostgreSQL (goal <= 1.5x): a studio reads a bounded, indexed window of history at start;
- `seedance-nb status -n 5` on 200,000 rows (goal <= 1 s) vs the same on the empty ledger:
  status reads 5 rows, whatever the ledger holds;
- a cold `ledger.df` of 100,000 rows without the snapshot (goal <= 0.3 s) vs pandas.read_csv
  of the same rows (bench_ledger's rows).

PostgreSQL is found as the tests find it (tests/pg.py). The rows are bulk-loaded with
`Ledger._log_many`; a studio is made and closed `REPEAT` times and the median is kept.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._report import Figure, timeit

ROOT = Path(__file__).resolve().parents[1]
ROWS = 200_000
DF_ROWS = 100_000
REPEAT = 5
CHUNK = 20_000


def _load(target: str, rows: int) -> None:
    from benchmarks.bench_ledger import _row
    from seedance_nb.ledger import Ledger

    with Ledger(target) as ledger:
        for start in range(0, rows, CHUNK):
            ledger._log_many([_row(i) for i in range(start, min(rows, start + CHUNK))])


def _studio_start(target: str, sim: object, work: Path) -> float:
    """Median seconds from `Studio(...)` to a studio ready to submit (closed after)."""
    import seedance_nb as sd

    times = []
    for i in range(REPEAT):
        client = sd.Client(api_key=sim.api_key, base_url=sim.base_url)  # type: ignore[attr-defined]
        began = time.perf_counter()
        studio = sd.Studio(client=client, ledger=target, outputs=work / f"out{i}", verbose=False)
        times.append(time.perf_counter() - began)
        studio.close()
        client.close()
    return statistics.median(times)


def _status(target: str) -> float:
    """Median seconds of `seedance-nb status -n 5` (in process: the command, not Python's
    own start-up)."""
    from click.testing import CliRunner

    from seedance_nb.cli._app import cli

    def once() -> None:
        result = CliRunner().invoke(cli, ["status", "--ledger", target, "-n", "5"])
        if result.exit_code != 0:
            raise RuntimeError(result.output)

    return statistics.median(timeit(once, REPEAT))


def _cold_df(work: Path) -> tuple[float, float]:
    """(median seconds of a first .df of DF_ROWS rows with no snapshot, pandas.read_csv)."""
    import pandas as pd

    from seedance_nb.ledger import Ledger, _cache

    path = work / "df.sqlite"
    _load(str(path), DF_ROWS)
    every, _cache.SNAPSHOT_ROWS = _cache.SNAPSHOT_ROWS, 10**12  # rows only, no snapshot
    try:
        cold = []
        for _ in range(3):
            with Ledger(path) as fresh:
                cold += timeit(lambda fresh=fresh: fresh.df, 1)
        with Ledger(path) as ledger:
            ledger.df_full.to_csv(work / "df.csv")
    finally:
        _cache.SNAPSHOT_ROWS = every
    read_csv = timeit(lambda: pd.read_csv(work / "df.csv"), 3)
    return statistics.median(cold), min(read_csv)


@contextlib.contextmanager
def _postgres() -> Iterator[tuple[str, str]]:
    """(an empty ledger URL, a ledger URL to fill) in a fresh database."""
    sys.path.insert(0, str(ROOT / "tests"))
    import psycopg
    from pg import server, with_schema

    with server() as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE SCHEMA start_empty")
            admin.execute("CREATE SCHEMA start_full")
        yield with_schema(url, "start_empty"), with_schema(url, "start_full")


def run() -> list[Figure]:
    import seedance_nb as sd

    work = Path(tempfile.mkdtemp(prefix="bench-start-"))
    figures: list[Figure] = []
    try:
        with sd.simulator.start(speed=0.01) as sim:
            empty, full = str(work / "empty.sqlite"), str(work / "full.sqlite")
            sd.Ledger(empty).close()
            _load(full, ROWS)
            lite = (_studio_start(empty, sim, work), _studio_start(full, sim, work))
            status = (_status(empty), _status(full))
            try:
                with _postgres() as (pg_empty, pg_full):
                    sd.Ledger(pg_empty).close()
                    _load(pg_full, ROWS)
                    team = (_studio_start(pg_empty, sim, work), _studio_start(pg_full, sim, work))
                    pg_status = (_status(pg_empty), _status(pg_full))
            except BaseException as exc:  # pytest.skip (no server) is not an Exception
                if isinstance(exc, KeyboardInterrupt | SystemExit):
                    raise
                team = pg_status = None
                print(f"no PostgreSQL to measure: {exc}", file=sys.stderr)
        cold, read_csv = _cold_df(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = f"{ROWS:,} rows"
    figures += [
        Figure(
            f"Studio() on SQLite, {rows}",
            lite[1],
            "s",
            "Studio() on an empty ledger",
            lite[0],
            "<= 1.5x",
            lite[1] <= 1.5 * lite[0],
        ),
        Figure(
            f"status -n 5 on SQLite, {rows}",
            status[1],
            "s",
            "status -n 5 on an empty ledger",
            status[0],
            "<= 1 s",
            status[1] <= 1.0,
        ),
    ]
    if team is not None and pg_status is not None:
        figures += [
            Figure(
                f"Studio() on PostgreSQL, {rows}",
                team[1],
                "s",
                "Studio() on an empty ledger",
                team[0],
                "<= 1.5x",
                team[1] <= 1.5 * team[0],
            ),
            Figure(
                f"status -n 5 on PostgreSQL, {rows}",
                pg_status[1],
                "s",
                "status -n 5 on an empty ledger",
                pg_status[0],
                "<= 1 s",
                pg_status[1] <= 1.0,
            ),
        ]
    figures.append(
        Figure(
            f"ledger .df, {DF_ROWS:,} rows, new kernel, no snapshot",
            cold,
            "s",
            "pandas.read_csv",
            read_csv,
            "<= 0.3 s",
            cold <= 0.3,
        )
    )
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
