"""The path repo2docker takes: a fresh venv from binder/requirements.txt runs the quickstart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=180, kernel_name="python3").execute()
print("QUICKSTART-OK")
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_binder_requirements_run_the_quickstart(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    notebook = work / "01_quickstart.ipynb"
    notebook.write_bytes((ROOT / "notebooks" / "01_quickstart.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "SEEDANCE_API_KEY"}
    env.update(SEEDANCE_SIM_SPEED="0.01", SEEDANCE_LEDGER="", SEEDANCE_OUTPUTS="")
    run = subprocess.run(
        [str(python), "-c", RUN, str(notebook)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "QUICKSTART-OK" in run.stdout, run.stderr[-3000:]
    assert (work / "seedance-ledger.sqlite").exists() and list(work.glob("outputs/*/*.mp4"))
