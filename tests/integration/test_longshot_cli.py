"""`seedance-nb sequence story.toml` as a real process against a real simulator: it plans,
prices and asks, runs the chain, measures the seams and stitches; a second run pays nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import seedance_nb as sd
from seedance_nb.runtime._download import verify_video

CREATE = "requests POST /api/v1/jobs/createTask"
ROOT = Path(__file__).resolve().parents[2]
STORY = """
name = "cli-fox"
stop_on = "broken"
budget = 1000

[[shot]]
prompt = "a red fox runs through a snowy forest at dusk"
duration = 4

[[shot]]
prompt = "the fox keeps running, camera follows"
duration = 4
"""


def run(args: list[str], sim, tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SEEDANCE_API_KEY": sim.api_key,
        "SEEDANCE_BASE_URL": sim.base_url,
        "SEEDANCE_LEDGER": str(tmp_path / "ledger.sqlite"),
        "SEEDANCE_OUTPUTS": str(tmp_path / "outputs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "seedance_nb", *args, "--poll-interval", "0.05"],
        env=env,
        cwd=tmp_path,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_the_sequence_command_plans_asks_runs_and_stitches(start_sim, tmp_path):
    sim = start_sim()
    story = tmp_path / "story.toml"
    story.write_text(STORY)
    refused = run(["sequence", str(story)], sim, tmp_path, stdin="n\n")
    assert refused.returncode == 1 and "320 credits" in refused.stdout
    assert "Nothing sent" in refused.stdout and sim.stats()["counters"].get(CREATE, 0) == 0

    done = run(["sequence", str(story)], sim, tmp_path, stdin="y\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sim.stats()["counters"][CREATE] == 2
    assert "seams" in done.stdout and "stitched:" in done.stdout
    stitched = tmp_path / "outputs" / "sequences" / "cli-fox" / "cli-fox.mp4"
    assert verify_video(stitched) > 7.5

    again = run(["sequence", str(story), "--yes"], sim, tmp_path)
    assert again.returncode == 0 and sim.stats()["counters"][CREATE] == 2  # nothing paid twice
    with sd.Ledger(tmp_path / "ledger.sqlite") as ledger:
        labels = sorted(r["label"] for r in ledger.rows())
    assert labels == ["seq:cli-fox#1", "seq:cli-fox#2"]


def test_a_bad_story_is_one_clear_line(start_sim, tmp_path):
    sim = start_sim()
    story = tmp_path / "bad.toml"
    story.write_text('stop_on = "sometimes"\n[[shot]]\nprompt = "x"\n')
    out = run(["sequence", str(story), "--yes"], sim, tmp_path)
    assert out.returncode == 2 and "stop_on" in out.stderr and "Traceback" not in out.stderr
