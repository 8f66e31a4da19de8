"""Saved notebooks read right: a notebook executed by nbclient (nbconvert, papermill) saves the
finished card of a job that ended cells later, and the shipped notebooks are already in the
form JupyterLab writes, so opening one does not mark it modified."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def language_info():
    """What the python3 kernel tells JupyterLab, which Lab writes into the metadata on open."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        return kc.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shipped_notebooks_carry_what_jupyterlab_writes(path, language_info):
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert text == nbformat.writes(nb) + "\n"  # the server's own layout: keys sorted, indent 1
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")  # Lab writes its display name
    assert nb.metadata.kernelspec == {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": "python3",
    }
    shipped = dict(nb.metadata.language_info)
    # the Python version is the one machine-specific field: the demo's Python writes the same
    assert shipped.pop("version").split(".")[:2] == language_info["version"].split(".")[:2]
    assert shipped == {k: v for k, v in language_info.items() if k != "version"}
    for cell in nb.cells:
        assert cell.get("id") and cell.metadata == {}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.timeout(180)
def test_nbclient_saves_the_finished_card_of_a_job_that_ends_two_cells_later(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    monkeypatch.setenv("SEEDANCE_SIM_SPEED", "0.05")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import seedance_nb as sd\n"
            f"studio = sd.Studio(ledger={str(tmp_path / 'l.sqlite')!r}, "
            f"outputs={str(tmp_path / 'out')!r}, poll_interval=0.05, verbose=False)\n"
            "job = studio.submit(sd.TextToVideo('a boat at dusk', duration=4))\n"
            "job"
        ),
        nbformat.v4.new_code_cell("note = 'the job is still running here'"),
        nbformat.v4.new_code_cell("job.result(timeout=120).status"),
    ]
    NotebookClient(nb, timeout=150, kernel_name="python3", resources={"metadata": {}}).execute()
    (card,) = [o for o in nb.cells[0].outputs if o.get("output_type") == "display_data"]
    static = card["data"]["text/html"]
    assert "<b>COMPLETED</b>" in static and "160 credits" in static
    assert 'src="data:image/jpeg;base64,' in static  # and its poster
    assert "COMPLETED" in json.dumps(nb.cells[2].outputs)
    saved = tmp_path / "run.ipynb"
    nbformat.write(nb, saved)
    assert "QUEUED" not in saved.read_text().split("COMPLETED")[0][-2000:]
