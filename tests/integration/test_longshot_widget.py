"""The storyboard strip: one card a shot, a badge on every seam, credits against the plan and
the stitched video sent to the view on request."""

from __future__ import annotations

import threading

import seedance_nb.widgets._storyboard as storyboard_module
from seedance_nb.widgets import Storyboard
from tests.waiting import wait_until

FOX = "a red fox runs through a snowy forest at dusk"


def test_the_storyboard_follows_a_chain_from_plan_to_stitched_video(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    seq = studio.sequence([(FOX, 4), ("it keeps running", 4)], name="board")
    board = Storyboard(seq)
    assert [c["status"] for c in board.shots] == ["PLANNED", "PLANNED"]
    assert board.planned == 320 and board.spent == 0 and board.seams == []

    seq.run()
    assert [c["status"] for c in board.shots] == ["COMPLETED", "COMPLETED"]
    # a JPEG each, decoded on a worker thread
    assert wait_until(lambda: all(c["poster"][:2] == b"\xff\xd8" for c in board.shots))
    assert board.spent == 320 and board.state == "done"
    assert [s["shot"] for s in board.seams] == [2]
    assert board.seams[0]["verdict"] in ("smooth", "visible", "broken")

    reply, data = board._video({}, [])
    assert not reply["ok"] and "stitch" in reply["error"] and data == []
    path = seq.stitch()
    assert board.video_name == path.name and board.stitch_method == "remux"
    reply, data = board._video({}, [])
    assert reply == {"ok": True, "name": path.name} and data == [path.read_bytes()]
    assert "board" in board.static_html()


def test_a_sequence_displays_as_one_storyboard(start_sim, make_studio):
    studio = make_studio(start_sim())
    seq = studio.sequence([(FOX, 4)], name="shown")
    first = seq._repr_mimebundle_()
    again = seq._repr_mimebundle_()
    assert isinstance(seq._view, Storyboard)
    assert first[0]["text/html"] == again[0]["text/html"]


def test_a_closed_storyboard_lets_go_and_decodes_posters_off_the_loop(
    start_sim, make_studio, monkeypatch
):
    decoded_on = []
    real = storyboard_module.poster

    def poster(path):
        decoded_on.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(storyboard_module, "poster", poster)
    studio = make_studio(start_sim())
    seq = studio.sequence([(FOX, 4), ("it keeps running", 4)], name="let go")
    board = Storyboard(seq)
    before = len(seq._listeners)
    seq.run()
    assert wait_until(lambda: all(c["poster"] for c in board.shots))
    assert len(decoded_on) == 2 and all(name.startswith("sd-views") for name in decoded_on)
    jobs = list(seq.jobs.values())
    held = [len(job._callbacks) for job in jobs]
    board.close()
    assert len(seq._listeners) == before - 1
    assert [len(job._callbacks) for job in jobs] == [n - 1 for n in held]
    seq._changed()  # a closed board is no longer synced
    for job in jobs:
        job.changed()
    assert len(decoded_on) == 2
