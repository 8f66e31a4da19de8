"""Two kernels on one ledger file at once, and a kernel killed with SIGKILL mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seedance_nb.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]

# waits for "go" on stdin, so both children open the same new file at the same moment
WRITER = textwrap.dedent("""
    import sys
    from seedance_nb.ledger import Ledger
    path, count, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print("ready", flush=True)
    sys.stdin.readline()
    ledger = Ledger(path)
    for i in range(count):
        row = ledger.log(experiment=name, status="QUEUED", estimated_credits=i)
        ledger.update(row, status="PENDING", task_id=f"{name}-{i}")
        print(row, flush=True)
    ledger.close()
""")


def spawn(path: Path, count: int, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(count), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_two_processes_write_one_new_file_at_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    procs = {name: spawn(path, 200, name) for name in ("kernel-a", "kernel-b")}
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = {name: proc.communicate(timeout=120) for name, proc in procs.items()}
    assert [p.returncode for p in procs.values()] == [0, 0], [o[1] for o in outs.values()]
    with Ledger(path) as ledger:
        for name, (stdout, _) in outs.items():
            printed = [int(line) for line in stdout.split()]
            rows = ledger.rows(experiment=name)
            assert [r["id"] for r in rows] == printed and len(rows) == 200
            assert {r["task_id"] for r in rows} == {f"{name}-{i}" for i in range(200)}
        assert len(ledger.rows(status="PENDING")) == 400 and len(ledger.df) == 400
        ids = ledger.df.index
        assert ids.is_unique and ids.is_monotonic_increasing


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_loses_no_returned_row(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = spawn(path, 1_000_000, "k")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    returned = [int(proc.stdout.readline()) for _ in range(300)]  # wait until 300 came back
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    rest = proc.stdout.read()  # ids printed before the kill landed count too
    returned += [int(line) for line in rest.split() if line.strip().isdigit()]
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    with sqlite3.connect(path) as db:  # a plain connection first: recovers the WAL as-is
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Ledger(path) as ledger:
        present = {r["id"] for r in ledger.rows(experiment="k")}
        assert set(returned) <= present
        assert len(ledger.df) == len(present)
        after = ledger.log(experiment="after")  # and the file is still writable
        assert after > max(present)
