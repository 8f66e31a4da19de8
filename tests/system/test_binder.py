"""The path repo2docker takes: a fresh venv from binder/requirements.txt runs the quickstart, and
has Voila's server extension, which opens it as a dashboard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=180, kernel_name="python3").execute()
print("QUICKSTART-OK")
"""
# pip's cache in one place that outlives the test's tmp_path (and is shared by every checkout), so
# a second run installs from cached wheels instead of downloading and building them again
PIP_CACHE = Path(os.environ.get("SEEDANCE_PIP_CACHE", Path.home() / ".cache" / "seedance-nb-pip"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_binder_requirements_run_the_quickstart(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "PIP_NO_CACHE_DIR"},
            "PIP_CACHE_DIR": str(PIP_CACHE),
        },
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    # the package's JupyterLab override lands where Binder's Lab reads it: widget state is saved
    # with the notebook, so a card reopened without its kernel still renders
    override = venv / "share/jupyter/lab/settings/overrides.d/seedance-nb.json"
    assert json.loads(override.read_text()) == {
        "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}
    }
    # Binder's urlpath=voila/render/... needs Voila's server extension enabled and importable
    extensions = subprocess.run(
        [str(python), "-m", "jupyter", "server", "extension", "list"],
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
    )
    listed = extensions.stdout + extensions.stderr
    assert re.search(r"voila\.server_extension\s+\S*enabled", listed), listed[-2000:]
    assert re.search(r"voila\.server_extension\s+\S*OK", listed), listed[-2000:]
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
