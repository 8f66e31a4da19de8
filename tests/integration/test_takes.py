"""Takes: asking again is the normal way to work with a generative model, and re-running the
cell that asked must still spend nothing."""

from __future__ import annotations

import pytest

import seedance_nb as sd

CREATE = "requests POST /api/v1/jobs/createTask"


def test_a_second_take_is_sent_and_a_rerun_of_either_is_reused(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    req = sd.TextToVideo("a red kite at dawn", duration=4)
    first, second = studio.submit(req), studio.submit(req, take=2)
    assert first is not second and second.take == 2 and first.take == 1
    studio.wait([first, second], timeout=60)
    assert sim.stats()["counters"][CREATE] == 2
    assert studio.submit(req) is first and studio.submit(req, take=2) is second
    assert studio.submit(req, label="a new name", take=2) is second  # labels never decide
    assert sim.stats()["counters"][CREATE] == 2
    assert first.local_path != second.local_path


def test_variations_submit_takes_one_to_n_and_a_rerun_spends_nothing(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    req = sd.TextToVideo("a boat at dusk", duration=4)
    grid = studio.variations(req, n=3)
    jobs = grid.jobs
    assert [j.take for j in jobs] == [1, 2, 3]
    studio.wait(jobs, timeout=60)
    again = studio.variations(req, n=3).jobs
    assert [j.id for j in again] == [j.id for j in jobs]
    assert sim.stats()["counters"][CREATE] == 3


def test_takes_survive_a_new_kernel(start_sim, make_studio):
    sim = start_sim()
    req = sd.TextToVideo("a cat in the snow", duration=4)
    old = make_studio(sim).submit(req, take=3)
    old.result(timeout=60)
    job = make_studio(sim).submit(req, take=3)
    assert job.id == old.id and job.take == 3 and job.done
    assert sim.stats()["counters"][CREATE] == 1


@pytest.mark.parametrize("take", [0, -1, 1.5, True, "2"])
def test_a_take_is_a_whole_number_from_one(start_sim, make_studio, take):
    studio = make_studio(start_sim())
    with pytest.raises(sd.ValidationError, match="take"):
        studio.submit(sd.TextToVideo("x", duration=4), take=take)
    assert studio.ledger.rows() == []
