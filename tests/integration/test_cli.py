"""`seedance-nb` end to end: real processes against a real simulator, on a ledger a notebook
then opens. Ctrl-C is a real SIGINT; spending is judged by the simulator's own counters."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import nbformat
import pytest

import seedance_nb as sd
from tests.kernels import run_and_save
from tests.waiting import wait_until

CREATE = "requests POST /api/v1/jobs/createTask"
KITES = ["a red kite over green hills", "a blue kite over a grey sea"]


class Run:
    """A `python -m seedance_nb ...` process whose output is read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None):
        self.lines: list[str] = []
        self.eof = False
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seedance_nb", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self._cond:
            self._cond.wait_for(lambda: text in "".join(self.lines) or self.eof, timeout)
        assert text in self.output, self.output

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code


def cli(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None) -> Run:
    """Run a command to its end; the Run holds its exit code and output."""
    run = Run(args, env, cwd, stdin)
    run.code = run.finish()  # type: ignore[attr-defined]
    return run


def stats(sim) -> dict:
    return httpx.get(sim.base_url.removesuffix("/api/v1") + "/_simulator/stats").json()


def environment(sim, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
    env.update(
        SEEDANCE_API_KEY=sim.api_key,
        SEEDANCE_BASE_URL=sim.base_url,
        SEEDANCE_LEDGER=str(folder / "ledger.sqlite"),
        SEEDANCE_OUTPUTS=str(folder / "outputs"),
    )
    env.pop("COLUMNS", None)
    return env


def rows(folder: Path, **where) -> list[dict]:
    ledger = sd.Ledger(folder / "ledger.sqlite")
    try:
        return ledger.rows(**where)
    finally:
        ledger.close()


# ---- Ctrl-C mid-sweep, then resume --------------------------------------------------------------
@pytest.mark.timeout(180)
def test_ctrl_c_mid_sweep_then_resume_sends_each_planned_job_once(start_sim, tmp_path):
    # slow enough that the first job is still rendering when both presses of Ctrl-C land
    sim = start_sim(api_keys=("sk-cli",), credits=100_000, speed=0.05)
    env = environment(sim, tmp_path)
    (tmp_path / "four.txt").write_text("one kite\ntwo kites\nthree kites\nfour kites\n")
    sweep = ["sweep", "four.txt", "--durations", "8", "--yes", "--poll-interval", "0.05"]

    run = Run([*sweep, "--concurrency", "1"], env, tmp_path)
    assert wait_until(
        lambda: (
            (tmp_path / "ledger.sqlite").exists()
            and any(r["status"] in ("PENDING", "PROCESSING") for r in rows(tmp_path))
        ),
        60,
    ), run.output
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("Interrupted: nothing more will be sent (3 queued job(s) cancelled")
    run.wait_for("Press Ctrl-C again to leave them to `seedance-nb resume`")
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 130, run.output
    assert "Left 1 job(s) running on the server" in run.output
    assert "run the same command again to send them" in run.output
    assert stats(sim)["counters"][CREATE] == 1
    in_flight = [r for r in rows(tmp_path) if r["status"] not in ("CANCELLED", "COMPLETED")]
    assert len(in_flight) == 1 and in_flight[0]["task_id"], rows(tmp_path)

    resumed = cli(["resume", "--poll-interval", "0.05"], env, tmp_path)
    assert resumed.code == 0, resumed.output
    assert f"#{in_flight[0]['id']} p1 COMPLETED" in resumed.output

    again = cli(sweep, env, tmp_path)
    assert again.code == 0, again.output
    assert "1 already in the ledger (reused, free): 960 credits to send" in again.output

    counters = stats(sim)
    assert counters["counters"][CREATE] == 4  # exactly one createTask per planned job
    assert counters["duplicate_payloads"] == 0
    done = rows(tmp_path, status="COMPLETED")
    assert sorted(r["label"] for r in done) == ["p1", "p2", "p3", "p4"]
    assert all(Path(r["local_path"]).is_file() for r in done)
    assert len(rows(tmp_path, status="CANCELLED")) == 3  # the first run's, never sent


# ---- one sweep, then status, download, a notebook -----------------------------------------------
@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Two prompts x two takes swept by the CLI on a fresh simulator and ledger."""
    folder = tmp_path_factory.mktemp("cli")
    with sd.simulator.start(api_keys=("sk-cli-sweep",), credits=100_000, speed=0.01) as sim:
        env = environment(sim, folder)
        (folder / "kites.txt").write_text("# two kites\n" + "\n".join(KITES) + "\n")
        run = cli(
            ["sweep", "kites.txt", "--takes", "2", "--yes", "--poll-interval", "0.05"],
            env,
            folder,
        )
        assert run.code == 0, run.output
        yield sim, env, folder, run


def test_sweep_shows_the_plan_and_a_summary(swept):
    sim, _env, folder, run = swept
    out = run.output
    assert "plan for experiment 'kites'" in out
    assert "4 job(s): 800 credits to send" in out
    assert "sweep kites" in out and "4/4" in out  # the progress bar's last state
    assert "4 job(s): 4 COMPLETED; 800 credits used (800 estimated)" in out
    counters = stats(sim)
    assert counters["counters"][CREATE] == 4
    assert counters["duplicate_payloads"] == 2  # the second takes: same request, asked twice
    labels = sorted(r["label"] for r in rows(folder, status="COMPLETED"))
    assert labels == ["p1·t1", "p1·t2", "p2·t1", "p2·t2"]


def test_status_prints_the_ledger_as_a_table(swept):
    _sim, env, folder, _run = swept
    status = cli(["status"], env, folder)
    assert status.code == 0, status.output
    table = [line for line in status.output.splitlines() if "kites" in line]
    assert len(table) == 4, status.output
    assert all("COMPLETED" in line and "200" in line for line in table)
    assert "800 credits spent" in status.output
    assert "outputs/kites/task_" in status.output
    only = cli(["status", "--experiment", "nothing-here", "--limit", "2"], env, folder)
    assert only.code == 0 and "0 of 0 job(s)" in only.output
    missing = cli(["status", "--ledger", str(folder / "nope.sqlite")], env, folder)
    assert missing.code == 1 and "no ledger at" in missing.output


def test_a_rerun_reuses_everything_and_asks_nothing(swept):
    sim, env, folder, _run = swept
    before = stats(sim)["counters"][CREATE]
    again = cli(["sweep", "kites.txt", "--takes", "2", "--poll-interval", "0.05"], env, folder)
    assert again.code == 0, again.output
    assert "4 already in the ledger (reused, free): 0 credits to send" in again.output
    assert "Send" not in again.output  # nothing new: no question
    assert stats(sim)["counters"][CREATE] == before


def test_declining_or_over_budget_sends_nothing(swept):
    sim, env, folder, _run = swept
    before = stats(sim)["counters"][CREATE]
    (folder / "more.txt").write_text("a green kite\n")
    declined = cli(["sweep", "more.txt"], env, folder, stdin="n\n")
    assert declined.code == 1 and "Send 1 new job(s) for 200 credits?" in declined.output
    assert "Nothing sent." in declined.output
    over = cli(["sweep", "more.txt", "--budget", "100", "--yes"], env, folder)
    assert over.code == 1, over.output
    assert "Over budget: the new jobs need 200 credits and 100 are left" in over.output
    assert stats(sim)["counters"][CREATE] == before
    assert rows(folder, experiment="more") == []


def test_download_fetches_a_deleted_video_and_sends_nothing(swept):
    sim, env, folder, _run = swept
    before = stats(sim)["counters"][CREATE]
    victim = rows(folder, status="COMPLETED")[1]
    Path(victim["local_path"]).unlink()
    status = cli(["status"], env, folder)
    assert f"missing outputs/kites/{Path(victim['local_path']).name}" in status.output
    assert "`seedance-nb download` fetches them" in status.output

    fetched = cli(["download", "--poll-interval", "0.05"], env, folder)
    assert fetched.code == 0, fetched.output
    assert "Fetching 1 paid video(s) not on disk (1 whose file was deleted)" in fetched.output
    bar = next(line for line in fetched.output.splitlines() if line.startswith("download"))
    assert "1/1 videos" in bar and "credits" not in bar  # a download spends nothing
    row = rows(folder, id=victim["id"])[0]
    assert row["status"] == "COMPLETED" and Path(row["local_path"]).is_file()
    assert stats(sim)["counters"][CREATE] == before
    nothing = cli(["download"], env, folder)
    assert nothing.code == 0 and "Every paid video is on disk." in nothing.output


NOTEBOOK = [
    "import seedance_nb as sd\nfrom pathlib import Path\n"
    "studio = sd.Studio(experiment='kites', poll_interval=0.05)",
    # the CLI's jobs, with their videos
    "df = studio.ledger.df\nkites = df[df.experiment == 'kites']\n"
    "assert len(kites) == 4 and set(kites.status) == {'COMPLETED'}, kites\n"
    "assert all(Path(p).is_file() for p in kites.local_path)",
    # the same requests in a cell: the CLI's jobs come back, nothing is sent
    f"a = studio.submit(sd.TextToVideo({KITES[0]!r}, duration=5), take=1)\n"
    f"b = studio.submit(sd.TextToVideo({KITES[1]!r}, duration=5), take=1)\n"
    "assert {a.id, b.id} <= set(kites.index), (a, b)\n"
    "assert a.result().status == 'COMPLETED' and a.local_path.is_file()",
    "studio.compare([a, b])",
    "studio.ledger.vote('kites', a.id, [b.id])\nresults = studio.results()\nresults",
    "assert results.loc[a.id, 'wins'] == 1, results\nprint('NOTEBOOK-OK', a.id)",
]


@pytest.mark.timeout(240)
def test_a_notebook_opens_the_cli_ledger_and_sees_jobs_videos_and_votes(swept, monkeypatch):
    sim, env, folder, _run = swept
    before = stats(sim)["counters"][CREATE]
    for name, value in env.items():
        if name.startswith("SEEDANCE_"):
            monkeypatch.setenv(name, value)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    run_and_save(nb, folder, folder / "saved.ipynb", timeout=120)
    printed = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    assert "NOTEBOOK-OK" in printed
    assert stats(sim)["counters"][CREATE] == before  # the notebook paid for nothing

    # and the terminal sees the notebook's vote
    status = cli(["status", "--experiment", "kites"], env, folder)
    winner = printed.split("NOTEBOOK-OK")[1].split()[0]
    table = [[c.strip() for c in ln.split("│")[1:-1]] for ln in status.output.splitlines()]
    header = next(
        c
        for c in [[c.strip() for c in ln.split("┃")[1:-1]] for ln in status.output.splitlines()]
        if "wins" in c
    )
    row = next(c for c in table if c and c[0] == winner)
    assert row[header.index("wins")] == "1", status.output


# ---- the other entry points ---------------------------------------------------------------------
def test_simulator_command_uses_the_simulator_module_options(tmp_path):
    helped = cli(["simulator", "--help"], dict(os.environ), tmp_path)
    assert helped.code == 0
    for option in ("--fail-rate", "--speed", "--data-dir", "--api-key"):
        assert option in helped.output

    with socket_port() as port:
        pass
    server = Run(
        ["simulator", "--port", str(port), "--api-key", "sk-cmd", "--speed", "0.01"],
        dict(os.environ),
        tmp_path,
    )
    server.wait_for("/api/v1")
    base = server.output.strip().splitlines()[0]
    credits = httpx.get(f"{base}/account/credits", headers={"Authorization": "Bearer sk-cmd"})
    assert credits.status_code == 200 and credits.json()["credits"] == 5000
    server.proc.send_signal(signal.SIGINT)
    assert server.finish(30) == 0


def test_console_script_and_help():
    script = Path(sys.executable).with_name("seedance-nb")
    command = [str(script)] if script.exists() else [shutil.which("seedance-nb") or "seedance-nb"]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    for name in ("sweep", "status", "resume", "download", "simulator"):
        assert name in shown.stdout


class socket_port:
    """A free loopback port, released when the block ends (the server binds it next)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return self._sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
