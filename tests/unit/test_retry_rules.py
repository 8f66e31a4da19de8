"""Which attempts the transport repeats (api/_transport.py): GETs on transport errors, 429 and
gateway 5xx; a POST never, unless marked safe; a request marked ONCE never."""

from __future__ import annotations

import httpx
import pytest

from seedance_nb.api._transport import ONCE, RETRY_SAFE, should_retry

CUT = httpx.RemoteProtocolError("cut")


@pytest.mark.parametrize(
    ("method", "extensions", "outcome", "attempt", "again"),
    [
        ("GET", {}, 503, 0, True),
        ("GET", {}, 429, 3, True),
        ("GET", {}, 429, 4, False),  # max_retries spent
        ("GET", {}, 404, 0, False),
        ("GET", {}, CUT, 0, True),
        ("GET", {}, ValueError("ours"), 0, False),
        ("POST", {}, 503, 0, False),  # createTask: it may exist
        ("POST", {}, CUT, 0, False),
        ("POST", {RETRY_SAFE: True}, 503, 0, True),  # an upload
        ("GET", {ONCE: True}, 503, 0, False),  # the reading on a send's path
        ("GET", {ONCE: True}, CUT, 0, False),
        ("GET", {ONCE: False}, 503, 0, True),
    ],
)
def test_which_attempts_are_repeated(method, extensions, outcome, attempt, again):
    assert should_retry(method, extensions, outcome, attempt, 4) is again
