"""The marimo quickstart in `marimo edit`, driven in Debian's Chromium: the card goes live and
its video plays, the builder's price follows its slider and Generate sends once, Compare plays
in step and takes a vote (which re-runs the cell below that reads it), and an edited upstream
cell re-runs the submit cell and spends nothing. Spending is judged by the simulator's own
counters."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

import seedance_nb as sd
from tests.waiting import wait_until

from .cells import (
    IN_STEP,
    NOTEBOOKS,
    PLAYING,
    Marimo,
    guard,
    snap,
    wait_js,
    wait_playable,
    wait_text,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]  # a whole story, on 2 busy cores

CREATE = "requests POST /api/v1/jobs/createTask"
LIVE = ("QUEUED", "SENDING", "PENDING", "PROCESSING", "DOWNLOADING")
LEDGER = "seedance-ledger.sqlite"

# every state the first card's chip shows, from before it exists (marimo puts each anywidget in
# the open shadow root of a <marimo-anywidget>)
WATCH_FIRST_CARD = """() => {
  window.sdSeen = [];
  const tick = () => {
    const chip = document.querySelector('marimo-anywidget')?.shadowRoot?.querySelector('.sd-chip');
    if (chip && window.sdSeen.at(-1) !== chip.textContent) window.sdSeen.push(chip.textContent);
    if (window.sdSeen.at(-1) !== 'COMPLETED') requestAnimationFrame(tick);
  };
  tick();
}"""


@pytest.fixture
def marimo(start_sim, tmp_path):
    # slow enough that the first card is on screen while its task still runs
    sim = start_sim(api_keys=("sk-marimo",), credits=100_000, speed=0.1)
    notebook = tmp_path / "nb" / "marimo_quickstart.py"
    notebook.parent.mkdir()
    shutil.copy(NOTEBOOKS / notebook.name, notebook)  # marimo saves edits: never into the repo
    env = {"SEEDANCE_API_KEY": sim.api_key, "SEEDANCE_BASE_URL": sim.base_url}
    server = Marimo(tmp_path, notebook, env)  # started elsewhere: the ledger goes beside it
    yield server, sim, notebook.parent
    server.stop()


def created(sim) -> int:
    stats = httpx.get(sim.base_url.removesuffix("/api/v1") + "/_simulator/stats").json()
    return stats["counters"].get(CREATE, 0)


def votes(folder: Path) -> list:
    ledger = sd.Ledger(folder / LEDGER)
    try:
        return ledger.votes("marimo-quickstart").to_dict("records")
    finally:
        ledger.close()


def submitted_card(page):
    """The card the submit cell shows (the first widget on the page) and its model id."""
    host = page.locator("marimo-anywidget").first
    return host.locator(".sd-task"), host.get_attribute("data-model-id")


def rerun_replaced(page, model_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector('marimo-anywidget')?.dataset.modelId !== id",
        arg=model_id,
        timeout=60_000,
    )


def test_marimo_card_builder_and_reruns_that_spend_nothing(browser, marimo, screenshots):
    server, sim, folder = marimo
    page = browser.new_context(viewport={"width": 1280, "height": 1600}).new_page()
    check = guard(page, server.url)
    try:
        page.goto(server.url)
        page.evaluate(WATCH_FIRST_CARD)

        # `job` alone shows a live card: seen moving, then COMPLETED, and its video plays
        card, model_id = submitted_card(page)
        card.wait_for(timeout=90_000)
        page.wait_for_function("() => window.sdSeen.at(-1) === 'COMPLETED'", timeout=90_000)
        seen = page.evaluate("() => window.sdSeen")
        assert any(s in LIVE for s in seen), seen
        video = card.locator("video")
        wait_playable(page, video)
        video.evaluate("v => { v.muted = true; return v.play() }")
        wait_js(video, PLAYING, 30)
        card.scroll_into_view_if_needed()
        snap(card, screenshots / "marimo_task_view.png")
        assert (folder / LEDGER).exists() and (folder / "outputs").is_dir()  # beside it

        # the comparison's second job is in; both were sent once
        wait_until(lambda: created(sim) == 2, 90)
        spent = created(sim)
        assert spent == 2

        # the builder: the price follows the slider before a prompt, with no complaint
        builder = page.locator(".sd-builder")
        builder.wait_for(timeout=60_000)
        estimate = builder.locator(".sd-estimate")
        wait_text(estimate, re.compile(r"^~200 credits"))
        builder.get_by_label("seconds").evaluate(
            "s => { s.value = '8'; s.dispatchEvent(new Event('input', { bubbles: true })) }"
        )
        wait_text(estimate, re.compile(r"^~320 credits"))
        assert builder.locator(".sd-invalid").count() == 0
        builder.get_by_placeholder("Describe the video…").fill("a paper boat on a pond")
        wait_text(estimate, "320 credits")
        generate = builder.get_by_role("button", name="Generate", exact=True)
        wait_js(generate, "b => !b.disabled", 30)
        page.get_by_text('"a paper boat on a pond"').first.wait_for(timeout=30_000)
        generate.evaluate("b => { b.click(); b.click(); }")  # a double press sends once
        # the cell under the builder shows its one job, which plays
        built = page.locator(".sd-task", has_text="a paper boat on a pond")
        built.wait_for(timeout=60_000)
        wait_playable(page, built.locator("video"))
        assert created(sim) == spent + 1 and built.count() == 1
        spent += 1
        snap(builder, screenshots / "marimo_builder.png")

        # edit the upstream cell that builds the request: marimo re-runs the submit cell...
        card, model_id = submitted_card(page)
        editor = page.locator(".cm-content", has_text=re.compile(r"^req = sd\.TextToVideo"))
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("  # edited upstream")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        rerun_replaced(page, model_id)
        card, model_id = submitted_card(page)
        card.locator(".sd-chip", has_text="COMPLETED").wait_for(timeout=60_000)
        # ...and the same job comes back: nothing sent, and its own count says one
        assert "#1 first" in card.locator(".sd-title").inner_text()
        assert created(sim) == spent
        wait_text(page.locator("#sd-rows"), "1")

        # so does editing the label, which never decides whether a request is new
        label = page.get_by_test_id("marimo-plugin-text-input").first  # the label cell
        label.fill("renamed")
        label.press("Enter")
        rerun_replaced(page, model_id)
        assert created(sim) == spent
        page.screenshot(path=str(screenshots / "marimo.png"))
        check()
    finally:
        page.screenshot(path=str(screenshots / "marimo-last.png"))
        page.context.close()


def test_marimo_compare_plays_in_step_and_takes_a_vote(browser, marimo, screenshots):
    server, _sim, folder = marimo
    page = browser.new_context(viewport={"width": 1280, "height": 1600}).new_page()
    check = guard(page, server.url)
    try:
        page.goto(server.url)
        # Compare: both play, in step, and a vote lands in the ledger
        grid = page.locator(".sd-compare")
        videos = grid.locator("video")
        videos.nth(1).wait_for(state="attached", timeout=90_000)
        for i in range(2):
            wait_playable(page, videos.nth(i))
        grid.get_by_role("button", name=re.compile("play all")).click()
        for i in range(2):
            wait_js(videos.nth(i), PLAYING, 30)
        wait_js(grid, IN_STEP, 30)
        tally = page.locator("#sd-ballots")  # the cell below reads compare.value
        wait_text(tally, "0", 60)
        grid.get_by_role("button", name="prefer").first.click()
        assert wait_until(lambda: len(votes(folder)) == 1, 30)
        wait_text(tally, "1", 60)  # the vote re-ran the cell below: a reactive value
        page.get_by_text("win_rate").first.wait_for(timeout=30_000)
        grid.get_by_role("button", name=re.compile("undo")).click()
        assert wait_until(lambda: len(votes(folder)) == 0, 30)
        wait_text(tally, "0", 60)  # and so did the undo
        snap(grid, screenshots / "marimo_compare.png")
        check()
    finally:
        page.screenshot(path=str(screenshots / "marimo-compare-last.png"))
        page.context.close()
