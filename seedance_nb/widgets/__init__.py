"""What the user sees: live task cards, a request builder, A/B comparison and a ledger view.

Widgets hold no task logic: they are views over the runtime's Studio and Job, which work the
same without them.
"""

from ..longshot import Sequence
from ..runtime import Job
from ._builder import RequestBuilder
from ._compare import Compare
from ._ledger_view import LedgerView
from ._storyboard import Storyboard
from ._studio import Studio
from ._task_view import TaskView

Job.view = TaskView.of  # a Job displays itself as its one live TaskView from now on
Sequence.view = Storyboard  # and a long shot as its storyboard strip


def _display_(job: Job) -> TaskView:
    """marimo's display protocol: a job shown as a cell's value is its live card."""
    return TaskView(job)


Job._display_ = _display_  # type: ignore[attr-defined]

__all__ = ["Compare", "LedgerView", "RequestBuilder", "Storyboard", "Studio", "TaskView"]
