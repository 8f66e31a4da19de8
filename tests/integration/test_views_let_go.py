"""Views let go: a re-run cell adds no subscribers, a closed or collected view unsubscribes, and
a re-run that returns an existing job says so on its card, with honest figures."""

from __future__ import annotations

import gc

import seedance_nb as sd
from seedance_nb.runtime import Job
from seedance_nb.widgets import Compare
from seedance_nb.widgets._live import listen
from tests.waiting import wait_until


def subscribers(studio, jobs):
    return len(studio._listeners), [len(job._callbacks) for job in jobs]


def run_cell(studio):
    """What one run of a card / compare / ledger cell does: submit, then display."""
    jobs = [studio.submit(sd.TextToVideo(f"a {c} kite", duration=4), label=c) for c in "ab"]
    views = [Job.view(job) for job in jobs]  # what displaying `job` makes
    return jobs, views, studio.compare(jobs), studio.ledger_view()


def test_a_cell_rerun_ten_times_adds_no_subscribers(sim, make_studio):
    studio = make_studio(sim)
    jobs, views, grid, ledger_view = run_cell(studio)
    once = subscribers(studio, jobs)
    for _ in range(9):
        again, views_again, grid_again, ledger_again = run_cell(studio)
        assert [j.id for j in again] == [j.id for j in jobs]  # reused: nothing sent again
    assert subscribers(studio, jobs) == once
    assert views_again == views and grid_again is grid and ledger_again is ledger_view
    assert all(view.reused == 9 for view in views)  # each re-run said "reused: nothing spent"
    studio.wait(jobs, timeout=60)
    assert len(studio.ledger.df) == 2  # and nothing was spent twice


def test_closed_views_unsubscribe(sim, make_studio):
    studio = make_studio(sim)
    jobs, views, grid, ledger_view = run_cell(studio)
    before = subscribers(studio, jobs)
    for widget in (grid, ledger_view, *views):
        widget.close()
    listeners, per_job = subscribers(studio, jobs)
    assert listeners == before[0] - 1  # the ledger view's
    assert per_job == [n - 2 for n in before[1]]  # each job's card and the comparison
    fresh = studio.compare(jobs)  # a closed view is made anew when asked for again
    assert fresh is not grid and subscribers(studio, jobs)[1] == [n - 1 for n in before[1]]


def test_a_collected_view_unsubscribes_itself(sim, make_studio):
    studio = make_studio(sim)
    (job,) = run_cell(studio)[0][:1]
    count = len(job._callbacks)

    class View:
        calls = 0

        def changed(self, job):
            View.calls += 1

    view = View()
    listen(view, job.on_update, "changed")
    assert len(job._callbacks) == count + 1
    del view
    gc.collect()
    assert len(job._callbacks) == count  # the finalizer removed it, no notification needed
    job.changed()
    assert View.calls == 0


def test_on_update_returns_an_unsubscribe_and_takes_remove(sim, make_studio):
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("once", duration=4))
    seen = []
    unsubscribe = job.on_update(seen.append)
    job.changed()
    unsubscribe()
    unsubscribe()  # twice is harmless
    job.changed()
    assert seen == [job]
    job.on_update(seen.append)
    job.on_update(seen.append, remove=True)
    job.changed()
    assert seen == [job]
    heard = []
    stop = studio.on_job_update(heard.append)
    job.changed()
    studio.on_job_update(heard.append, remove=True)
    job.changed()
    stop()
    assert heard == [job]


def test_a_reused_card_shows_the_render_time_not_the_age(sim, make_studio, tmp_path):
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("a slow dawn", duration=4))
    job.result(timeout=60)
    studio.close()
    later = make_studio(sim)  # a new kernel: the job is rebuilt from its ledger row
    again = later.submit(sd.TextToVideo("a slow dawn", duration=4))
    assert again.id == job.id
    card = Job.view(again)
    assert card.reused == 1 and "reused: nothing spent" in card.static_html()
    render = (job.task.completed_at - job.task.created_at).total_seconds()
    assert abs(card.render_seconds - render) < 0.01 and card.credits_text == "160 credits"


def test_a_refused_job_says_refused_and_zero(sim, make_studio):
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("a kite", duration=4))
    job.result(timeout=60)
    refused = studio.submit(sd.TextToVideo("a bomb on a kite", duration=4))
    card = Job.view(refused)
    assert wait_until(lambda: card.final, timeout=60)
    assert card.credits_text == "refused, 0 credits" and card.tone == "bad" and card.refused
    assert "estimate" not in card.static_html()


def test_compare_redraws_off_the_loop_at_most_once_a_second(sim, make_studio):
    studio = make_studio(sim)
    jobs = [studio.submit(sd.TextToVideo(f"burst {i}", duration=4)) for i in range(2)]
    grid = Compare(jobs, studio.ledger)
    runs = grid.redraw.runs
    for _ in range(50):  # a burst of changes on the studio's loop
        jobs[0].changed()
    studio.wait(jobs, timeout=60)
    assert wait_until(lambda: all(item["ready"] for item in grid.items))
    assert grid.redraw.runs - runs <= 4  # folded: not one redraw per change


def test_a_card_shows_its_own_update_error_under_itself(sim, make_studio, tmp_path):
    studio = make_studio(sim)
    job = studio.submit(sd.TextToVideo("a vanishing file", duration=4))
    job.result(timeout=60)
    card = Job.view(job)
    job.local_path = tmp_path / "gone.mp4"  # the file disappears under the card
    job.changed()
    assert card.view_error.startswith("FileNotFoundError")
    assert job.callback_errors  # and the job still keeps it, as for any callback
