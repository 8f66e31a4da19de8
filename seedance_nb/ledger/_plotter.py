"""The spend chart (`Ledger.plot`) drawn as a PNG in a helper process of its own.

matplotlib holds the GIL for the whole of a drawing (about 0.2 s for the spend chart), in
stretches a waiting event loop cannot cut short, so a live view drawing it on a worker thread
still delays the studio's loop. A `Plotter` sends the few columns the chart needs to a child
Python (`python -c ...`, never multiprocessing's spawn, which would run a script's top level
again in the child) and reads the PNG back; the child ends when its pipe closes.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PLOTTED = ["experiment", "status", "completed_at", "credits_used"]  # what `plot` reads
ANSWER_WITHIN = 60.0  # seconds a drawing may take (the first imports matplotlib) before the
# child is taken for hung (stopped, deadlocked): it is killed and the caller draws itself
_SIZE = struct.Struct("!Q")
_CHILD = "from seedance_nb.ledger._plotter import serve; serve()"


def png(frame: pd.DataFrame, dpi: int = 80) -> bytes:
    """The spend chart of `frame` (a ledger's `df_full`, or its `PLOTTED` columns) as a PNG."""
    from ._frame import plot

    buffer = io.BytesIO()
    # constrained layout already fits the legend: no second, "tight" drawing pass
    plot(frame).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _send(pipe: IO[bytes], data: bytes) -> None:
    pipe.write(_SIZE.pack(len(data)) + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> bytes | None:
    head = pipe.read(_SIZE.size)
    if len(head) < _SIZE.size:
        return None
    (size,) = _SIZE.unpack(head)
    data = pipe.read(size)
    return data if len(data) == size else None


def serve() -> None:
    """The child: draw each (frame, dpi) it reads, answer ("ok", png) or ("error", text)."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    while (data := _receive(stdin)) is not None:
        try:
            frame, dpi = pickle.loads(data)
            answer: tuple[str, Any] = ("ok", png(frame, dpi))
        except Exception as exc:  # the parent raises it where the view shows its errors
            answer = ("error", f"{type(exc).__name__}: {exc}")
        _send(stdout, pickle.dumps(answer))


class PlotError(RuntimeError):
    """The chart could not be drawn (the child's error, as text)."""


class Plotter:
    """One child process that draws charts, one at a time, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None

    def png(self, frame: pd.DataFrame, dpi: int = 80) -> bytes:
        """The chart of `frame`'s `PLOTTED` columns, drawn in the child. Raises OSError when no
        child can be started or it died (draw here then), PlotError when drawing failed."""
        data = pickle.dumps((frame[PLOTTED], dpi))
        with self._lock:
            child = self._start()
            assert child.stdin is not None and child.stdout is not None
            watchdog = threading.Timer(ANSWER_WITHIN, child.kill)  # a hung child ends the read
            watchdog.daemon = True
            watchdog.start()
            try:
                _send(child.stdin, data)
                reply = _receive(child.stdout)
            except (OSError, ValueError) as exc:
                self._stop()
                raise OSError(f"the chart process failed: {exc}") from exc
            finally:
                watchdog.cancel()
            if reply is None:
                self._stop()
                raise OSError(f"the chart process ended or gave no answer in {ANSWER_WITHIN:g} s")
        kind, value = pickle.loads(reply)
        if kind != "ok":
            raise PlotError(value)
        return bytes(value)

    def _start(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        root = str(Path(__file__).resolve().parents[2])  # where this seedance_nb is imported from
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}  # no key
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env["MPLBACKEND"] = "Agg"
        self._child = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        return self._child

    def _stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()
            _reap(child, 5)

    def close(self) -> None:
        """End the child: its input closes, so it stops (it also does when this process ends)."""
        with self._lock:
            child, self._child = self._child, None
            if child is not None:
                _reap(child, 5)


def _reap(child: subprocess.Popen[bytes], timeout: float) -> None:
    """Close the child's pipes and wait for it (killed if it lingers)."""
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
