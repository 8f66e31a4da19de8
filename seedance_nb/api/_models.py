"""Typed views of what the API returns: Task (with its Output list) and Credits.

`from_wire` accepts every shape a real server may plausibly send (an error given as an object or
a number, timestamps it cannot read) and refuses with `UnexpectedResponseError`, quoting the
answer, what it cannot act on: an unknown status, a COMPLETED task without a video URL, a charge
that is not a non-negative whole number. Callers pass bodies whose text is already redacted.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import UnexpectedResponseError

QUOTE_CHARS = 200  # how much of an unexpected answer an error quotes
ERROR_CHARS = 1000  # how much of a task's error text is kept


class TaskStatus(str, enum.Enum):
    """Where a task is in its life; COMPLETED and FAILED are final."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True once the task will not change any more."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Output:
    """One rendered video: where to fetch it and its size in pixels."""

    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Task:
    """A task's state as queryTask (or a callback) reports it; `raw` is the body as sent.

    `credits_used` is None when the server did not say what the task cost.
    """

    id: str
    model: str
    status: TaskStatus
    credits_used: int | None = None
    outputs: tuple[Output, ...] = ()
    error: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """True once COMPLETED or FAILED."""
        return self.status.is_terminal

    @property
    def video_url(self) -> str | None:
        """URL of the first output video, if any."""
        return self.outputs[0].url if self.outputs else None

    @classmethod
    def from_wire(cls, body: object) -> Task:
        """Parse a queryTask body or callback payload; UnexpectedResponseError if untrustworthy."""
        if not isinstance(body, dict):
            raise unexpected("queryTask", body, "not a JSON object")
        task_id = body.get("taskId")
        if not isinstance(task_id, str) or not task_id:
            raise unexpected("queryTask", body, "no taskId string")
        status = _status(body)
        outputs: tuple[Output, ...] = ()
        if status is TaskStatus.COMPLETED:  # documented as null for every other status
            outputs = _outputs(body)
        model = body.get("model")
        return cls(
            id=task_id,
            model=model if isinstance(model, str) else "",
            status=status,
            credits_used=_charge(body),
            outputs=outputs,
            error=readable_error(body.get("error")),
            created_at=_moment(body.get("createTime")),
            completed_at=_moment(body.get("completeTime")),
            raw=body,
        )


@dataclass(frozen=True)
class Credits:
    """The account's balance: `credits` held, `available` once running tasks are reserved."""

    credits: int
    available: int

    @property
    def reserved(self) -> int:
        """Credits held back for tasks that have not finished."""
        return self.credits - self.available

    @classmethod
    def from_wire(cls, body: object) -> Credits:
        """Parse an /account/credits body; UnexpectedResponseError if it is not one."""
        if not isinstance(body, dict):
            raise unexpected("credits", body, "not a JSON object")
        credits, available = _whole(body.get("credits")), _whole(body.get("availableCredits"))
        if credits is None or available is None:  # a balance may be negative, not fractional
            raise unexpected("credits", body, "credits and availableCredits must be whole numbers")
        return cls(credits=credits, available=available)


def quote_answer(answer: object, limit: int = QUOTE_CHARS) -> str:
    """The start of an answer for an error message: raw text as is, parsed JSON compacted."""
    if isinstance(answer, str | bytes):
        text = answer if isinstance(answer, str) else answer.decode("utf-8", "replace")
    else:
        text = _compact(answer)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def unexpected(what: str, answer: object, reason: str) -> UnexpectedResponseError:
    """An UnexpectedResponseError that says why and quotes the start of the answer."""
    return UnexpectedResponseError(what, f"{reason}: {quote_answer(answer)}")


def readable_error(value: object) -> str | None:
    """A task's `error` as text: a message field of an object, else compact JSON or str()."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        for key in ("message", "msg", "detail", "error", "reason"):
            inner = value.get(key)
            if isinstance(inner, str) and inner.strip():
                value = inner
                break
    text = value if isinstance(value, str) else _compact(value)
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "..."


def _compact(value: object) -> str:
    """Compact JSON of a parsed value (str() for what JSON cannot hold)."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # circular, or a float json refuses
        return str(value)


def _status(body: dict[str, Any]) -> TaskStatus:
    value = body.get("status")
    if isinstance(value, str):
        try:
            return TaskStatus(value)
        except ValueError:
            pass
    raise unexpected(
        "queryTask", body, f"unknown status {value!r:.40} (expected one of {', '.join(TaskStatus)})"
    )


def _outputs(body: dict[str, Any]) -> tuple[Output, ...]:
    """The videos of a COMPLETED task: at least one, each with an http(s) URL."""
    items = body.get("output")
    if not isinstance(items, list) or not items:
        raise unexpected("queryTask", body, "COMPLETED without any output video")
    outputs = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not _is_http_url(url):
            raise unexpected("queryTask", body, "COMPLETED with an output that has no http(s) url")
        outputs.append(
            Output(url=url, width=_pixels(item.get("width")), height=_pixels(item.get("height")))
        )
    return tuple(outputs)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _whole(value: object) -> int | None:
    """`value` as a whole number if it is one (an int, an integral float, a digit string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _charge(body: dict[str, Any]) -> int | None:
    """creditsUsed: a non-negative whole number, or None when the server did not say."""
    value = body.get("creditsUsed")
    if value is None:
        return None
    number = _whole(value)
    if number is None or number < 0:
        raise unexpected("queryTask", body, "creditsUsed is not a non-negative whole number")
    return number


def _pixels(value: object) -> int | None:
    """An output's width or height: informational, so anything odd is simply unknown."""
    number = _whole(value)
    return number if number is not None and number > 0 else None


def _moment(value: object) -> datetime | None:
    """A timestamp in ms since the epoch (or ISO 8601); informational, so unreadable is None."""
    try:
        if isinstance(value, str) and not value.strip().isdigit():
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        ms = _whole(value)
        return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
