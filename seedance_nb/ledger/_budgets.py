"""Budget rules as pure functions (stdlib only): calendar periods in UTC, and the words of a
refusal. The SQL that reads and locks budget rows lives in `_sql.py`; this module decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

PERIODS = ("month", "week", "day", None)


def check_period(period: str | None) -> str | None:
    """A budget's period: 'month', 'week', 'day' or None (for ever)."""
    if period not in PERIODS:
        raise ValueError(f"period: one of 'month', 'week', 'day' or None, not {period!r}")
    return period


def check_credits(credits: int | None) -> int | None:
    """A budget's credits: a whole number of at least 0, or None (no budget)."""
    if credits is not None and (
        isinstance(credits, bool) or not isinstance(credits, int) or credits < 0
    ):
        raise ValueError("credits: a budget is a whole number of credits, at least 0")
    return credits


def period_start(now: datetime, period: str | None) -> datetime | None:
    """The start (UTC) of the calendar period holding `now`: the 1st of the month, Monday of
    the week, midnight of the day; None for a budget without a period."""
    if period is None:
        return None
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def refusal(kind: str, name: str, rule: dict[str, Any], used: int) -> tuple[str, int]:
    """The budget's name as a refusal says it, and what is left of it."""
    period = rule.get("period")
    every = {"month": "monthly ", "week": "weekly ", "day": "daily "}.get(period or "", "")
    left = int(rule["credits"]) - int(used)
    return f"the {every}budget of {int(rule['credits'])} credits for {kind} {name!r}", left


__all__ = ["PERIODS", "check_credits", "check_period", "period_start", "refusal"]
