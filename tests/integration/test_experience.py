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


SAVED_CELLS = [
    "import seedance_nb as sd\n"
    "studio = sd.Studio(ledger=LEDGER, outputs=OUTPUTS, poll_interval=0.05)",
    "job = studio.submit(sd.TextToVideo('a red kite over green hills', duration=4))\njob",
    "more = [studio.submit(sd.TextToVideo(f'kite {i}', duration=4)) for i in range(3)]\n"
    "studio.wait(more, timeout=120);",
    "job.result(timeout=120).status",
    "job",  # shown again once it has ended
]


@pytest.mark.timeout(240)
def test_a_saved_notebook_shows_results_without_widget_state_and_waits_show_progress(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    monkeypatch.setenv("SEEDANCE_SIM_SPEED", "0.01")
    nb = nbformat.v4.new_notebook()
    setup = f"LEDGER = {str(tmp_path / 'l.sqlite')!r}\nOUTPUTS = {str(tmp_path / 'out')!r}"
    nb.cells = [nbformat.v4.new_code_cell(src) for src in [setup, *SAVED_CELLS]]
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    nbformat.write(nb, tmp_path / "saved.ipynb")
    saved = nbformat.read(tmp_path / "saved.ipynb", as_version=4)
    saved.metadata.pop("widgets", None)  # a colleague's machine, GitHub, nbviewer

    (shown,) = [o for o in saved.cells[5].outputs if "data" in o]
    card = shown["data"]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]  # the live view too
    assert "COMPLETED" in card and "160 credits" in card and "a red kite" in card
    assert 'src="data:image/jpeg;base64,' in card and str(tmp_path / "out") in card
    assert "<video" not in card and len(card) < 12_000  # a poster, never the video

    waited = "".join(o.get("data", {}).get("text/plain", "") for o in saved.cells[3].outputs)
    assert "3/3 done" in waited and "credits" in waited  # the wait's live line, final state


@pytest.mark.timeout(120)
def test_a_card_shown_while_running_is_replaced_by_its_final_static_card(tmp_path, monkeypatch):
    """The kernel republishes the card's display when the job ends, so the frontend (and the
    file it saves) holds the finished card, not the QUEUED one it first showed."""
    from jupyter_client.manager import start_new_kernel

    monkeypatch.delenv("SEEDANCE_API_KEY", raising=False)
    monkeypatch.setenv("SEEDANCE_SIM_SPEED", "0.01")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        code = (
            "import seedance_nb as sd\n"
            f"studio = sd.Studio(ledger={str(tmp_path / 'l.sqlite')!r}, "
            f"outputs={str(tmp_path / 'out')!r}, poll_interval=0.05, verbose=False)\n"
            "job = studio.submit(sd.TextToVideo('a boat at dusk', duration=4))\n"
            "display(job)\njob.result(timeout=60)\nNone"
        )
        kc.execute(code)
        first, final = None, None
        while final is None:
            msg = kc.get_iopub_msg(timeout=60)
            content, kind = msg["content"], msg["msg_type"]
            display_id = content.get("transient", {}).get("display_id")
            if kind == "display_data" and display_id and first is None:
                first = display_id
                assert "QUEUED" in content["data"]["text/html"]
            elif (  # the poster is made off the loop: the card republished after the cell has it
                kind == "update_display_data"
                and display_id == first
                and "COMPLETED" in content["data"].get("text/html", "")
                and 'src="data:image/jpeg;base64,' in content["data"]["text/html"]
            ):
                final = content["data"]["text/html"]
        assert "160 credits" in final
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
