"""Import time of `seedance_nb` against the interpreter starting with no import at all, and the
heavy modules it must not load (measured in fresh interpreters, best of several runs)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks._report import Figure

HEAVY = ("pandas", "av", "ipywidgets", "anywidget", "fastapi", "uvicorn", "httpx", "numpy")
RUNS = 7


def _seconds(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


def run() -> list[Figure]:
    timed = "import time; s = time.perf_counter(); {}; print(time.perf_counter() - s)"
    ours = min(_seconds(timed.format("import seedance_nb")) for _ in range(RUNS))
    stdlib = min(_seconds(timed.format("import json, enum, dataclasses")) for _ in range(RUNS))
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, seedance_nb; print(','.join(m for m in {HEAVY!r} if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = check.stdout.strip()
    return [
        Figure(
            "import seedance_nb" + (f" (loads {loaded}!)" if loaded else ""),
            ours * 1000,
            "ms",
            "import json, enum, dataclasses",
            stdlib * 1000,
            "< 100 ms, no heavy modules",
            ours < 0.1 and not loaded,
        )
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
