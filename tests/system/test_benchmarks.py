"""`make bench` keeps working: every benchmark module loads, and the report names each figure
beside its baseline, marks missed goals and modules that failed, and lists what was missed.

The figures themselves are measured by `make bench`, never asserted here."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from benchmarks.__main__ import MODULES, main
from benchmarks._report import Figure


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_loads_and_names_its_baseline(name):
    module = importlib.import_module(f"benchmarks.{name}")
    doc = module.__doc__ or ""
    assert callable(module.run) and ("baseline" in doc or "against" in doc)


def fake(name: str, run: types.FunctionType) -> str:
    module = types.ModuleType(f"benchmarks.{name}")
    module.run = run  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return name


def test_the_report_marks_met_missed_and_failed(tmp_path, monkeypatch):
    def figures() -> list[Figure]:
        return [
            Figure("fast thing", 2.0, "ms", "plain way", 4.0, "<= 3 ms", True),
            Figure("slow thing", 9.0, "s", "plain way", 3.0, "<= 1 s", False),
            Figure("context", 5.0, "KB", "other", 10.0),
        ]

    def broken() -> list[Figure]:
        raise RuntimeError("no simulator")

    modules = (fake("_fake_ok", figures), fake("_fake_broken", broken))
    out = tmp_path / "RESULTS.md"
    try:
        assert main(modules, out) == 1
    finally:
        for name in modules:
            sys.modules.pop(f"benchmarks.{name}")
    report = out.read_text()
    assert "| fast thing | 2 ms | plain way: 4 ms | 0.5 | <= 3 ms | met |" in report
    assert "| slow thing | 9 s | plain way: 3 s | 3 | <= 1 s | **missed** |" in report
    assert "| context | 5 KB | other: 10 KB | 0.5 |  |  |" in report
    assert "| _fake_broken | failed to run |" in report
    assert report.rstrip().endswith("Goals missed: slow thing: 9 s, goal <= 1 s.")
    assert " cores" in report.splitlines()[2]  # the machine it ran on
