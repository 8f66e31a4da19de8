"""`make bench`: run every benchmark and write benchmarks/RESULTS.md."""

from __future__ import annotations

import contextlib
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
    "bench_start",
    "bench_team",
    "bench_render",
    "bench_simulator",
    "bench_runtime",
    "sim_scheduler",
    "bench_notebook",
    "bench_views",
    "bench_longshot",
    "bench_settle",
)


RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """The machine in one line: CPU model, cores, memory, Python, OS."""
    cpu, memory = platform.processor() or platform.machine(), ""
    with contextlib.suppress(OSError):
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in info.splitlines()
                if ln.startswith("model name")
            ),
            cpu,
        )
    with contextlib.suppress(OSError, StopIteration, ValueError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kb = int(next(ln for ln in meminfo if ln.startswith("MemTotal")).split()[1])
        memory = f", {kb / 2**20:.0f} GiB"
    return (
        f"{cpu} ({platform.machine()}), {os.cpu_count()} cores{memory}, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )


def load_average() -> float:
    """The 1-minute load average (0 where the OS does not say): timing figures depend on it."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def main(modules: tuple[str, ...] = MODULES, out: Path = RESULTS) -> int:
    """Run `modules` in turn and write one table to `out`; 1 if any failed to run."""
    lines = [
        "# Benchmark results",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}. "
        "Every figure is beside a baseline measured in the same run; ratio = value / baseline.",
        "",
        "| figure | value | baseline | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    failed, missed, loads = 0, [], []
    for name in modules:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", flush=True)
        before = load_average()
        try:
            figures = module.run()
        except Exception:
            failed += 1
            traceback.print_exc()
            lines.append(f"| {name} | failed to run | | | | |")
            continue
        finally:
            loads.append(f"{name} {before:.1f}-{load_average():.1f}")
        for f in figures:
            print(f.line(), flush=True)
            mark = {True: "met", False: "**missed**", None: ""}[f.met]
            if f.met is False:
                missed.append(f"{f.name}: {f.value:.4g} {f.unit}, goal {f.goal}")
            lines.append(
                f"| {f.name} | {f.value:.4g} {f.unit} | {f.baseline_name}: "
                f"{f.baseline:.4g} {f.unit} | {f.ratio:.3g} | {f.goal} | {mark} |"
            )
    lines += ["", "Load average (1 min) at each module's start and end: " + ", ".join(loads) + "."]
    lines += ["", "Goals missed: " + ("; ".join(missed) if missed else "none") + "."]
    out.write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
