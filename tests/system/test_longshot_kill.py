"""A long shot survives a killed kernel: the re-run picks the chain up where it stopped, and no
shot is paid twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import seedance_nb as sd
from seedance_nb.api import JobStatus
from tests.waiting import wait_until

CREATE = "requests POST /api/v1/jobs/createTask"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = [
    ("a red fox runs through a snowy forest at dusk", 4),
    ("the fox keeps running, camera follows", 4),
    ("it reaches a frozen river", 4),
    ("night falls over the river", 4),
]

CHAIN = f"""
import os, time
import seedance_nb as sd
client = sd.Client(api_key=os.environ["SIM_KEY"], base_url=os.environ["SIM_URL"])
studio = sd.Studio(client=client, ledger=os.environ["LEDGER"], outputs=os.environ["OUTPUTS"],
                   poll_interval=0.05, verbose=False)
studio.sequence({SHOTS!r}, name="kill", confirm=True)
print("FINISHED", flush=True)
time.sleep(600)
"""


def test_kill_9_in_the_middle_of_a_four_shot_chain_then_a_rerun_pays_no_shot_twice(
    start_sim, make_studio, tmp_path
):
    sim = start_sim(speed=0.05)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SIM_URL": sim.base_url,
        "SIM_KEY": sim.api_key,
        "LEDGER": str(tmp_path / "ledger.sqlite"),
        "OUTPUTS": str(tmp_path / "outputs"),
    }
    victim = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHAIN)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ledger = sd.Ledger(tmp_path / "ledger.sqlite")

    def third_sent() -> bool:
        return any(r["task_id"] for r in ledger.rows(label="seq:kill#3"))

    try:
        assert wait_until(third_sent, 120), victim.stderr.read() if victim.poll() else ""
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
    assert sim.stats()["counters"][CREATE] == 3
    ledger.close()

    heir = make_studio(sim)
    try:
        seq = heir.sequence(SHOTS, name="kill", confirm=True)
        assert seq.state == "done", seq.reason
        assert sim.stats()["counters"][CREATE] == 4  # shots 1-3 reused, only shot 4 sent
        rows = heir.ledger.rows(label=[seq.label(n) for n in range(1, 5)])
        assert sorted(r["label"] for r in rows) == [f"seq:kill#{n}" for n in range(1, 5)]
        assert all(r["status"] == JobStatus.COMPLETED.value for r in rows)
        assert len(seq.seams) == 3
        out = seq.stitch()
        assert out.exists() and seq.stitch_method == "remux"
    finally:
        heir.close()
