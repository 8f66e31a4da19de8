"""What the user sees: live task cards, a request builder, A/B comparison and a ledger view.

Widgets hold no task logic: they are views over the runtime's Studio and Job, which work the
same without them.
"""

from ..runtime import Job
from ._builder import RequestBuilder
from ._compare import Compare
from ._ledger_view import LedgerView
from ._studio import Studio
from ._task_view import TaskView

Job.view = TaskView  # a Job displays itself as a live TaskView from now on

__all__ = ["Compare", "LedgerView", "RequestBuilder", "Studio", "TaskView"]
