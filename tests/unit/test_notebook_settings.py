"""The notebooks' scratch settings (notebooks/conftest.py) reach only the notebooks' own cells:
leaked into the session, they once sent every kernel and Jupyter server of a full run to one
shared ledger, where an earlier test's prompt came back "reused"."""

from __future__ import annotations

import os


def test_the_notebooks_scratch_ledger_is_not_this_tests():
    for name in ("SEEDANCE_LEDGER", "SEEDANCE_OUTPUTS"):
        assert "seedance-notebooks-" not in os.environ.get(name, ""), name
