"""Run a notebook in a real kernel and save it as JupyterLab would, widget state included."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run_and_save(nb: nbformat.NotebookNode, cwd: Path, saved: Path, timeout: int = 300) -> None:
    """Execute `nb` top to bottom in a fresh python3 kernel started in `cwd`; write it to `saved`.

    The kernel inherits this process's environment, so tests set SEEDANCE_* before calling.
    """
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(cwd)}},
    ).execute()
    nbformat.write(nb, saved)
