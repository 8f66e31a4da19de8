"""The ledger as pandas: typed frames, incremental merges, a columnar snapshot, summary, plot.

Imported only when a view is asked for, so `import seedance_nb.ledger` never loads pandas.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..api._status import JobStatus
from ._schema import CATEGORIES, FAILED, FIELDS, IN_FLIGHT, STATUSES, TIMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANDAS3 = int(pd.__version__.split(".")[0]) >= 3
# pandas 3: the default text dtype; pandas 2: object (its "str" would turn None into "None")
TEXT: Any = "str" if PANDAS3 else object
FRAME_COLUMNS = [*FIELDS, "render_seconds"]
# bump the version when the frame's columns or dtypes change: older snapshots are then ignored
FORMAT = "arrow-ipc/1/" + ",".join(FRAME_COLUMNS)
NAT = np.iinfo(np.int64).min
# what `Ledger.df` shows (the id is the index): what was asked, how it went, what it cost, where
# the video is; the request JSON, task id, fingerprint, owner and other times are in `df_full`
READ_FIRST = [
    "experiment",
    "label",
    "status",
    "mode",
    "model",
    "prompt",
    "estimated_credits",
    "credits_used",
    "render_seconds",
    "submitted_at",
    "local_path",
]


def build(names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Fetched rows (`id` first, then the fields) as a typed frame indexed by id.

    One 2-D object array, then a vectorised conversion per column: several times faster than
    `pd.read_sql_query` or building the frame record by record.
    """
    table = np.empty((len(rows), len(names)), dtype=object)
    if rows:
        table[:] = rows
    data: dict[str, Any] = {}
    index = pd.Index(table[:, 0].astype(np.int64), name="id")
    for j, name in enumerate(names[1:], start=1):
        column = table[:, j]
        if name in TIMES:
            data[name] = _times(column)
        elif name == "status":
            data[name] = _statuses(column)
        elif name in CATEGORIES:
            data[name] = pd.Categorical(column)
        elif name == "credits_used":
            data[name] = pd.array(column, dtype="Int64")
        elif name == "estimated_credits":
            data[name] = pd.array(column, dtype="Int64").fillna(0).to_numpy("int64")
        else:
            data[name] = _text(column)
    frame = pd.DataFrame(data, index=index)
    frame["render_seconds"] = (frame["completed_at"] - frame["sent_at"]).dt.total_seconds()
    return frame


def _text(column: np.ndarray) -> Any:
    """Text (None for missing) in pandas' text dtype; through Arrow where pandas' text is
    Arrow-backed (pandas 3), several times quicker than pandas' own checks of each value."""
    if PANDAS3:
        try:
            import pyarrow as pa
        except ImportError:
            pass
        else:
            try:
                return pd.array(pa.array(column, type=pa.large_string(), from_pandas=True), TEXT)
            except (pa.ArrowException, TypeError):
                pass  # something that is not text: let pandas say what
    return pd.array(column, dtype=TEXT)


def _times(column: np.ndarray) -> pd.DatetimeIndex:
    """Epoch milliseconds (None for missing) as datetime64[ns, UTC], exactly."""
    ms = np.asarray(column, dtype=np.float64)  # None becomes NaN; ms stay exact below 2**53
    missing = np.isnan(ms)
    ns = np.where(missing, 0, ms).astype(np.int64) * 1_000_000
    ns[missing] = NAT
    return pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")


def _statuses(column: np.ndarray) -> pd.Categorical:
    """Status with every known state as a category (value_counts shows the zeros too)."""
    cat = pd.Categorical(column)
    extra = [c for c in cat.categories if c not in STATUSES]  # written by hand with plain SQL
    return cat.set_categories([*STATUSES, *extra])


def merge(old: pd.DataFrame | None, changed: pd.DataFrame) -> pd.DataFrame:
    """`old` with the rows in `changed` replaced or added, ordered by id (`old` is untouched)."""
    if old is None or old.empty:
        return changed
    if changed.empty:
        return old
    kept = old.copy(deep=False)
    for name in CATEGORIES:  # one category set on both sides, so concat keeps the dtype
        mine, theirs = kept[name].cat.categories, changed[name].cat.categories
        if mine.equals(theirs):
            continue
        both = mine.union(theirs, sort=False)
        if name != "status":
            both = both.sort_values()
        if not mine.equals(both):
            kept[name] = kept[name].cat.set_categories(both)
        if not theirs.equals(both):
            changed[name] = changed[name].cat.set_categories(both)
    frame = pd.concat([kept, changed])
    stale = old.index.get_indexer(changed.index)
    stale = stale[stale >= 0]
    if not len(stale) and frame.index.is_monotonic_increasing:
        return frame  # only new rows, after the old ones: the usual case
    # one take: drop the old versions of replaced rows and put every row in id order
    keep = np.ones(len(frame), dtype=bool)
    keep[stale] = False
    positions = np.flatnonzero(keep)
    order = positions[np.argsort(frame.index.to_numpy()[positions], kind="stable")]
    frame = frame.take(order)
    for name in CATEGORIES:  # a replaced row may have held the last use of a label
        if name != "status":
            frame[name] = frame[name].cat.remove_unused_categories()
    return frame


def view(frame: pd.DataFrame, full: bool = False) -> pd.DataFrame:
    """A copy the caller may change freely without touching the ledger's cache: every column
    (`full`), or only the ones people read first (`READ_FIRST`), with the same dtypes."""
    if not full:
        return frame[READ_FIRST].copy(deep=not PANDAS3)
    return frame.copy(deep=not PANDAS3)  # pandas 3 copies on write: a shallow copy is safe


# ---- the columnar snapshot kept in the ledger file ----------------------------------------------
def encode(frame: pd.DataFrame) -> bytes | None:
    """The frame as compressed Arrow IPC bytes (None without pyarrow: no snapshot then)."""
    try:
        import pyarrow as pa
        import pyarrow.feather as feather
    except ImportError:
        return None
    sink = pa.BufferOutputStream()
    compression = "lz4" if pa.Codec.is_available("lz4") else "uncompressed"
    feather.write_feather(frame, sink, compression=compression)
    return sink.getvalue().to_pybytes()


def decode(blob: bytes) -> pd.DataFrame | None:
    """A snapshot back as a frame, or None if it cannot be read or has another shape."""
    try:
        import pyarrow as pa
        import pyarrow.feather as feather
    except ImportError:
        return None
    try:
        frame = feather.read_table(pa.BufferReader(blob)).to_pandas()
    except Exception:  # a damaged or foreign blob is only a missed shortcut: load from rows
        return None
    template = build(["id", *FIELDS], [])
    if list(frame.columns) != FRAME_COLUMNS or frame.index.name != "id":
        return None
    for name in FRAME_COLUMNS:
        want, got = template[name].dtype, frame[name].dtype
        if isinstance(want, pd.CategoricalDtype):
            if not isinstance(got, pd.CategoricalDtype):
                return None
        elif want != got:
            return None
    return frame


# ---- views --------------------------------------------------------------------------------------
def summary(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Per group: count, completed, failed, in flight, credits estimated and used, mean render,
    and credits lost (paid, no video: see `_report.lost`), never hidden."""
    from ._report import lost as _lost

    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in frame.columns]
    if unknown:
        raise ValueError(f"by: {', '.join(unknown)} is not a ledger column")
    status = frame["status"]
    work = pd.DataFrame(
        {
            **{k: frame[k] for k in keys},
            "completed": status == JobStatus.COMPLETED.value,
            "failed": status.isin(FAILED),
            "in_flight": status.isin(IN_FLIGHT),
            "estimated": frame["estimated_credits"],
            "used": frame["credits_used"].fillna(0).astype("int64"),
            "render": frame["render_seconds"],
            "lost": _lost(frame),
        },
        index=frame.index,
    )
    return work.groupby(keys, observed=True, dropna=False).agg(
        count=("completed", "size"),
        completed=("completed", "sum"),
        failed=("failed", "sum"),
        in_flight=("in_flight", "sum"),
        estimated=("estimated", "sum"),
        used=("used", "sum"),
        mean_render_s=("render", "mean"),
        lost=("lost", "sum"),
    )


PAPER = "#ffffff"  # an opaque light chart reads the same on light and dark notebook themes
INK = "#1f2328"
RULE = "#d0d7de"


@functools.cache
def _chart() -> type[Figure]:
    """A Figure that shows itself as a PNG in IPython, with or without pyplot and the inline
    backend (a bare Figure would print as `<Figure size 700x350 with 1 Axes>`)."""
    from matplotlib.figure import Figure

    class Chart(Figure):
        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=100, facecolor=self.get_facecolor())
            return buffer.getvalue()

    Chart.__module__, Chart.__qualname__ = __name__, "Chart"
    return Chart


def plot(frame: pd.DataFrame, ax: Any = None) -> Figure:
    """Cumulative credits used over time (by completion), one step line per experiment.

    Without `ax`, a new figure that displays itself as a PNG when it is a cell's value, drawn
    dark on an opaque light background (readable in dark themes), legend outside the axes.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    done = frame[frame["status"] == JobStatus.COMPLETED.value].dropna(subset=["completed_at"])
    done = done.sort_values("completed_at", kind="stable")
    if ax is None:
        figure = _chart()(figsize=(7.5, 3.5), layout="constrained", facecolor=PAPER)
        ax = figure.add_subplot(facecolor=PAPER)
    else:
        figure = ax.figure
        while not isinstance(figure, Figure):  # an axes in a SubFigure: return the whole figure
            figure = figure.figure
    for name, group in done.groupby("experiment", observed=True):
        times = group["completed_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        used = group["credits_used"].fillna(0).astype("int64").cumsum().to_numpy()
        ax.step(times, used, where="post", label=str(name), marker="o", markersize=3)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("completed at (UTC)", color=INK)
    ax.set_ylabel("credits used (cumulative)", color=INK)
    ax.set_title("Credits by experiment", color=INK, loc="left", fontweight="bold")
    ax.tick_params(colors=INK, which="both")
    ax.grid(True, color=RULE, linewidth=0.6)
    ax.set_axisbelow(True)
    for spine in ax.spines.values():
        spine.set_color(RULE)
    if len(done):
        ax.set_ylim(bottom=0)
        count = done["experiment"].nunique()
        legend = ax.legend(
            title="experiment",
            loc="upper left",
            bbox_to_anchor=(1.02, 1),
            borderaxespad=0,
            ncols=1 if count <= 12 else 2,
            facecolor=PAPER,
            edgecolor=RULE,
            labelcolor=INK,
            fontsize="small",
        )
        legend.get_title().set_color(INK)
    else:
        ax.text(
            0.5,
            0.5,
            "no completed jobs yet",
            ha="center",
            va="center",
            color=INK,
            transform=ax.transAxes,
        )
    return figure
