"""Waiting on a condition, never on a fixed sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> bool:
    """True as soon as `condition()` holds, False once `timeout` seconds have passed.

    The deadline is on the monotonic clock: a slow `condition()` cannot stretch it (counting
    iterations would add the condition's own time to every one of them).
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(min(0.005, max(0.0, deadline - time.monotonic())))
