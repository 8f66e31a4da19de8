"""What a researcher sees when things go wrong or take long: one line that says what to do."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

import seedance_nb as sd


def test_a_refused_key_fails_at_once_naming_the_variable_and_the_server(start_sim, tmp_path):
    sim = start_sim()
    with pytest.raises(sd.AuthenticationError) as info:
        sd.Studio(
            client=sd.Client(api_key="bad", base_url=sim.base_url),
            ledger=tmp_path / "l.sqlite",
            verbose=False,
        )
    message = str(info.value)
    assert "SEEDANCE_API_KEY" in message and sim.base_url in message
    assert "bad" not in message.replace("base", "")  # never the key itself
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_good_key_says_where_it_is_connected_and_the_balance(start_sim, tmp_path, capsys):
    sim = start_sim(credits=4321)
    studio = sd.Studio(
        client=sd.Client(api_key=sim.api_key, base_url=sim.base_url), ledger=tmp_path / "l.sqlite"
    )
    studio.close()
    out = capsys.readouterr().out
    assert f"Connected to {sim.base_url}: 4321 credits available." in out.splitlines()[0]


CELLS = [
    "import seedance_nb as sd",
    "sd.TextToVideo('a kite', duration=99)",  # a ValidationError from generated dataclass code
    "sd.Studio(client=sd.Client(api_key='bad', base_url=URL), ledger=LEDGER)",
]


@pytest.mark.timeout(120)
def test_in_ipython_an_error_is_its_message_and_one_frame(start_sim, tmp_path):
    sim = start_sim()
    nb = nbformat.v4.new_notebook()
    setup = f"URL = {sim.base_url!r}\nLEDGER = {str(tmp_path / 'l.sqlite')!r}"
    nb.cells = [nbformat.v4.new_code_cell(src) for src in [setup, *CELLS]]
    NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    for cell, expected in ((nb.cells[2], "duration"), (nb.cells[3], "SEEDANCE_API_KEY")):
        (error,) = [o for o in cell.outputs if o["output_type"] == "error"]
        shown = "\n".join(error["traceback"])
        assert len(error["traceback"]) <= 2, shown
        assert expected in shown and "asyncio" not in shown and "<string>" not in shown
        assert "line 1" in error["traceback"][0]  # the one frame: the cell's own line
