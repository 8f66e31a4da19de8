"""LedgerView's spend chart: drawn in a helper process, again only when its data changed.

Drawing the chart is most of a LedgerView redraw, and matplotlib holds the GIL throughout
(about 0.2 s a drawing), so on a worker thread it still held up the studio's loop. The drawing
goes to one helper process (`ledger._plotter`), shared by every view, from the few columns it
plots, and only when those changed since the last drawing of the same ledger, so views of one
ledger share a drawing. Where no helper process can run, the chart is drawn here as before.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import weakref
from typing import TYPE_CHECKING

from ..ledger._plotter import PLOTTED, Plotter, png

if TYPE_CHECKING:
    import pandas as pd

    from ..ledger import Ledger

log = logging.getLogger("seedance_nb")
DPI = 80

_lock = threading.Lock()  # views redrawing at once wait for one drawing, then share it
_charts: weakref.WeakKeyDictionary[Ledger, tuple[bytes, bytes]] = weakref.WeakKeyDictionary()
_plotter: Plotter | None = Plotter()
atexit.register(_plotter.close)


def chart_png(ledger: Ledger, frame: pd.DataFrame) -> bytes:
    """The spend chart of `ledger`, whose `df_full` is `frame`, as a PNG: the last drawing
    while the plotted rows are unchanged, else a new one."""
    import pandas as pd

    plotted = frame[PLOTTED]
    rows = pd.util.hash_pandas_object(plotted, index=True).to_numpy()
    digest = hashlib.blake2b(rows.tobytes(), digest_size=16).digest()
    with _lock:
        found = _charts.get(ledger)
        if found is not None and found[0] == digest:
            return found[1]
        image = _drawn(plotted)
        _charts[ledger] = (digest, image)
        return image


def _drawn(plotted: pd.DataFrame) -> bytes:
    global _plotter
    if _plotter is not None:
        try:
            return _plotter.png(plotted, DPI)  # waits on a pipe, without the GIL
        except OSError as exc:  # no process here (a sandbox), or it died: draw here from now
            log.info("the ledger chart is drawn in this process from now on (%s)", exc)
            _plotter.close()
            _plotter = None
    return png(plotted, DPI)
