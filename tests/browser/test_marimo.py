"""The marimo quickstart in `marimo edit`, driven in Debian's Chromium: the card goes live and
its video plays, an edited upstream cell re-runs the submit cell and spends nothing twice, and
Generate in the builder adds a job. Spending is judged by the simulator's own counters."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import seedance_nb as sd
from tests.waiting import wait_until

from .conftest import _free_port

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "marimo_quickstart.py"
CREATE = "requests POST /api/v1/jobs/createTask"
PLAYABLE = "el => el.readyState >= 2 && el.videoWidth > 0"
LIVE = ("QUEUED", "SENDING", "PENDING", "PROCESSING", "DOWNLOADING")


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


class Marimo:
    """`marimo edit` on a copy of the notebook, with its own config (cells run on open)."""

    def __init__(self, folder: Path, sim) -> None:
        self.port = _free_port()
        self.folder = folder
        notebook = folder / NOTEBOOK.name
        shutil.copy(NOTEBOOK, notebook)  # marimo saves edits: never into the repository
        config = folder / "config" / "marimo"
        config.mkdir(parents=True)
        (config / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
        env.update(
            XDG_CONFIG_HOME=str(folder / "config"),
            XDG_CACHE_HOME=str(folder / "cache"),
            XDG_STATE_HOME=str(folder / "state"),
            SEEDANCE_API_KEY=sim.api_key,
            SEEDANCE_BASE_URL=sim.base_url,
            SEEDANCE_LEDGER=str(folder / "ledger.sqlite"),
            SEEDANCE_OUTPUTS=str(folder / "outputs"),
        )
        self.log = (folder / "marimo.log").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marimo",
                "-y",
                "edit",
                str(notebook),
                "--headless",
                "--no-token",
                f"--port={self.port}",
                "--host=127.0.0.1",
                "--skip-update-check",
                "--no-sandbox",
            ],
            cwd=folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)  # waiting for a process to listen: nothing to subscribe to
        self.stop()
        raise RuntimeError(f"marimo did not start; see {folder / 'marimo.log'}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def marimo(start_sim, tmp_path):
    # slow enough that the first card is on screen while its task still runs
    sim = start_sim(api_keys=("sk-marimo",), credits=100_000, speed=0.1)
    server = Marimo(tmp_path, sim)
    yield server, sim
    server.stop()


def created(sim) -> int:
    stats = httpx.get(sim.base_url.removesuffix("/api/v1") + "/_simulator/stats").json()
    return stats["counters"].get(CREATE, 0)


def votes(folder: Path) -> list:
    ledger = sd.Ledger(folder / "ledger.sqlite")
    try:
        return ledger.votes("marimo-quickstart").to_dict("records")
    finally:
        ledger.close()


def wait_playable(page, video, timeout=90_000):
    video.wait_for(state="attached", timeout=timeout)
    page.wait_for_function(PLAYABLE, arg=video.element_handle(), timeout=timeout)


def submitted_card(page):
    """The TaskView the submit cell shows (the first card on the page) and its model id."""
    host = page.locator("marimo-anywidget").first
    return host.locator(".sd-task"), host.get_attribute("data-model-id")


def test_marimo_card_goes_live_reruns_spend_nothing_and_generate_adds_a_job(
    browser, marimo, screenshots
):
    server, sim = marimo
    page = browser.new_context(viewport={"width": 1280, "height": 1600}).new_page()
    errors, foreign = [], []
    page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
    origin = urlsplit(server.url).netloc
    page.on(
        "request",
        lambda r: (
            urlsplit(r.url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(r.url).netloc != origin
            and foreign.append(r.url)
        ),
    )
    try:
        page.goto(server.url)
        page.evaluate(WATCH_FIRST_CARD)

        # the card goes live: seen moving, then COMPLETED, and its video plays
        card, model_id = submitted_card(page)
        card.wait_for(timeout=90_000)
        page.wait_for_function("() => window.sdSeen.at(-1) === 'COMPLETED'", timeout=90_000)
        seen = page.evaluate("() => window.sdSeen")
        assert any(s in LIVE for s in seen), seen
        video = card.locator("video")
        wait_playable(page, video)
        video.evaluate("v => { v.muted = true; return v.play() }")
        page.wait_for_function(
            "v => !v.paused && v.currentTime > 0.2", arg=video.element_handle(), timeout=30_000
        )
        card.scroll_into_view_if_needed()
        card.screenshot(path=str(screenshots / "marimo_task_view.png"))

        # the comparison: a second prompt beside it, both playing, and a vote in the ledger
        wait_playable(page, page.locator(".sd-task", has_text="sunrise").locator("video"))
        spent = created(sim)
        assert spent == 2
        page.get_by_role("button", name="prefer first").click()
        assert wait_until(lambda: len(votes(server.folder)) == 1, 30)
        page.get_by_text("win_rate").first.wait_for(timeout=30_000)

        # edit the upstream cell that builds the request: marimo re-runs the submit cell...
        editor = page.locator(".cm-content", has_text=re.compile(r"^req = sd\.TextToVideo"))
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("  # edited upstream")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        page.wait_for_function(
            "id => document.querySelector('marimo-anywidget')?.dataset.modelId !== id",
            arg=model_id,
            timeout=60_000,
        )
        card, model_id = submitted_card(page)
        card.locator(".sd-chip", has_text="COMPLETED").wait_for(timeout=60_000)
        # ...and the same job comes back: nothing sent, one row
        assert "#1 first" in card.locator(".sd-title").inner_text()
        assert created(sim) == spent
        rows = page.locator("#sd-rows")
        assert rows.inner_text() == "2"

        # so does editing the label, which never decides whether a request is new
        label = page.get_by_label("label", exact=True)
        label.fill("renamed")
        label.press("Enter")
        page.wait_for_function(
            "id => document.querySelector('marimo-anywidget')?.dataset.modelId !== id",
            arg=model_id,
            timeout=60_000,
        )
        assert created(sim) == spent

        # the builder: a prompt prices it, Generate adds one job whose card plays
        prompt = page.get_by_placeholder("Describe the video…")
        prompt.fill("a paper boat on a pond")
        prompt.press("Tab")
        page.get_by_text("200 credits").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Generate", exact=True).click()
        built = page.locator(".sd-task", has_text="builder")
        built.wait_for(timeout=60_000)
        wait_playable(page, built.locator("video"))
        assert created(sim) == spent + 1
        built.scroll_into_view_if_needed()
        built.screenshot(path=str(screenshots / "marimo_builder.png"))
        page.screenshot(path=str(screenshots / "marimo.png"))

        assert errors == []
        assert foreign == [], foreign
    finally:
        page.screenshot(path=str(screenshots / "marimo-last.png"))
        page.context.close()
