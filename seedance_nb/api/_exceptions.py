"""The exceptions seedance_nb raises.

Our exception hierarchy:

* SeedanceError
  + ValidationError ........... bad input, found locally before anything is sent
  + BudgetExceededError ....... the experiment's budget would be overspent
  + LedgerError ............... the ledger file cannot be opened or written
  + APIError .................. the server answered with an error status
  | + BadRequestError ........... 400
  | + AuthenticationError ....... 401
  | + InsufficientCreditsError .. 402
  | + PermissionDeniedError ..... 403
  | + TaskNotFoundError ......... 404
  | + ConcurrencyLimitError ..... 429
  | + ServerError ............... 5xx
  | + UnexpectedResponseError ... 2xx in a shape the API does not document
  + APIConnectionError ........ no usable answer (refused, dropped, timed out)
  | + APITimeoutError
  + TaskFailedError ........... the task ended FAILED
  + WaitTimeoutError .......... a wait ran out before the task ended
  + DownloadError ............. a finished video could not be saved (the task is paid)

No message ever carries the API key: messages are built from the server's text and our own.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Task


class SeedanceError(Exception):
    """Base class of every error this package raises on purpose."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the message, and the one line of the user's own code that
        led here, not the asyncio and dataclass frames in between."""
        import traceback

        frames = traceback.extract_tb(self.__traceback__)
        mine = [f for f in frames if not _internal(f.filename)]
        lines = []
        if mine:
            frame = mine[-1]
            code = (frame.line or "").strip()
            lines.append(f"  in {_where(frame.filename)}, line {frame.lineno}: {code}")
        lines.append(f"{type(self).__module__.split('.')[0]}.{type(self).__name__}: {self}")
        return lines


def _where(filename: str) -> str:
    """A frame's file as IPython names it: "Cell In[2]" for a notebook cell, rather than the
    kernel's /tmp/ipykernel_…py (asks only an IPython that is already running)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    name = getattr(getattr(shell, "compile", None), "format_code_name", None)
    named = name(filename) if callable(name) else None
    return " ".join(named) if named else filename


_LIBRARY_PARTS = ("seedance_nb", "asyncio", "concurrent", "nest_asyncio", "threading")


def _internal(filename: str) -> bool:
    """Frames of this package, the standard library's async plumbing, or generated code
    (a dataclass's __init__ is "<string>"; a cell is a file or "<ipython-input-…>")."""
    if filename.startswith("<"):
        return not filename.startswith("<ipython-input")
    return any(part in filename for part in _LIBRARY_PARTS)


class ValidationError(SeedanceError, ValueError):
    """A request broke a rule of the API; raised before anything is sent.

    `field` names the offending field as it appears in Python (``duration``, ``images[2]``),
    `rule` states what was expected.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class BudgetExceededError(SeedanceError):
    """A submission would spend more than what is left of a budget it falls under (its
    experiment's, or its user's): the message names the budget, what is left and who set it."""

    def __init__(
        self,
        experiment: str,
        remaining: int,
        cost: int,
        *,
        budget: str | None = None,
        set_by: str | None = None,
    ) -> None:
        self.experiment = experiment
        self.remaining = remaining
        self.cost = cost
        self.budget = budget or f"the budget of experiment {experiment!r}"
        self.set_by = set_by
        who = f" (set by {set_by})" if set_by else ""
        super().__init__(
            f"{self.budget[0].upper()}{self.budget[1:]}{who} has {remaining} credits left; "
            f"this request would cost {cost}"
        )


class LedgerError(SeedanceError):
    """The ledger cannot be used: `path` names the file and the message the cause."""

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"ledger {path}: {cause}")


class APIError(SeedanceError):
    """The server answered with an error status; `message` is its own explanation."""

    status_code: int

    def __init__(self, status_code: int, message: str, body: object = None) -> None:
        self.status_code = status_code
        self.message = message
        self.body = body
        super().__init__(f"[{status_code}] {message}")


class BadRequestError(APIError):
    """400: the server rejected the parameters."""


class AuthenticationError(APIError):
    """401: the API key is missing or invalid."""


class InsufficientCreditsError(APIError):
    """402: the account cannot cover the task."""


class PermissionDeniedError(APIError):
    """403: the task belongs to another account."""


class TaskNotFoundError(APIError):
    """404: no such task."""


class ConcurrencyLimitError(APIError):
    """429: the account already has the maximum number of tasks running."""


class ServerError(APIError):
    """5xx: the server failed; a createTask may or may not have taken effect."""


class UnexpectedResponseError(APIError):
    """The server answered 2xx with a body the API does not document (not JSON, an unknown
    status, a wrong type). `text` quotes the answer, cut short."""

    def __init__(self, what: str, text: str, status_code: int = 200) -> None:
        self.what = what
        self.text = text
        super().__init__(
            status_code, f"the {what} answer did not have the documented shape: {text}"
        )


class APIConnectionError(SeedanceError):
    """No usable answer arrived: the connection failed, dropped or timed out."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class TaskFailedError(SeedanceError):
    """The task ended FAILED; `task` holds its final state."""

    def __init__(self, task: Task) -> None:
        self.task = task
        super().__init__(f"task {task.id} failed: {task.error or 'no reason given'}")


class WaitTimeoutError(SeedanceError, TimeoutError):
    """`wait` gave up before the task ended; the task itself goes on."""

    def __init__(self, task_id: str, last: Task | None, timeout: float) -> None:
        self.task_id = task_id
        self.last = last
        self.timeout = timeout
        seen = last.status.value if last is not None else "nothing yet"
        super().__init__(f"task {task_id} did not finish within {timeout:g} s (last seen: {seen})")


class DownloadError(SeedanceError):
    """A finished (and paid) video could not be saved; `job.download()` tries again.

    `url` is where it was fetched from and `path` where it was going; `expired` is True when the
    server said the link is gone (403/404), so a fresh one must be asked for.
    """

    def __init__(
        self, message: str, *, url: str = "", path: str = "", expired: bool = False
    ) -> None:
        self.url = url
        self.path = path
        self.expired = expired
        super().__init__(message)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: TaskNotFoundError,
    429: ConcurrencyLimitError,
}


def error_for_status(status_code: int, message: str, body: object = None) -> APIError:
    """The APIError subclass that stands for an HTTP error status."""
    if status_code >= 500:
        cls: type[APIError] = ServerError
    else:
        cls = _BY_STATUS.get(status_code, APIError)
    return cls(status_code, message, body)
