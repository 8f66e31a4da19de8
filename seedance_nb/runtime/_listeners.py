"""Listeners: the callbacks a job, a studio or a sequence calls when it changes. Subscribing
returns the unsubscribe function, and `remove=True` unsubscribes instead (as lonboard's
`on_click` does); removing twice is harmless."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Listeners(Generic[T]):
    """An ordered set of callbacks taking one argument. Iterating gives a snapshot, so a
    callback may unsubscribe (itself or another) while they are being called; changes take a
    lock, as views subscribe from worker threads and finalizers unsubscribe from any thread."""

    def __init__(self) -> None:
        self._items: tuple[Callable[[T], Any], ...] = ()
        # re-entrant: a collection inside a change may run a finalizer that unsubscribes here
        self._lock = threading.RLock()

    def subscribe(
        self, callback: Callable[[T], Any], *, remove: bool = False
    ) -> Callable[[], None]:
        def unsubscribe() -> None:
            with self._lock:
                self._items = tuple(c for c in self._items if c != callback)

        if remove:
            unsubscribe()
        else:
            with self._lock:
                self._items = (*self._items, callback)
        return unsubscribe

    def __iter__(self) -> Iterator[Callable[[T], Any]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
