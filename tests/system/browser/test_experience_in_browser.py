"""What a researcher sees while working, in a real JupyterLab: the wait's live progress line,
a failed job's red card with its one-line reason, the takes grid that fills in as videos land,
and the static card a saved notebook keeps when its widget state is gone."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from playwright.sync_api import expect

from .cells import STUDIO, code_cells, run_cells, snap, wait_playable, write_notebook

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def fresh_workspace(monkeypatch, tmp_path_factory):
    """Each server gets its own JupyterLab workspace: the shared default one reopens the last
    test's notebook (a 404) and re-renders this one's cells under the test's feet."""
    monkeypatch.setenv("JUPYTERLAB_WORKSPACES_DIR", str(tmp_path_factory.mktemp("workspaces")))


# What cell `index` showed over time, not only where it ended: every distinct text of its outputs
# that match `pattern`, in order, and the most such outputs seen at once. It watches the whole
# page and finds the cell again on each change, so a re-rendered cell is still followed.
RECORD = """([index, pattern]) => {
  const re = new RegExp(pattern);
  const seen = window.__sdSeen = { texts: [], most: 0 };
  const note = () => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    if (!cell) return;
    const now = [...cell.querySelectorAll('.jp-OutputArea-output')]
      .map((el) => el.textContent.trim()).filter((text) => re.test(text));
    seen.most = Math.max(seen.most, now.length);
    for (const text of now) if (seen.texts.at(-1) !== text) seen.texts.push(text);
  };
  new MutationObserver(note).observe(document.body,
    { subtree: true, childList: true, characterData: true });
}"""

# For a grid in cell `index`: how many cards and videos it had at each change.
RECORD_GRID = """index => {
  const seen = window.__sdGrid = [];
  const note = () => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const grid = cell && cell.querySelector('.sd-compare');
    if (!grid) return;
    const step = [grid.querySelectorAll('.sd-compare-cell').length,
                  grid.querySelectorAll('.sd-compare-cell video').length];
    if (String(seen.at(-1)) !== String(step)) seen.push(step);
  };
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true });
}"""


PROGRESS = [
    STUDIO,
    "jobs = [studio.submit(sd.TextToVideo(f'a paper lantern rising, lantern {i}', duration=4), "
    "experiment='progress') for i in range(9)]\n"
    "studio.wait(jobs)\nprint('WAITED', len(jobs))",
]
LINE = r"\d+/9 done"


def test_wait_shows_one_live_progress_line(open_page, tmp_path, screenshots):
    page = open_page("lab", write_notebook(tmp_path, "progress.ipynb", PROGRESS), "lab/tree")
    cell = code_cells(page).nth(1)
    page.evaluate(RECORD, [1, LINE])
    run_cells(page, 2)

    progress = cell.locator(".jp-OutputArea-output").filter(has_text=re.compile(LINE))
    progress.wait_for(timeout=60_000)
    # caught while it runs: some videos done, some not, and a wait left to show
    page.wait_for_function(
        """() => {
            const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[1];
            return cell && /\\b[1-6]\\/9 done .*eta (~|any moment)/.test(cell.textContent);
        }""",
        polling="raf",
        timeout=60_000,
    )
    snap(cell, screenshots / "progress.png")
    expect(cell).to_contain_text("WAITED 9", timeout=90_000)
    final = progress.inner_text().strip()
    assert re.search(r"9/9 done · 1440 credits \(~1440 planned\)", final), final
    assert "eta" not in final and "without a video" not in final, final

    seen = page.evaluate("window.__sdSeen")
    texts = seen["texts"]
    assert seen["most"] == 1, texts  # one line updated in place, never a line per update
    done = [int(re.search(r"(\d+)/9 done", text).group(1)) for text in texts]
    assert done == sorted(done) and done[0] < 9 and done[-1] == 9, texts
    assert any(0 < d < 9 for d in done), texts  # it moved while the wait ran
    assert all(re.search(r"\d+ credits \(~1440 planned\)", text) for text in texts), texts
    # while it runs it shows a wait: a time, or "any moment" with the p90 once the prediction
    # has passed (never a 0 s that reads as stuck)
    waits = [t for t, d in zip(texts, done, strict=True) if d < 9]
    assert any(re.search(r"eta (~\d|any moment)", t) for t in waits), texts
    assert not any(re.search(r"eta ~0s\b", t) for t in texts), texts
    assert page.errors == []


FAILING = [
    "import seedance_nb as sd\n"
    "sim = sd.simulator.start(speed=0.01, fail_rate=1.0)\n"
    "studio = sd.Studio(client=sd.Client(api_key=sim.api_key, base_url=sim.base_url), "
    "poll_interval=0.05)",
    "job = studio.submit(sd.TextToVideo('a kite in a thunderstorm', duration=4), label='storm')\n"
    "job",
]


def test_a_failed_job_shows_a_red_card_with_its_reason(open_page, tmp_path, screenshots):
    page = open_page("lab", write_notebook(tmp_path, "failing.ipynb", FAILING), "lab/tree")
    run_cells(page, 2)

    card = page.locator(".sd-task.sd-bad")
    card.wait_for(timeout=90_000)
    chip = card.locator(".sd-chip")
    expect(chip).to_have_text("FAILED", timeout=30_000)
    error = card.locator(".sd-error")
    error.wait_for(state="visible", timeout=30_000)
    reason = error.inner_text().strip()
    assert reason and "\n" not in reason and len(reason) < 160, reason
    # one line on screen too, not only in the text
    lines = error.evaluate(
        "el => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).fontSize)"
    )
    assert lines < 2, lines

    page.wait_for_function(  # a full bar, once its width transition has run
        "fill => fill.offsetWidth >= fill.parentElement.offsetWidth - 1",
        arg=card.locator(".sd-fill").element_handle(),
        timeout=30_000,
    )
    assert "waiting in the local queue" not in card.inner_text()
    assert card.locator(".sd-times").inner_text().startswith("elapsed ")
    looks = card.evaluate(
        """el => {
            const fill = el.querySelector('.sd-fill');
            return {
                border: getComputedStyle(el).borderTopColor,
                fill: getComputedStyle(fill).backgroundColor,
                width: fill.offsetWidth / fill.parentElement.offsetWidth,
                chip: getComputedStyle(el.querySelector('.sd-chip')).backgroundColor,
            };
        }"""
    )
    assert looks["border"] == "rgb(240, 168, 168)", looks
    assert looks["fill"] == "rgb(220, 38, 38)", looks  # a red bar, not the blue of a running job
    assert looks["width"] > 0.99, looks
    assert looks["chip"] == "rgb(255, 217, 217)", looks
    assert card.locator("video").count() == 0
    snap(card, screenshots / "failed_card.png")
    assert page.errors == []


TAKES = [
    STUDIO,
    "grid = studio.variations(sd.TextToVideo('a paper boat on a pond at dusk', duration=4), "
    "n=4, experiment='takes')\ngrid",
    "again = studio.variations(sd.TextToVideo('a paper boat on a pond at dusk', duration=4), "
    "n=4, experiment='takes')\n"
    "print('SAME', [j.id for j in again.jobs] == [j.id for j in grid.jobs], "
    "studio.ledger.spent('takes'))",
]


def test_variations_show_a_grid_of_takes_that_fills_in(open_page, tmp_path, screenshots):
    page = open_page("lab", write_notebook(tmp_path, "takes.ipynb", TAKES), "lab/tree")
    cell = code_cells(page).nth(1)
    page.evaluate(RECORD_GRID, 1)
    run_cells(page, 2)

    grid = cell.locator(".sd-compare")
    videos = grid.locator("video")
    videos.nth(3).wait_for(state="attached", timeout=120_000)
    for i in range(4):
        wait_playable(page, videos.nth(i))

    steps = page.evaluate("window.__sdGrid")
    assert steps[0][0] == 4 and steps[0][1] < 4, steps  # all four cards at once, before videos
    assert [cards for cards, _ in steps] == [4] * len(steps), steps
    assert [n for _, n in steps] == sorted(n for _, n in steps), steps
    assert steps[-1] == [4, 4], steps

    cells = grid.locator(".sd-compare-cell")
    assert cells.count() == 4
    assert [cells.nth(i).locator(".sd-compare-label").inner_text() for i in range(4)] == [
        f"take {i}" for i in range(1, 5)
    ]
    boxes = [cells.nth(i).bounding_box() for i in range(4)]
    tops = [round(b["y"]) for b in boxes]
    lefts = [round(b["x"]) for b in boxes]
    assert tops[0] == tops[1] and tops[2] == tops[3] and tops[2] > tops[0], tops  # 2 x 2
    assert lefts[0] == lefts[2] and lefts[1] == lefts[3] and lefts[1] > lefts[0], lefts
    assert all(
        chip == "COMPLETED" for chip in grid.locator(".sd-compare-cell .sd-chip").all_inner_texts()
    )
    page.wait_for_function(  # all four fully buffered before the picture
        "root => [...root.querySelectorAll('video')].every(v => v.readyState === 4)",
        arg=grid.element_handle(),
        timeout=30_000,
    )
    snap(grid, screenshots / "takes_grid.png")

    # asking again reuses the four takes and spends nothing more
    again = page.locator(".jp-Notebook .jp-Cell").nth(2)
    again.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(again).to_contain_text(re.compile(r"SAME (True|False)"), timeout=60_000)
    assert "SAME True 640" in again.inner_text(), again.inner_text()
    assert page.errors == []


STATIC = [
    STUDIO,
    "job = studio.submit(sd.TextToVideo('a lighthouse in the fog', duration=4), label='fog')\njob",
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_a_saved_notebook_shows_the_card_without_widget_state(open_page, tmp_path, screenshots):
    notebook = write_notebook(tmp_path, "static.ipynb", STATIC)
    page = open_page("lab", notebook, "lab/tree")
    run_cells(page, 2)
    card = page.locator(".sd-task").first
    wait_playable(page, card.locator("video"))
    assert card.locator(".sd-chip").inner_text() == "COMPLETED"

    with page.expect_response(
        lambda r: r.request.method == "PUT" and "/api/contents/static.ipynb" in r.url,
        timeout=30_000,
    ) as saved:
        page.keyboard.press("Control+s")
    assert saved.value.ok

    nb = nbformat.read(notebook, as_version=4)
    outputs = nb.cells[1].outputs
    shown = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(shown) == 1, outputs
    data = shown[0]["data"]
    assert "text/html" in data, sorted(data)
    assert "COMPLETED" in data["text/html"] and "160 credits" in data["text/html"]
    assert "data:image/jpeg;base64," in data["text/html"]  # the poster, inline
    assert len(json.dumps(outputs)) < 20_000  # a few KB per video, never the MP4

    # as on GitHub, nbviewer or a colleague's machine: no widget state
    nb.metadata.pop("widgets", None)
    copy = tmp_path / "static-copy.ipynb"
    nbformat.write(nb, copy)
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(copy))
    page.set_content(body, wait_until="domcontentloaded")
    static = page.locator(".sd-task-static")
    static.wait_for(timeout=30_000)
    text = static.inner_text()
    assert "COMPLETED" in text and "160 credits" in text and "fog" in text, text
    assert "a lighthouse in the fog" in text
    image = static.locator("img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100", arg=image.element_handle(), timeout=30_000
    )
    assert "Error displaying widget" not in page.locator("body").inner_text()
    snap(static, screenshots / "static_fallback.png")
    assert page.errors == []
