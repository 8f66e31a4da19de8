"""The runtime inside a real Jupyter kernel: work on the kernel's loop, cells stay free,
job.result() and `await job` both work, and the simulator starts by itself with no key."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "import seedance_nb as sd, time, asyncio",
    "studio = sd.Studio(ledger=LEDGER, outputs=OUTPUTS, poll_interval=0.05)\n"
    "assert studio._host.in_kernel, 'background work must run on the kernel loop'",
    "job = studio.submit(sd.TextToVideo('a kite', duration=4), label='A')\njob",
    # the cell returned at once; the job moves while other cells run
    "busy = sum(i * i for i in range(10_000))\nstatus_now = job.status",
    "task = job.result(timeout=60)\nassert task.status == 'COMPLETED', task\n"
    "assert job.local_path.exists()",
    "job2 = studio.submit(sd.TextToVideo('a second kite', duration=4), label='B')\n"
    "task2 = await job2\nassert task2.status == 'COMPLETED'",
    "assert studio.submit(sd.TextToVideo('a kite', duration=4), label='A') is job",
    # studio.wait blocks the cell, not the kernel's loop
    "more = [studio.submit(sd.TextToVideo(f'kite {i}', duration=4)) for i in range(2)]\n"
    "studio.wait(more, timeout=60)\nassert all(j.status == 'COMPLETED' for j in more)",
    "df = studio.ledger.df\nassert list(df['status']) == ['COMPLETED'] * 4\n"
    "studio.close()\nprint('KERNEL-OK')",
]


@pytest.mark.timeout(240)
def test_studio_in_a_real_kernel(tmp_path, monkeypatch):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    monkeypatch.setenv("SEEDANCE_SIM_SPEED", "0.01")
    nb = nbformat.v4.new_notebook()
    setup = f"LEDGER = {str(tmp_path / 'l.sqlite')!r}\nOUTPUTS = {str(tmp_path / 'out')!r}"
    nb.cells = [nbformat.v4.new_code_cell(src) for src in [setup, *CELLS]]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert any("KERNEL-OK" in o.get("text", "") for o in outputs)
    banner = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "offline Seedance2 simulator" in banner and "no credits" in banner
    shown = nb.cells[3].outputs[-1]["data"]  # the job displays as a live TaskView widget
    assert "application/vnd.jupyter.widget-view+json" in shown
    # the job ended two cells later, and the saved card says so with the charge, not the estimate
    assert "text-to-video" in shown["text/plain"]
    assert "COMPLETED · 160 credits" in shown["text/plain"]
    assert os.environ.get("SEEDANCE_API_KEY") is None
