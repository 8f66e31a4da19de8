"""Waiting on a condition, never on a fixed sleep."""

from __future__ import annotations

import threading
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> bool:
    """True as soon as `condition()` holds, False once `timeout` seconds have passed."""
    event = threading.Event()
    for _ in range(int(timeout / 0.005)):
        if condition():
            return True
        event.wait(0.005)
    return False
