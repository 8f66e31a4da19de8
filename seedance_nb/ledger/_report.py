"""The spend report and the rows that explain a reconcile difference: pandas over `df_full`.

Who spent what, on what, and is the video here? Per group (user, experiment, ...): credits
estimated, charged, refused (asked for, turned down, nothing charged) and lost (paid, no video:
a send settled "charged" whose task id never came back, a video that could not be saved or has
expired), and the videos on disk, checked now. Imported only when a report is asked for.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..api._status import CHARGED, JobStatus, Settled
from ._budgets import period_start

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ALIASES = {"user": "user_name"}
COLUMNS = ["jobs", "estimated", "charged", "refused", "lost", "videos", "missing_videos"]
PAID_NO_VIDEO = (JobStatus.DOWNLOAD_FAILED.value, JobStatus.EXPIRED.value)


def _lost_send(frame: pd.DataFrame, status: pd.Series) -> pd.Series:
    """Per row: a send that ended unclear and that the balance showed was paid."""
    settled = (
        frame["settled"].astype(object) if "settled" in frame else pd.Series(None, frame.index)
    )
    return (status == JobStatus.SEND_FAILED.value) & (settled == Settled.CHARGED)


def lost(frame: pd.DataFrame) -> pd.Series:
    """Per row, credits paid with no video to show: a send settled "charged" whose task id
    never came back (its estimate), a paid video not saved or expired (what it cost)."""
    status = frame["status"].astype(str)
    estimate = frame["estimated_credits"].astype("int64")
    paid = frame["credits_used"].astype("Float64").fillna(estimate).astype("int64")
    return paid.where(status.isin(PAID_NO_VIDEO) | _lost_send(frame, status), 0)


def costs(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: estimated, charged, refused, lost credits and whether its video is on disk."""
    status = frame["status"].astype(str)
    used = frame["credits_used"].astype("Float64")
    estimate = frame["estimated_credits"].astype("int64")
    charged_rows = status.isin([s.value for s in CHARGED])
    paid = used.fillna(estimate).astype("int64")
    on_disk = frame["local_path"].map(lambda p: isinstance(p, str) and Path(p).is_file())
    done = status == JobStatus.COMPLETED.value
    return pd.DataFrame(
        {
            "estimated": estimate,
            "charged": paid.where(charged_rows | _lost_send(frame, status), 0),
            "refused": estimate.where(
                (status == JobStatus.FAILED.value) & frame["task_id"].isna(), 0
            ),
            "lost": lost(frame),
            "videos": (done & on_disk).astype("int64"),
            "missing_videos": (done & ~on_disk).astype("int64"),
        },
        index=frame.index,
    )


def report(
    frame: pd.DataFrame,
    by: str | tuple[str, ...] | list[str] = ("user", "experiment"),
    period: str | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """The spend report of `frame` (a ledger's `df_full`), one row per group; `period`
    ('month', 'week', 'day') keeps rows submitted since the calendar period holding `now`."""
    keys = [ALIASES.get(k, k) for k in ([by] if isinstance(by, str) else list(by))]
    unknown = [k for k in keys if k not in frame.columns]
    if unknown:
        raise ValueError(f"by: {', '.join(unknown)} is not a ledger column (or 'user')")
    start = period_start(now, period) if now is not None else None
    if start is not None:
        frame = frame[frame["submitted_at"] >= pd.Timestamp(start)]
    work = costs(frame)
    for key in keys:
        work[key] = frame[key].astype(object).fillna("(unknown)")
    work["jobs"] = 1
    out = work.groupby(keys, sort=True)[COLUMNS].sum().astype("int64")
    out.index = out.index.set_names([{"user_name": "user"}.get(k, k) for k in keys])
    out.attrs.update(period=period, since=start)
    return out


def plot(table: pd.DataFrame) -> Figure:
    """One chart: credits charged and lost per group, as stacked horizontal bars."""
    from ._frame import PAPER, _chart

    figure = _chart()(figsize=(7, 0.4 * len(table) + 1.4), layout="constrained", facecolor=PAPER)
    ax = figure.add_subplot(facecolor=PAPER)
    shown = table[["charged", "lost"]].rename(columns={"lost": "lost (paid, no video)"})
    shown.index = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in shown.index]
    shown.plot.barh(stacked=True, ax=ax, color=["#2da44e", "#cf222e"])
    ax.set_xlabel("credits")
    ax.invert_yaxis()
    return figure


def page(table: pd.DataFrame, balance: pd.DataFrame | None = None) -> str:
    """A small HTML page: the table (pandas' Styler), the balance check and one chart (PNG)."""
    buffer = io.BytesIO()
    plot(table).savefig(buffer, format="png", dpi=100)
    png = base64.b64encode(buffer.getvalue()).decode()
    since = table.attrs.get("since")
    title = "Spend report" + (f" since {since:%Y-%m-%d} (UTC)" if since is not None else "")
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        table.style.set_caption("credits by group").to_html(),
    ]
    if balance is not None:
        parts.append(
            balance.style.set_caption("the account's balance against the ledger").to_html()
        )
    parts.append(
        f'<img alt="credits charged and lost per group" src="data:image/png;base64,{png}">'
    )
    body = "\n".join(parts)
    head = f"<head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
    return f"<!doctype html>\n<html>{head}\n<body>\n{body}\n</body></html>\n"


def explain(frame: pd.DataFrame, since: datetime | None) -> pd.DataFrame:
    """Rows (submitted since the baseline) that explain a reconcile difference: sends settled
    "charged" or left unclear, paid videos not counted as completed, and charges that differ
    from their estimates; `credits` is what each may account for."""
    if since is not None:
        frame = frame[frame["submitted_at"] >= pd.Timestamp(since)]
    status = frame["status"].astype(str)
    settled = frame["settled"].astype(object)
    used = frame["credits_used"].astype("Float64")
    estimate = frame["estimated_credits"].astype("int64")
    why = pd.Series(None, index=frame.index, dtype=object)
    amount = pd.Series(0, index=frame.index, dtype="int64")
    lost = (status == JobStatus.SEND_FAILED.value) & (settled == Settled.CHARGED)
    unclear = (status.isin([JobStatus.SEND_FAILED.value, JobStatus.UNKNOWN.value])) & ~lost
    paid = status.isin(PAID_NO_VIDEO)
    differs = (status == JobStatus.COMPLETED.value) & used.notna() & (used != estimate)
    why[lost] = "lost send: charged, task id never received"
    amount[lost] = estimate[lost]
    why[unclear] = "unclear send: may have been charged up to its estimate"
    amount[unclear] = estimate[unclear]
    why[paid] = "paid, no video (not counted as completed)"
    amount[paid] = used[paid].fillna(estimate[paid]).astype("int64")
    why[differs] = "charged differs from its estimate"
    amount[differs] = (used[differs] - estimate[differs]).astype("int64")
    rows = why.notna()
    out = frame.loc[
        rows, ["experiment", "user_name", "status", "estimated_credits", "credits_used"]
    ]
    return out.assign(credits=amount[rows], why=why[rows])


__all__ = ["COLUMNS", "costs", "explain", "page", "plot", "report"]
