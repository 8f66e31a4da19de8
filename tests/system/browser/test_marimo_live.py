"""A card's video arrives in marimo while another cell blocks: marimo answers a view's request
only between cells, so the card pushes its video from a worker thread when the job ends. The
blocking cell waits on a socket this test holds, so it provably runs until the test lets go."""

from __future__ import annotations

import socket

import pytest

from .cells import PLAYING, Marimo, guard, wait_js, wait_playable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOK = '''import marimo

app = marimo.App()


@app.cell
def _():
    import socket

    import seedance_nb as sd

    studio = sd.Studio(experiment="live", poll_interval=0.05)
    return sd, socket, studio


@app.cell
def _(sd, studio):
    job = studio.submit(sd.TextToVideo("a paper lantern drifting over a lake", duration=4))
    job
    return (job,)


@app.cell
def _(job, socket):
    job.result()  # blocks while the job runs and ends...
    with socket.create_connection(("127.0.0.1", GATE)) as _gate:
        _gate.recv(1)  # ...and after, until the test lets go
    _done = "released by " + "the test"  # shown only once this cell ends
    _done
    return


if __name__ == "__main__":
    app.run()
'''


RELEASED = "released by the test"


def test_a_card_plays_its_video_while_another_cell_blocks(browser, start_sim, tmp_path):
    sim = start_sim(api_keys=("sk-live",), credits=10_000, speed=0.05)
    gate = socket.create_server(("127.0.0.1", 0))
    folder = tmp_path / "nb"
    folder.mkdir()
    notebook = folder / "live.py"
    notebook.write_text(NOTEBOOK.replace("GATE", str(gate.getsockname()[1])))
    env = {"SEEDANCE_API_KEY": sim.api_key, "SEEDANCE_BASE_URL": sim.base_url}
    server = Marimo(tmp_path, notebook, env)
    page = browser.new_context(viewport={"width": 1280, "height": 1200}).new_page()
    check = guard(page, server.url)
    try:
        page.goto(server.url)
        card = page.locator("marimo-anywidget").first.locator(".sd-task")
        card.wait_for(timeout=90_000)
        card.locator(".sd-chip", has_text="COMPLETED").wait_for(timeout=90_000)
        video = card.locator("video")
        wait_playable(page, video)  # while the last cell still blocks on the gate
        video.evaluate("v => { v.muted = true; return v.play() }")
        wait_js(video, PLAYING, 30)
        assert page.get_by_text(RELEASED).count() == 0  # still blocked: the gate is shut
        held, _ = gate.accept()  # the blocking cell did connect: now let it go
        held.close()
        page.get_by_text(RELEASED).wait_for(timeout=60_000)  # it finishes only now
        check()
    finally:
        page.screenshot(path=str(tmp_path / "marimo-live-last.png"))
        page.context.close()
        server.stop()
        gate.close()
