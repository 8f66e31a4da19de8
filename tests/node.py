"""Run one of `tests/js/*.mjs` checks against a widget's JavaScript file in Node (skipped where
Node is missing); the check prints one JSON line of what happened, and the test judges it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE = shutil.which("node")
CHECKS = Path(__file__).parent / "js"


def run_check(check: str, module: Path) -> Any:
    """What `tests/js/<check>` printed, run on `module`."""
    if NODE is None:
        pytest.skip("node is not installed")
    run = subprocess.run(
        [NODE, str(CHECKS / check), str(module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(run.stdout)
