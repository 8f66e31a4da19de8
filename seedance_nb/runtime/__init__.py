"""The runtime: Studio submits, queues, polls, downloads and records; Job is one submission."""

from ..api import JobStatus
from ._job import Job, JobCancelled, JobError
from ._studio import Studio

__all__ = ["Job", "JobCancelled", "JobError", "JobStatus", "Studio"]
