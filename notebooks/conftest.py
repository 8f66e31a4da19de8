"""Run the notebooks against the simulator at a high speed, in a scratch ledger and outputs
folder, without editing the notebooks: the kernels inherit these variables.

They are set only while a notebook's cells run (nbval starts the notebook's kernel in the first
cell's setup) and restored after each, never at import: set for the whole session, they sent
every later test's kernels and Jupyter servers to this one shared ledger, where a prompt an
earlier test had used came back "reused".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_scratch = tempfile.mkdtemp(prefix="seedance-notebooks-")
SETTINGS: dict[str, str | None] = {
    "SEEDANCE_API_KEY": None,  # the simulator, whatever the developer's shell holds
    "SEEDANCE_SIM_SPEED": "0.01",
    "SEEDANCE_LEDGER": os.path.join(_scratch, "ledger.sqlite"),
    "SEEDANCE_OUTPUTS": os.path.join(_scratch, "outputs"),
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """The notebook settings around one cell's setup, run and teardown, then the caller's.
    This hook is called for every item of the session, so it acts only on this folder's."""
    if not Path(str(item.path)).is_relative_to(HERE):
        yield
        return
    before = {name: os.environ.get(name) for name in SETTINGS}
    _apply(SETTINGS)
    try:
        yield
    finally:
        _apply(before)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
