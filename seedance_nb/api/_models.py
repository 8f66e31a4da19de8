"""Typed views of what the API returns: Task (with its Output list) and Credits."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._exceptions import APIError


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
    """A task's state as queryTask (or a callback) reports it; `raw` is the body as sent."""

    id: str
    model: str
    status: TaskStatus
    credits_used: int = 0
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
        """Parse a queryTask body, refusing one that lacks what every answer must have."""
        if not isinstance(body, dict):
            raise _malformed("queryTask", body)
        try:
            status = TaskStatus(body["status"])
            if not isinstance(body["taskId"], str) or not body["taskId"]:
                raise ValueError("taskId must be a non-empty string")
            outputs = tuple(
                Output(url=str(o["url"]), width=o.get("width"), height=o.get("height"))
                for o in body.get("output") or ()
            )
            return cls(
                id=str(body["taskId"]),
                model=str(body.get("model") or ""),
                status=status,
                credits_used=int(body.get("creditsUsed") or 0),
                outputs=outputs,
                error=body.get("error"),
                created_at=_ms_to_datetime(body.get("createTime")),
                completed_at=_ms_to_datetime(body.get("completeTime")),
                raw=body,
            )
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            raise _malformed("queryTask", body) from None


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
        """Parse an /account/credits body."""
        try:
            return cls(credits=int(body["credits"]), available=int(body["availableCredits"]))  # type: ignore[index]
        except (KeyError, TypeError, ValueError, OverflowError):
            raise _malformed("credits", body) from None


def _ms_to_datetime(value: object) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)  # type: ignore[call-overload]


def _malformed(what: str, body: object) -> APIError:
    return APIError(200, f"the {what} answer did not have the documented shape: {body!r:.200}")
