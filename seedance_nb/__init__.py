"""seedance_nb: explore Seedance 2.0 video generation in Jupyter.

Names load on first use (PEP 562), so `import seedance_nb` stays fast and pulls in no HTTP
client, pandas, PyAV or widget code until they are needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = (
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "Client",
    "ConcurrencyLimitError",
    "Credits",
    "DownloadError",
    "ImageToVideo",
    "InsufficientCreditsError",
    "JobStatus",
    "Keyframes",
    "LedgerError",
    "MultiReference",
    "Output",
    "PermissionDeniedError",
    "Request",
    "SeedanceError",
    "ServerError",
    "Task",
    "TaskFailedError",
    "TaskNotFoundError",
    "TaskStatus",
    "TextToVideo",
    "UnexpectedResponseError",
    "ValidationError",
    "WaitTimeoutError",
    "estimate_credits",
    "MODELS",
    "RESOLUTIONS",
    "UPSCALES",
)
_LAZY: dict[str, str] = {name: "seedance_nb.api" for name in _API}
_LAZY.update(
    {
        "Ledger": "seedance_nb.ledger",
        "Studio": "seedance_nb.widgets",
        "Job": "seedance_nb.runtime",
        "JobError": "seedance_nb.runtime",
    }
)
_SUBMODULES = ("api", "simulator", "ledger", "runtime", "widgets")

__all__ = [*_LAZY, *_SUBMODULES, "__version__"]

if TYPE_CHECKING:  # let type checkers and IDEs see the lazy names
    from . import api, ledger, runtime, simulator, widgets  # noqa: F401
    from .api import *  # noqa: F403
    from .ledger import Ledger  # noqa: F401
    from .runtime import Job, JobError  # noqa: F401
    from .widgets import Studio  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"seedance_nb.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seedance_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
