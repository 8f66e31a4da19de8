"""The engine's loop sleeps while jobs wait in its queue for a slot: it wakes for a poll, a
freed slot or a cooldown's end, never in a loop of zero-second timers (it once spun about
17,000 times a second while jobs queued, holding the GIL the views and the kernel need)."""

from __future__ import annotations

import seedance_nb as sd
from seedance_nb.runtime import JobStatus
from tests.waiting import wait_until


def test_the_loop_does_not_spin_while_jobs_queue(start_sim, make_studio):
    sim = start_sim(api_keys=("sk-quiet",), credits=100_000, speed=0.02, concurrency=1)
    studio = make_studio(sim, concurrency=1, poll_interval=0.5)
    engine = studio.engine
    rounds = 0
    dispatch = engine._dispatch

    def counted() -> None:
        nonlocal rounds
        rounds += 1
        dispatch()

    engine._dispatch = counted  # one call per round of the engine's loop
    jobs = [studio.submit(sd.TextToVideo(f"queued {i}", duration=4)) for i in range(3)]
    assert wait_until(lambda: jobs[0].task_id is not None, timeout=60)
    start = rounds
    assert jobs[1].status is JobStatus.QUEUED  # waits for the one slot
    assert wait_until(lambda: jobs[0].done, timeout=120)
    # while the first rendered (about a second) the loop woke for its polls, not thousands of times
    assert rounds - start < 200, rounds - start
    studio.wait(jobs, timeout=120)
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
