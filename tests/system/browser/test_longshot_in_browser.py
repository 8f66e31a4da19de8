"""A long shot in a real browser: the storyboard strip shows every shot, a badge on every seam,
the credits against the plan, and plays the stitched video; the seam plot renders beside it.
In JupyterLab (where the README's pictures come from), Notebook 7 and Voilà."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .cells import STUDIO, code_cells, run_cells, snap, wait_js, wait_playable, write_notebook

pytestmark = pytest.mark.browser

CELLS = [
    STUDIO,
    "seq = studio.sequence([('a lighthouse on a cliff at dawn, waves below', 4),\n"
    "                       ('clouds race past the lighthouse', 4),\n"
    "                       ('night falls, the beam sweeps over the sea', 4)],\n"
    "                      name='browser', confirm=True)\n"
    "seq.stitch()\nseq",
    "seq.plot()",
]
FRONTENDS = {  # app, where it shows a notebook, whether the page runs the cells itself
    "jupyterlab": ("lab", "lab/tree", False),
    "notebook7": ("notebook", "notebooks", False),
    "voila": ("lab", "voila/render", True),
}
POSTERS = "el => [...el.querySelectorAll('.sd-shot-picture')].every(p => p.style.backgroundImage)"


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_the_storyboard_shows_shots_seams_credits_and_the_stitched_video(
    open_page, tmp_path, screenshots, frontend
):
    app, path, runs_itself = FRONTENDS[frontend]
    page = open_page(app, write_notebook(tmp_path, "long.ipynb", CELLS), path)
    if not runs_itself:
        run_cells(page)
    story = page.locator(".sd-story")
    story.wait_for(timeout=180_000)
    wait_playable(page, story.locator("video"), 180)
    expect(story.locator(".sd-shot")).to_have_count(3)
    expect(story.locator(".sd-seam")).to_have_count(2)
    badges = story.locator(".sd-seam").all_inner_texts()
    assert all(b.lower() in ("smooth", "visible", "broken") for b in badges), badges
    expect(story.locator(".sd-story-credits")).to_contain_text("480 of ~480 credits")
    expect(story.locator(".sd-story-state")).to_have_text("done")
    wait_js(story, POSTERS, 30)
    plot = page.locator(".jp-OutputArea-output img, .output_area img, img[src^='data:image/png']")
    plot.first.wait_for(timeout=120_000)
    if frontend == "jupyterlab":  # the README's pictures
        page.add_style_tag(content=".Toastify { display: none !important; }")  # the news toast
        snap(story, screenshots / "storyboard.png")
        code_cells(page).nth(2).locator(".jp-OutputArea-output img").screenshot(
            path=str(screenshots / "seam_plot.png")
        )
    # Notebook 7's own bundle throws one TypeError while it starts; only ours count
    page.check(ignore="/static/notebook/")
