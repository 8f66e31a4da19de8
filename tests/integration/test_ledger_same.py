"""One statement set: the same calls on SQLite and on a real PostgreSQL give the same answers,
row for row, for every store method (both run the statements written once in `_sql`)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pandas as pd

from seedance_nb.api import BudgetExceededError, JobStatus
from seedance_nb.ledger import Ledger, Owner, row_fence

S = JobStatus
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def script(ledger: Ledger) -> list[object]:
    """Every store method, with fixed owners and times; what each returned, in order."""
    out: list[object] = []
    say = out.append
    me = dataclasses.replace(Owner.new(), id="me")
    you = Owner("you", "far-away", 1, "b", "n")
    ledger.register(me)
    ledger.register(you)
    rows = [
        ledger.log(
            experiment=f"e{i % 2}",
            label="AB"[i % 2],
            status=S.QUEUED,
            estimated_credits=100,
            submitted_at=T0 + timedelta(seconds=i),
            prompt=f"scene ✓ {i}",
            params={"model": "seedance2", "inputs": {"prompt": f"p{i}"}},
            owner=you.id,
            fingerprint=f"f{i}",
        )
        for i in range(6)
    ]
    say(rows)
    say(ledger.log_once(experiment="e0", fingerprint="f0"))
    say(ledger.log_once(experiment="e0", fingerprint="new", owner=me.id, submitted_at=T0)[1])
    say(ledger.claim(rows[0], me))  # a live owner holds it
    fence = row_fence(ledger.get(rows[0]))
    say(ledger.move(rows[0], fence, S.QUEUED, status=S.SENDING, sent_at=T0))
    say(ledger.write(rows[0], fence, status=S.PENDING, task_id="t0"))
    say(ledger.write(rows[0], fence._replace(lease=9), status=S.FAILED))
    for i, row in enumerate(rows[1:], start=1):
        ledger.update(
            row,
            status=S.COMPLETED if i % 3 else S.FAILED,
            credits_used=90 + i,
            sent_at=T0 + timedelta(seconds=i),
            completed_at=T0 + timedelta(seconds=30 + i),
        )
    ledger.retire(you)
    say(ledger.claim(rows[0], me))
    say(ledger.claim(rows[1], me, fetch=True))
    say([ledger.get(r) for r in rows])
    say(ledger.rows(status=[S.COMPLETED, S.FAILED], experiment="e1"))
    say(ledger.rows(task_id=None))
    say(ledger.find("f2", "e0"))
    say(ledger.recent_completions(2))
    say(ledger.latest(3, "e1"))
    say((len(ledger), ledger.count("e0")))
    say(ledger.unfinished())
    say([r["id"] for r in ledger.claimable(me)])
    say((ledger.owner_alive("me"), ledger.owner_alive("you")))
    ledger.set_budget("e0", 1000)
    say((ledger.budget("e0"), ledger.remaining("e0"), ledger.budget("none")))
    say((ledger.spent(), ledger.committed(), ledger.spent("e1"), ledger.committed("e0")))
    try:
        ledger.log(experiment="e0", estimated_credits=10_000, enforce_budget=True)
    except BudgetExceededError as exc:
        say(str(exc))
    ledger.set_budget("e0", None)
    say(ledger.budget("e0"))
    ledger.vote("ab", rows[1], [rows[2], rows[3]])
    ledger.vote("ab", rows[2], [rows[1]])
    ledger.retract_vote(2)
    say(ledger.votes().drop(columns="at").to_dict("records"))
    say(ledger.acquire_slot("acct", me, "alice", rows[4], 1))
    extra = ledger.log(experiment="e0", owner=me.id, submitted_at=T0)
    say(ledger.acquire_slot("acct", me, "bob", extra, 5))
    say(ledger.slots("acct"))
    say(ledger.account_limit("acct"))
    say(ledger.release_slot("acct", rows[4]))
    say(ledger.slots("acct"))
    ledger.set_account_limit("acct", 2)
    say((ledger.account_limit("acct"), ledger.slots("acct")))
    ledger.set_baseline(SimpleNamespace(credits=1000, available=900))
    report = ledger.reconcile(SimpleNamespace(credits=800, available=700))
    say(report.to_dict())
    say(ledger.df_full.reset_index().to_dict("records"))
    say(ledger.summary().reset_index().to_dict("records"))
    return out


def test_every_store_method_answers_the_same_on_both(tmp_path, pg_url):
    with Ledger(tmp_path / "ledger.sqlite") as lite, Ledger(pg_url) as team:
        a, b = script(lite), script(team)
    assert len(a) == len(b)
    for n, (x, y) in enumerate(zip(a, b, strict=True)):
        assert _plain(x) == _plain(y), f"call {n} differs"


def _plain(value: object) -> object:
    """NaN equal to NaN, and pandas' missing values as None, for comparing answers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return value
