"""The storyboard strip: one card a shot, a badge on every seam, credits against the plan and
the stitched video sent to the view on request."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import seedance_nb.widgets._storyboard as storyboard_module
from seedance_nb.runtime import JobStatus
from seedance_nb.runtime._listeners import Listeners
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
    seq.reason = "changed after the board was closed"
    seq._changed()  # a closed board is no longer synced
    for job in jobs:
        job.changed()
    assert board.reason == ""


def test_a_poster_decoded_while_an_older_sync_runs_is_not_blanked_by_it(monkeypatch):
    """The poster worker's sync and an older one from another thread take turns: the older
    picture (poster not decoded yet) never lands after the newer one."""
    jpeg = b"\xff\xd8 a poster"
    hold, holding = threading.Event(), threading.Event()
    # decoded only once the older sync has built its cards (poster b"") and stalled
    monkeypatch.setattr(storyboard_module, "poster", lambda path: holding.wait(60) and jpeg)

    class Seq:  # what Storyboard reads of a Sequence; its seams stall the "older" sync
        name, state, reason, total, spent = "race", "running", None, 160, 0
        budget = stitched = stitch_method = None

        def __init__(self):
            self.listeners, self.jobs = Listeners(), {}
            self.shot_plan = [
                {"shot": 1, "mode": "text-to-video", "seconds": 4, "prompt": "p", "credits": 160}
            ]

        def on_change(self, callback, remove=False):
            return self.listeners.subscribe(callback, remove=remove)

        @property
        def measured(self):
            if threading.current_thread().name == "older":
                holding.set()
                hold.wait(60)
            return []

    seq = Seq()
    board = Storyboard(seq)
    syncs = []
    sync = board._sync
    board._sync = lambda *a: (syncs.append(threading.current_thread().name), sync(*a))
    job = SimpleNamespace(
        id=1,
        status=JobStatus.COMPLETED,
        credits_used=160,
        take=1,
        local_path=Path("/x.mp4"),
        request=SimpleNamespace(mode="text-to-video"),
        on_update=Listeners().subscribe,
    )
    seq.jobs[1] = job
    older = threading.Thread(target=board._sync, args=(seq,), name="older")
    older.start()  # builds its cards (poster b"", decode started), then stalls
    assert holding.wait(60)
    assert wait_until(lambda: any(name.startswith("sd-views") for name in syncs))
    hold.set()  # the worker's sync has begun: now let the older one finish
    older.join(60)
    assert wait_until(lambda: board.shots[0]["poster"] == jpeg)
