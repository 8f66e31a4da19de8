"""The shipped quickstart (notebooks/01_quickstart.ipynb) in each classic frontend, driven in
Debian's Chromium: JupyterLab, Notebook 7 and Voilà. Each runs the same story: the card turns
into a playing video, the builder's price follows its slider, Generate sends once, and
Compare plays in step and takes a vote. What was sent is judged by the ledger the kernel wrote.
"""

from __future__ import annotations

import re

import pytest

import seedance_nb as sd
from tests.waiting import wait_until

from .cells import (
    IN_STEP,
    PLAYING,
    copy_notebook,
    run_cells,
    snap,
    wait_js,
    wait_playable,
    wait_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]  # a whole story, on 2 busy cores

QUICKSTART = "01_quickstart.ipynb"
FRONTENDS = {  # app, where it shows a notebook, whether the page runs the cells itself
    "jupyterlab": ("lab", "lab/tree", False),
    "notebook7": ("notebook", "notebooks", False),
    "voila": ("lab", "voila/render", True),
}
PROMPT = "a paper boat on a pond"
SLIDE = "(s, v) => { s.value = v; s.dispatchEvent(new Event('input', { bubbles: true })) }"


def rows(ledger_path, **where) -> list[dict]:
    ledger = sd.Ledger(ledger_path)
    try:
        return ledger.rows(**where)
    finally:
        ledger.close()


def votes(ledger_path) -> int:
    ledger = sd.Ledger(ledger_path)
    try:
        return len(ledger.votes("quickstart"))
    finally:
        ledger.close()


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_the_quickstart_story(frontend, open_page, tmp_path, screenshots):
    app, path, runs_itself = FRONTENDS[frontend]
    notebook = copy_notebook(QUICKSTART, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    env = {"SEEDANCE_LEDGER": str(ledger), "SEEDANCE_OUTPUTS": str(tmp_path / "outputs")}
    page = open_page(app, notebook, path, env)
    if not runs_itself:
        run_cells(page)

    # the card turns into a playing video
    card = page.locator(".sd-task").first
    card.wait_for(timeout=120_000)
    video = card.locator("video")
    wait_playable(page, video, 120)
    # play it, and again if the card was re-published at the cell's end (Lab then re-creates
    # the element, paused: a known reload, see the closing note of this stage)
    replay = "v => { if (v.paused) { v.muted = true; v.play().catch(() => {}); } return true }"
    wait_js(video, f"v => ({replay})(v) && ({PLAYING})(v)", 30)
    assert card.locator(".sd-chip").inner_text() == "COMPLETED"
    snap(card, screenshots / f"{frontend}_task_view.png")

    # the builder: quiet, priced, and its price follows the slider before any prompt
    builder = page.locator(".sd-builder")
    builder.wait_for(timeout=120_000)
    estimate = builder.locator(".sd-estimate")
    wait_text(estimate, re.compile(r"^~200 credits"))
    builder.get_by_label("seconds").evaluate(SLIDE, "8")
    wait_text(estimate, re.compile(r"^~320 credits"))
    assert builder.locator(".sd-invalid").count() == 0
    assert "Type a prompt" in builder.locator(".sd-hint").inner_text()
    generate = builder.get_by_role("button", name="Generate", exact=True)
    assert generate.is_disabled()
    builder.get_by_placeholder("Describe the video…").fill(PROMPT)
    wait_text(estimate, "320 credits")
    wait_js(generate, "b => !b.disabled", 30)
    snap(builder, screenshots / f"{frontend}_builder.png")

    # Generate sends once, even pressed twice in a row, and its card plays in the builder
    generate.evaluate("b => { b.click(); b.click(); }")
    built = builder.locator(".sd-task")
    built.wait_for(timeout=60_000)
    wait_playable(page, built.locator("video"), 120)
    assert built.count() == 1
    assert len(rows(ledger, prompt=PROMPT)) == 1

    # Compare: the takes play in step and take a vote
    grid = page.locator(".sd-compare")
    videos = grid.locator("video")
    videos.nth(1).wait_for(state="attached", timeout=120_000)
    for i in range(2):
        wait_playable(page, videos.nth(i), 120)
    grid.get_by_role("button", name=re.compile("play all")).click()
    wait_js(grid, IN_STEP, 30)
    grid.get_by_role("button", name="prefer").first.click()
    assert wait_until(lambda: votes(ledger) == 1, 30)
    snap(grid, screenshots / f"{frontend}_compare.png")
    page.screenshot(path=str(screenshots / f"{frontend}.png"), full_page=True)
    # Notebook 7's own bundle throws one TypeError while it starts (reading 'schema'); it is
    # not ours, so only errors from anywhere else count
    page.check(ignore="/static/notebook/")
