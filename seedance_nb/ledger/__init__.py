"""The ledger: a durable record of every submission and its credits, with pandas views.

A storage interface (`_store.Store`) with two backends under one set of views: one SQLite file
in WAL mode (default ``seedance-ledger.sqlite`` beside the notebook), or a PostgreSQL database a
team shares (``Ledger("postgresql://...")``, ``pip install "seedance-nb[team]"``). A row is
written, and committed, before its request leaves, and updated as the task moves, so a kernel
that dies loses nothing. Any number of kernels may share a ledger. Every unfinished row has an
owner, a live studio with a heartbeat; other studios take it over only once that owner is gone
(`claim`). The account's slots are leased through the ledger too (`acquire_slot`,
`release_slot`, `listen`), fairly between users. pandas and matplotlib load only for the views.

    ledger = Ledger("seedance-ledger.sqlite")
    row = ledger.log(experiment="beach", model="seedance2", estimated_credits=200)
    ledger.update(row, status=JobStatus.COMPLETED, credits_used=200)
    ledger.df                   # one row per submission, typed
    ledger.summary()            # per experiment: counts, credits, mean render time
    ledger.set_budget("beach", 2000); ledger.remaining("beach")
    ledger.set_budget(user="alice", credits=5000, period="month")   # per person, per UTC month
    ledger.report(period="month")   # who spent what, on what, and is the video on disk
"""

from __future__ import annotations

from ._ledger import Ledger
from ._owners import HEARTBEAT, LEASE, Fence, Owner, row_fence
from ._schema import FIELDS, IN_FLIGHT, NOT_REUSABLE, STATUSES
from ._slots import account_id, current_user, wakes

__all__ = [
    "FIELDS",
    "HEARTBEAT",
    "IN_FLIGHT",
    "LEASE",
    "NOT_REUSABLE",
    "STATUSES",
    "Fence",
    "Ledger",
    "Owner",
    "account_id",
    "current_user",
    "row_fence",
    "wakes",
]
