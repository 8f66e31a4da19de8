"""The ledger: a durable record of every submission and its credits, with pandas views.

One SQLite file in WAL mode (default ``seedance-ledger.sqlite`` beside the notebook). A row is
written, and committed, before its request leaves, and updated as the task moves, so a kernel
that dies loses nothing. Several kernels may share the file: writes take the lock with
``BEGIN IMMEDIATE`` and wait for each other. Every unfinished row has an owner, a live studio
with a heartbeat; other studios take it over only once that owner is gone (`claim`).
pandas and matplotlib load only for the views.

    ledger = Ledger("seedance-ledger.sqlite")
    row = ledger.log(experiment="beach", model="seedance2", estimated_credits=200)
    ledger.update(row, status="COMPLETED", credits_used=200)
    ledger.df                   # one row per submission, typed
    ledger.summary()            # per experiment: counts, credits, mean render time
    ledger.set_budget("beach", 2000); ledger.remaining("beach")
"""

from __future__ import annotations

from ._ledger import Ledger
from ._owners import HEARTBEAT, LEASE, Owner
from ._schema import FIELDS, IN_FLIGHT, NOT_REUSABLE, STATUSES

__all__ = [
    "FIELDS",
    "HEARTBEAT",
    "IN_FLIGHT",
    "LEASE",
    "NOT_REUSABLE",
    "STATUSES",
    "Ledger",
    "Owner",
]
