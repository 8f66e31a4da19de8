"""The runtime: Studio submits, queues, polls, downloads and records; Job is one submission."""

from ._job import Job, JobCancelled, JobStatus
from ._studio import Studio

__all__ = ["Job", "JobCancelled", "JobStatus", "Studio"]
