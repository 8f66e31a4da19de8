"""`make bench`: run every benchmark and write benchmarks/RESULTS.md."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import traceback
from pathlib import Path

MODULES = (
    "bench_import",
    "bench_ledger",
    "bench_render",
    "bench_simulator",
    "bench_runtime",
    "bench_notebook",
)


def main() -> int:
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}. Every figure is beside a baseline measured in the same run.",
        "",
        "| figure | value | baseline | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    failed = 0
    for name in MODULES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError:
            continue
        print(f"== {name}", flush=True)
        try:
            figures = module.run()
        except Exception:
            failed += 1
            traceback.print_exc()
            lines.append(f"| {name} | failed to run | | | | |")
            continue
        for f in figures:
            print(f.line(), flush=True)
            mark = {True: "met", False: "**missed**", None: ""}[f.met]
            lines.append(
                f"| {f.name} | {f.value:.4g} {f.unit} | {f.baseline_name}: "
                f"{f.baseline:.4g} {f.unit} | {f.ratio:.3g} | {f.goal} | {mark} |"
            )
    Path(__file__).with_name("RESULTS.md").write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
