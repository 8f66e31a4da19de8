"""What the views show in a real JupyterLab: blind A/B voting from the keyboard with undo, the
ledger's plot as an image in a dark theme, the short ledger table, and a portrait video that
fits the window."""

from __future__ import annotations

import json

import pytest

from .cells import PLAYABLE, run_cell, run_cells, snap, wait_text, write_notebook

pytestmark = pytest.mark.browser


BLIND = [
    "import seedance_nb as sd\nstudio = sd.Studio(poll_interval=0.05)",
    "jobs = [studio.submit(sd.TextToVideo(f'a {c} kite at dawn, over hills', duration=4), "
    "experiment='blind', label=f'label-{c}') for c in ('red', 'blue', 'green', 'gold')]\n"
    "studio.wait(jobs)\n"
    "grid = sd.widgets.Compare(jobs, studio.ledger, blind=True)\ngrid",
    # run later, after the votes in the page: each went to the row behind the shuffled side
    "winners = list(studio.ledger.votes('blind').drop_duplicates('ballot')['winner'])\n"
    "assert winners == [jobs[grid.order[1]].id], (winners, grid.order)\n"
    "print('VOTES-OK', len(winners))",
]


def test_blind_voting_with_the_keyboard_and_undo(open_page, tmp_path, screenshots):
    page = open_page("lab", write_notebook(tmp_path, "blind.ipynb", BLIND), "lab/tree")
    run_cells(page, 2)
    grid = page.locator(".sd-compare")
    videos = grid.locator("video")
    videos.nth(3).wait_for(state="attached", timeout=120_000)
    for i in range(4):
        page.wait_for_function(PLAYABLE, arg=videos.nth(i).element_handle(), timeout=90_000)

    cells = grid.locator(".sd-compare-cell")
    tops = [round(cells.nth(i).bounding_box()["y"]) for i in range(4)]
    assert tops[0] == tops[1] and tops[2] == tops[3] and tops[2] > tops[0]  # four as 2 x 2
    text = grid.inner_text()
    assert "label-" not in text and "kite" not in text  # labels and prompts hidden
    assert [cells.nth(i).locator(".sd-compare-label").inner_text() for i in range(4)] == [
        "video A",
        "video B",
        "video C",
        "video D",
    ]

    votes = cells.nth(1).locator(".sd-votes")
    grid.locator(".sd-compare-help").click()  # focus the grid, not a video's own controls
    page.keyboard.press("2")
    wait_text(votes, "1 vote")
    page.keyboard.press("2")
    wait_text(votes, "2 votes")
    page.keyboard.press("u")
    wait_text(votes, "1 vote")
    assert "taken back" in grid.locator(".sd-note").inner_text()
    assert cells.nth(0).locator(".sd-votes").inner_text() == "0 votes"
    # the keys stayed with the grid: JupyterLab did not turn the cell into a heading
    assert page.locator(".jp-Notebook .jp-MarkdownCell").count() == 0

    page.keyboard.press(".")
    page.keyboard.press(".")
    frame = grid.locator(".sd-frame")
    page.wait_for_function(
        "el => el.textContent.startsWith('frame 3 /')", arg=frame.element_handle(), timeout=10_000
    )
    times = grid.evaluate(
        "root => [...root.querySelectorAll('video')].map(v => [v.paused, v.currentTime])"
    )
    assert all(paused for paused, _ in times)
    assert max(t for _, t in times) - min(t for _, t in times) < 0.01
    page.keyboard.press(",")
    page.wait_for_function(
        "el => el.textContent.startsWith('frame 2 /')", arg=frame.element_handle(), timeout=10_000
    )
    snap(grid, screenshots / "compare_blind.png")

    check = run_cell(page, 2)
    page.wait_for_function(
        "el => el.textContent.includes('VOTES-OK 1')",
        arg=check.element_handle(),
        timeout=60_000,
    )

    grid.get_by_role("button", name="undo vote").click()
    wait_text(votes, "0 votes")
    grid.locator(".sd-blind").click()  # reveal: the labels come back
    page.wait_for_function(
        "root => root.textContent.includes('label-red')", arg=grid.element_handle(), timeout=30_000
    )
    assert grid.locator("mark").first.inner_text() in ("red", "blue", "green", "gold")
    snap(grid, screenshots / "compare.png")
    assert page.errors == []


VIEWS = [
    "import seedance_nb as sd\nstudio = sd.Studio(poll_interval=0.05)",
    "jobs = [studio.submit(sd.TextToVideo(f'a lighthouse at night, take {i}', duration=4), "
    "experiment=e) for i, e in enumerate(['harbour', 'harbour', 'cliffs'])]\n"
    "tall = studio.submit(sd.TextToVideo('a tall lighthouse', duration=4, "
    "resolution='720x1280'), experiment='portrait')\n"
    "studio.wait([*jobs, tall])\ntall",
    "studio.ledger.plot()",
    "studio.ledger.df.tail()",
]


def test_plot_table_and_portrait_video(open_page, tmp_path, screenshots, monkeypatch):
    settings = tmp_path / "lab-settings"
    theme = settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    theme.parent.mkdir(parents=True)
    theme.write_text(json.dumps({"theme": "JupyterLab Dark"}))
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(settings))
    page = open_page("lab", write_notebook(tmp_path, "views.ipynb", VIEWS), "lab/tree")
    page.set_viewport_size({"width": 1280, "height": 800})
    run_cells(page, len(VIEWS))

    video = page.locator(".sd-task video").first
    video.wait_for(state="attached", timeout=120_000)
    page.wait_for_function(PLAYABLE, arg=video.element_handle(), timeout=90_000)
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [720, 1280]
    height, viewport = video.evaluate("v => [v.getBoundingClientRect().height, innerHeight]")
    assert height <= 0.7 * viewport + 1, (height, viewport)  # was about 890 px of 800
    video.scroll_into_view_if_needed()
    snap(page.locator(".sd-task").first, screenshots / "portrait.png")

    plot = page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".jp-OutputArea-output")
    image = plot.locator("img")
    image.wait_for(timeout=60_000)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 500", arg=image.element_handle(), timeout=30_000
    )
    assert "<Figure" not in plot.inner_text()
    assert page.evaluate("document.body.dataset.jpThemeLight") == "false"  # a dark theme
    corner = image.evaluate(
        """img => {
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            return [...g.getImageData(3, 3, 1, 1).data];
        }"""
    )
    assert corner[3] == 255 and min(corner[:3]) > 230, corner  # opaque and light, not see-through
    image.scroll_into_view_if_needed()
    snap(plot, screenshots / "plot_dark.png")

    table = page.locator(".jp-Notebook .jp-Cell").nth(3).locator("table")
    table.wait_for(timeout=60_000)
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert "prompt" in headers and "credits_used" in headers and "local_path" in headers
    assert "fingerprint" not in headers and "params" not in headers and "owner" not in headers
    assert page.errors == []
