"""Listeners: the one way a job, a studio and a sequence keep their callbacks."""

from __future__ import annotations

from seedance_nb.runtime._listeners import Listeners


def test_callbacks_run_in_order_and_unsubscribe_by_the_returned_function_or_remove():
    heard: list[str] = []
    listeners: Listeners[int] = Listeners()
    stop_a = listeners.subscribe(lambda n: heard.append(f"a{n}"))
    b = lambda n: heard.append(f"b{n}")  # noqa: E731 - one identity to remove by
    listeners.subscribe(b)
    for callback in listeners:
        callback(1)
    stop_a()
    stop_a()  # twice is harmless
    for callback in listeners:
        callback(2)
    listeners.subscribe(b, remove=True)
    listeners.subscribe(b, remove=True)  # and so is removing one already gone
    assert heard == ["a1", "b1", "b2"] and len(listeners) == 0


def test_a_callback_may_unsubscribe_while_they_are_called():
    heard: list[str] = []
    listeners: Listeners[None] = Listeners()
    stops = []
    stops.append(listeners.subscribe(lambda _: (heard.append("once"), stops[0]())))
    listeners.subscribe(lambda _: heard.append("always"))
    for _ in range(2):
        for callback in listeners:  # a snapshot: the first unsubscribing skips nobody
            callback(None)
    assert heard == ["once", "always", "always"] and len(listeners) == 1
