"""The pure Seedance2 client: request types, validation, pricing, errors and HTTP clients.

Nothing here knows about Jupyter, pandas or widgets.
"""

from ._client import DEFAULT_BASE_URL, AsyncClient
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConcurrencyLimitError,
    DownloadError,
    InsufficientCreditsError,
    LedgerError,
    PermissionDeniedError,
    SeedanceError,
    ServerError,
    TaskFailedError,
    TaskNotFoundError,
    UnexpectedResponseError,
    ValidationError,
    WaitTimeoutError,
)
from ._models import Credits, Output, Task, TaskStatus
from ._pricing import estimate_credits
from ._requests import (
    MODELS,
    RESOLUTIONS,
    UPSCALES,
    ImageToVideo,
    Keyframes,
    MultiReference,
    Request,
    TextToVideo,
    check_callback_url,
    check_model,
    check_name,
    from_inputs,
)
from ._status import JobStatus
from ._sync import Client, Portal

__all__ = [
    "DEFAULT_BASE_URL",
    "MODELS",
    "RESOLUTIONS",
    "UPSCALES",
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
    "Portal",
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
    "check_callback_url",
    "check_model",
    "check_name",
    "estimate_credits",
    "from_inputs",
]
