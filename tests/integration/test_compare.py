"""Compare, headless: votes by position (blind or not) reach the right ledger rows, undo takes
them back, the view's requests get one reply each, and an A/B exports to one HTML page."""

from __future__ import annotations

import base64
import re

import pytest

import seedance_nb as sd
from seedance_nb.widgets import Compare
from seedance_nb.widgets._compare import columns, plural, prompt_words
from tests.waiting import wait_until


@pytest.fixture
def trio(sim, make_studio):
    studio = make_studio(sim)
    jobs = [
        studio.submit(sd.TextToVideo(f"a {c} kite at dawn, over hills", duration=4), label=c)
        for c in ("red", "blue", "green")
    ]
    studio.wait(jobs, timeout=60)
    return studio, jobs


def ready(grid):
    assert wait_until(lambda: all(item["ready"] for item in grid.items))
    return grid


def test_prompt_marks_words_never_punctuation():
    a, b = prompt_words(["a red kite at dawn, over hills.", "a blue kite at dusk; over hills!"])
    assert [w for w, differs in a if differs] == ["red", "dawn"]
    assert [w for w, differs in b if differs] == ["blue", "dusk"]
    assert "".join(w for w, _ in a) == "a red kite at dawn, over hills."  # nothing lost
    (c,) = [x for x in prompt_words(["it's sun-lit", "it's moon-lit"])[1] if x[1]]
    assert c == ["moon-lit", True]  # inner hyphens and apostrophes stay in the word
    assert [w for w, d in prompt_words(["Dawn", "dawn"])[0] if d] == []  # case does not count


def test_layout_and_wording():
    assert [columns(n) for n in range(2, 11)] == [2, 3, 2, 3, 3, 3, 3, 3, 4]
    assert [plural(n) for n in (0, 1, 2)] == ["0 votes", "1 vote", "2 votes"]


def test_votes_by_position_undo_and_ranking(trio):
    studio, jobs = trio
    grid = ready(studio.compare(jobs))
    assert [i["name"] for i in grid.items] == ["red", "blue", "green"]
    assert grid.votes == [0, 0, 0] and not grid.can_undo
    for index in (1, 1, 0):  # repeated presses on one winner are each a ballot, shown as such
        reply, buffers = grid._vote({"index": index}, [])
        assert reply["ok"] and buffers == []
    assert grid.votes == [1, 2, 0] and grid.can_undo
    assert "red preferred (1 vote)" in grid.note
    ballots = studio.ledger.votes(grid.experiment)
    assert sorted(set(ballots["ballot"])) == [1, 2, 3]
    assert grid._undo({}, [])[0] == {"ok": True, "value": 3}
    assert grid.votes == [0, 2, 0] and "taken back" in grid.note and "red has 0 votes" in grid.note
    assert 3 not in set(studio.ledger.votes(grid.experiment)["ballot"])
    table = studio.results(grid.experiment)
    assert table["label"].iloc[0] == "blue" and table.loc[jobs[1].id, "wins"] == 2
    assert grid.undo() == 2 and grid.undo() == 1 and grid.undo() is None
    assert grid.votes == [0, 0, 0] and not grid.can_undo
    assert studio.ledger.votes(grid.experiment).empty


def test_a_failed_request_shows_under_the_grid(trio):
    studio, jobs = trio
    grid = ready(studio.compare(jobs))
    reply, _ = grid._vote({"index": 7}, [])
    assert not reply["ok"] and "no video at position 7" in grid.error
    assert grid._vote({"index": 0}, [])[0]["ok"] and grid.error == ""  # cleared by a success
    reply, _ = grid._vote("garbage", [])
    assert not reply["ok"] and grid.error


def test_blind_mode_hides_and_shuffles_but_votes_go_to_the_right_rows(trio):
    studio, jobs = trio
    grid = ready(Compare(jobs, studio.ledger, blind=True, seed=3))
    assert sorted(grid.order) == [0, 1, 2] and grid.order != [0, 1, 2]
    state = repr([grid.items, grid.note])
    for job in jobs:  # nothing in the synced state tells the videos apart
        assert job.label not in state and str(job.request.prompt) not in state
    fields = {"key", "name", "status", "tone", "ready", "fps", "frames"}
    assert all(set(i) == fields for i in grid.items)
    assert [i["name"] for i in grid.items] == ["video A", "video B", "video C"]
    grid._vote({"index": 0}, [])
    winner = jobs[grid.order[0]]
    ballot = studio.ledger.votes(grid.experiment)
    assert set(ballot["winner"]) == {winner.id}
    assert set(ballot["loser"]) == {j.id for j in jobs if j is not winner}
    assert grid.votes[0] == 1 and "video A preferred" in grid.note
    assert winner.label not in grid.note
    shown = grid.items[0]["key"]
    reply, buffers = grid._video({"key": shown}, [])
    assert reply == {"ok": True} and buffers[0] == winner.local_path.read_bytes()
    grid.blind = False  # reveal: identity order, labels back, the vote stays with its job
    assert grid.order == [0, 1, 2] and [i["name"] for i in grid.items] == ["red", "blue", "green"]
    assert grid.votes[jobs.index(winner)] == 1 and sum(grid.votes) == 1
    grid.blind = True  # a new shuffle each time
    assert sorted(grid.order) == [0, 1, 2]


def test_video_requests_answer_once_with_bytes_or_a_reason(trio):
    studio, jobs = trio
    grid = ready(studio.compare(jobs))
    assert grid._video({"key": "nope"}, []) == ({"ok": False, "error": "unknown video"}, [])
    assert all(item["fps"] > 0 and item["frames"] > 0 for item in grid.items)
    assert all(0 < len(p) < 20_000 for p in grid._posters)


def test_export_is_one_page_with_videos_prompts_and_votes(trio, tmp_path):
    studio, jobs = trio
    grid = ready(studio.compare(jobs))
    grid.prefer(jobs[2])
    grid.prefer(jobs[2])
    grid.prefer(jobs[0])
    page = grid.to_html(tmp_path / "share" / "ab.html")
    text = page.read_text()
    videos = re.findall(r'<video src="data:video/mp4;base64,([^"]+)"', text)
    assert len(videos) == 3 and base64.b64decode(videos[2]) == jobs[2].local_path.read_bytes()
    assert "<mark>green</mark>" in text and "dawn</mark>" not in text
    assert "2 votes" in text and "1 vote<" in text and "0 votes" in text
    assert "Bradley-Terry" in text and "<script>" in text and "{{" not in text
    assert "sd-compare-grid" in text and "--sd-cols: 3" in text
    linked = grid.to_html(tmp_path / "share" / "linked.html", embed=False).read_text()
    sources = re.findall(r'<video src="([^"]+)"', linked)
    assert sources[0].startswith("../") and not sources[0].startswith("data:")
    assert (tmp_path / "share" / sources[0]).resolve() == jobs[0].local_path.resolve()
    assert len(linked) < len(text) / 3
