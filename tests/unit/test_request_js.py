"""request.js, the views' one request/reply mechanism, in Node against a fake widget model: the
command wire format where the frontend has no experimental.invoke (marimo), a retry when an
attempt goes unanswered (a busy kernel), a single attempt for what must be asked once (a vote),
and experimental.invoke given an explicit signal where it exists (never the 3-second default)."""

from __future__ import annotations

from pathlib import Path

import pytest

import seedance_nb as sd
from tests.node import run_check

REQUEST = Path(sd.__file__).parent / "widgets" / "request.js"


@pytest.fixture(scope="module")
def seen():
    return run_check("request_check.mjs", REQUEST)


def test_without_invoke_it_speaks_anywidgets_command_format(seen):
    fallback = seen["fallback"]
    (sent,) = fallback["sent"]
    assert sent["msg"]["kind"] == "anywidget-command" and sent["msg"]["name"] == "_video"
    assert sent["msg"]["msg"] == {"key": "k"} and sent["buffers"] == 1 and sent["msg"]["id"]
    assert fallback["reply"] == {"ok": True, "echo": {"key": "k"}}  # not the other request's
    assert fallback["buffers"] == 1 and fallback["bytes"] == 3
    assert fallback["left"] == 0  # its listener is gone once answered


def test_an_unanswered_attempt_is_asked_again_and_the_view_hears_it_is_slow(seen):
    retry = seen["retry"]
    assert retry["reply"]["ok"] and retry["attempts"] == 2 and retry["ids"] == 2
    assert retry["slow"] == 1


def test_a_vote_is_asked_once(seen):
    assert seen["once"] == {"error": "TimeoutError", "attempts": 1}


def test_invoke_is_given_an_explicit_signal(seen):
    assert seen["invoke"]["reply"] == {"ok": True}
    assert seen["invoke"]["seen"] == {
        "name": "_undo",
        "msg": {},
        "signal": True,
        "aborted": False,
        "buffers": 0,
    }


def test_an_invoke_that_refuses_falls_back_to_the_wire_format(seen):
    marimo = seen["marimo"]  # marimo's invoke throws "not supported": asked once, then the wire
    assert marimo["first"]["echo"] == {"n": 1} and marimo["second"]["echo"] == {"n": 2}
    assert marimo["calls"] == 1 and marimo["sent"] == 2
