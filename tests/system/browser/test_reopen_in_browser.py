"""A notebook reopened in JupyterLab after its kernel is gone shows its cards, not "Error
displaying widget: model not found".

Lab's widget renderer outranks a card's text/html fallback, so the way that works is the one the
package ships: a JupyterLab settings override (installed into share/jupyter/lab/settings/
overrides.d with the package) that makes Lab save widget state with the notebook. The server
here reads that very file, so the test exercises what ships."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from .cells import ROOT, STUDIO, run_cell, wait_js, write_notebook

pytestmark = pytest.mark.browser

OVERRIDE = ROOT / "jupyter-config" / "lab" / "settings" / "overrides.d" / "seedance-nb.json"
STATE = "application/vnd.jupyter.widget-state+json"
CARD = [
    STUDIO,
    "job = studio.submit(sd.TextToVideo('a lighthouse at dawn, waves below', duration=4))\n"
    "studio.wait([job])\njob",
]


def shipped_settings(folder: Path) -> list[str]:
    """Lab's app settings folder holding only the package's override, as an install lays it
    out ({sys.prefix}/share/jupyter/lab/settings/overrides.d/)."""
    settings = folder / "lab-settings"
    (settings / "overrides.d").mkdir(parents=True)
    shutil.copy(OVERRIDE, settings / "overrides.d" / OVERRIDE.name)
    return [f"--LabApp.app_settings_dir={settings}"]


def run_to_the_end(page, index: int) -> None:
    """Run code cell `index` until it has finished: under load Lab has been seen to take a run
    (its prompt shows [*]) and drop it back to [ ], so a dropped run is asked again (re-running
    the card cell submits nothing new: the studio hands back the same job)."""
    prompt = run_cell(page, index).locator(".jp-InputPrompt")
    for _ in range(3):
        expect(prompt).to_have_text(re.compile(r"^\[(\d+| )\]:?$"), timeout=180_000)
        if re.search(r"\d", prompt.inner_text()):
            return
        run_cell(page, index)
    raise AssertionError(f"code cell {index} never finished")


def shut_the_kernel_down(page) -> None:
    """End the notebook's session and its kernel, as a restart of the machine would."""
    server = page.server
    sessions = httpx.get(f"{server.url}/api/sessions", params={"token": server.token}).json()
    assert sessions, "the notebook had no session"
    for session in sessions:
        gone = httpx.delete(
            f"{server.url}/api/sessions/{session['id']}", params={"token": server.token}
        )
        assert gone.status_code == 204, gone.text
    assert httpx.get(f"{server.url}/api/kernels", params={"token": server.token}).json() == []


def test_a_card_reopened_without_its_kernel_shows_its_content(open_page, tmp_path):
    notebook = write_notebook(tmp_path, "reopen.ipynb", CARD)
    page = open_page("lab", notebook, "lab/tree", args=shipped_settings(tmp_path))
    for index in range(len(CARD)):
        run_to_the_end(page, index)
    card = page.locator(".sd-task")
    expect(card.locator(".sd-chip")).to_have_text("COMPLETED", timeout=120_000)
    # the poster has arrived, so the state saved next carries it
    wait_js(card.locator("video"), "v => v.poster.startsWith('blob:')", timeout=60)

    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=30_000)
    saved = json.loads(notebook.read_text())["metadata"].get("widgets", {}).get(STATE, {})
    cards = [m["state"] for m in saved.get("state", {}).values() if "job_id" in m["state"]]
    assert [c["status"] for c in cards] == ["COMPLETED"], cards
    job_id = cards[0]["job_id"]  # 1 in a fresh ledger; the server's shared one may hold more

    shut_the_kernel_down(page)
    page.reload()
    card = page.locator(".sd-task")
    expect(card.locator(".sd-chip")).to_have_text("COMPLETED", timeout=90_000)
    expect(card.locator(".sd-title")).to_have_text(re.compile(rf"^#{job_id} text-to-video"))
    expect(card.locator(".sd-prompt")).to_have_text("a lighthouse at dawn, waves below")
    wait_js(card.locator("video"), "v => v.poster.startsWith('blob:')", timeout=30)
    expect(page.get_by_text(re.compile("model not found"))).to_have_count(0)
    assert page.errors == []
