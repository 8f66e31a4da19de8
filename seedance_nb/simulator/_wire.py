"""The createTask body's types exactly as the seed documents them, checked before anything else.

This is written from the seed's parameter tables, not from the client's rules: the client is
generous in Python (an int `duration`, a `Path` image) and turns those into the wire's types, so
a simulator that reused the client's parsing would accept what the hosted API refuses, and a rule
both got wrong could never be caught. Here every field has the seed's JSON type: `duration` is a
string "4s".."15s", never a number; `urls`, `videoUrls` and `audioUrls` are arrays of strings.
"""

from __future__ import annotations

import re
from typing import Any

STRINGS = ("prompt", "duration", "resolution", "videoInputMode", "upscaleResolution")
LISTS = ("urls", "videoUrls", "audioUrls")
DURATION = re.compile(r"(?:[4-9]|1[0-5])s")


def wire_problem(payload: dict[str, Any]) -> tuple[str, str] | None:
    """The first field whose JSON type the seed does not allow, as (field, rule); None if none."""
    if not isinstance(payload.get("model"), str):
        return "model", "must be a string"
    callback = payload.get("callBackUrl")
    if callback is not None and not isinstance(callback, str):
        return "callBackUrl", "must be a string"
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):
        return "inputs", "must be a JSON object"
    for name in STRINGS:
        if name in inputs and not isinstance(inputs[name], str):
            return f"inputs.{name}", f"must be a string, not {_json_type(inputs[name])}"
    for name in LISTS:
        value = inputs.get(name)
        if name in inputs and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return f"inputs.{name}", "must be an array of strings"
    duration = inputs.get("duration")
    if duration is not None and not DURATION.fullmatch(duration):
        return "inputs.duration", f'must be "4s" to "15s", not {duration!r}'
    return None


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for the error text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
