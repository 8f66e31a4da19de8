"""The demo's first impression: how long after Run All the quickstart's first video plays in
JupyterLab, at `make demo`'s simulator speed (0.05), reported with the machine's load.

Run All is pressed once the kernel is up (JupyterLab drops a run asked of a kernel that has
not started); the kernel's own start, from the notebook on screen, is reported beside it.
The video comes by the Jupyter server's URL for the file when it lies under the server's root
(the demo's case), and through the widget's comm when it does not: both are measured, in the
same run, so the URL's gain is a ratio against a baseline of the same run.

The times are reported (printed and as junit properties), not asserted: performance goals live
in benchmarks/ as ratios, and a loaded 2-core machine moves them by seconds. The test asserts
only what must hold: the first card ends COMPLETED with a video that has its first frame,
played from the route the outputs' place calls for.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.waiting import wait_until

from .cells import code_cells, copy_notebook, run_cells, wait_playable

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DEMO_SPEED = "0.05"  # as `make demo` and Binder


def server_seconds(ledger: Path) -> float:
    """How long the simulated service held the first job, send to completion (its ledger
    row): a random draw from the simulator's long-tailed timing, reported so that what the
    rest of the path costs can be read beside it."""
    with sqlite3.connect(ledger) as db:
        sent, done = db.execute(
            "SELECT sent_at, completed_at FROM submissions WHERE label = 'first'"
        ).fetchone()
    return (done - sent) / 1000


def kernel_idle(page, origin: str) -> bool:
    """The server says the notebook's kernel has started and is idle (asked with the page's
    own login)."""
    kernels = page.request.get(f"{origin}/api/kernels").json()
    return any(k.get("execution_state") == "idle" for k in kernels)


@pytest.mark.parametrize("outputs", ["under the root", "outside the root"])
def test_first_video_plays_after_run_all(
    open_page, tmp_path, tmp_path_factory, record_property, outputs
):
    notebook = copy_notebook("01_quickstart.ipynb", tmp_path)
    folder = tmp_path if outputs == "under the root" else tmp_path_factory.mktemp("elsewhere")
    env = {
        "SEEDANCE_LEDGER": str(tmp_path / "ledger.sqlite"),
        "SEEDANCE_OUTPUTS": str(folder / "outputs"),
        "SEEDANCE_SIM_SPEED": DEMO_SPEED,
    }
    page = open_page("lab", notebook, "lab/tree", env)
    code_cells(page)  # the notebook is on screen
    shown = time.monotonic()
    origin = page.url.split("/lab/")[0]
    assert wait_until(lambda: kernel_idle(page, origin), 120), "the kernel never started"
    indicator = page.locator(".jp-Notebook-ExecutionIndicator")
    expect(indicator).to_have_attribute("data-status", "idle", timeout=60_000)
    load_before = os.getloadavg()[0]
    start = time.monotonic()  # the user presses Run All now
    run_cells(page)
    card = page.locator(".sd-task").first
    card.wait_for(timeout=120_000)
    video = card.locator("video")
    wait_playable(page, video, 120)
    seconds = time.monotonic() - start
    load_after = os.getloadavg()[0]
    assert card.locator(".sd-chip").inner_text() == "COMPLETED"
    source = video.evaluate("el => el.src")
    if outputs == "under the root":  # straight from the server, not through the kernel
        assert source.startswith(f"{origin}/files/outputs/quickstart/"), source
    else:
        assert source.startswith("blob:"), source
    route = "comm" if source.startswith("blob:") else "URL"
    held = server_seconds(tmp_path / "ledger.sqlite")
    record_property("route", route)
    record_property("server_seconds", round(held, 2))
    record_property("first_video_seconds", round(seconds, 2))
    record_property("kernel_start_seconds", round(start - shown, 2))
    record_property("load_average", f"{load_before:.2f} -> {load_after:.2f}")
    print(
        f"\nfirst playable video (outputs {outputs}, by {route}) {seconds:.1f} s after Run All "
        f"(goal <= 10 s; the simulated service held the job {held:.1f} s of it), kernel start "
        f"{start - shown:.1f} s before it, simulator speed {DEMO_SPEED}, 1-min load average "
        f"{load_before:.2f} -> {load_after:.2f} on {os.cpu_count()} cores"
    )
