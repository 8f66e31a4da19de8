"""Helpers for the account side of the ledger: scoping sums, reading balances, report frames."""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def scope(experiment: str | None, base_url: str | None) -> tuple[str, tuple[Any, ...]]:
    """An ` AND ...` clause limiting rows to one experiment and/or one server."""
    clause, args = "", ()
    if experiment is not None:
        clause, args = " AND experiment = ?", (experiment,)
    if base_url is not None:
        clause, args = clause + " AND base_url = ?", (*args, base_url)
    return clause, args


def balance(credits: Any, base_url: str | None) -> tuple[Any, str | None]:
    """A Credits-like object (and the client's server) from Credits itself or from a client."""
    if callable(getattr(credits, "credits", None)):
        if base_url is None and isinstance(getattr(credits, "base_url", None), str):
            base_url = credits.base_url
        credits = credits.credits()
        if inspect.isawaitable(credits):
            close = getattr(credits, "close", None)
            if close is not None:
                close()  # never awaited: close it quietly
            raise TypeError("pass `await client.credits()` (a Credits) for an AsyncClient")
    if not hasattr(credits, "credits") or not hasattr(credits, "available"):
        raise TypeError("credits: a Credits object (credits, available) or a client expected")
    return credits, base_url


def reconcile_frame(
    baseline: dict[str, Any],
    now: Any,
    ledger_spent: int,
    in_flight: int,
    baseline_at: datetime | None,
    base_url: str | None,
) -> pd.DataFrame:
    """The reconcile report: ledger vs account for `spent` and `reserved`, difference, ok."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "ledger": [ledger_spent - int(baseline["ledger_spent"]), in_flight],
            "account": [
                int(baseline["credits"]) - int(now.credits),
                int(now.credits) - int(now.available),
            ],
        },
        index=pd.Index(["spent", "reserved"], name="credits"),
    )
    frame["difference"] = frame["account"] - frame["ledger"]
    frame["ok"] = frame["difference"] == 0
    frame.attrs.update(baseline_at=baseline_at, base_url=base_url)
    return frame


def votes_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Vote rows as a frame: experiment, ballot, winner, loser (row ids), at (UTC)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["experiment", "ballot", "winner", "loser", "at"])
    frame = frame.astype({"ballot": "int64", "winner": "int64", "loser": "int64"})
    frame["at"] = pd.to_datetime(frame["at"], unit="ms", utc=True).astype("datetime64[ns, UTC]")
    return frame
