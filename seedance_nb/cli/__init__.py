"""`seedance-nb`: sweeps, status, resume and downloads from a terminal, on the notebooks' ledger.

The top layer: it may import everything below it, and nothing imports it.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the `seedance-nb` console script and `python -m seedance_nb`)."""
    try:
        from ._app import main as run
    except ImportError as exc:  # click or rich missing: the core install has neither
        if (exc.name or "").split(".")[0] not in ("click", "rich"):
            raise
        raise SystemExit(
            f"seedance-nb needs the command-line extra ({exc.name} is missing): "
            'pip install "seedance-nb[cli]"'
        ) from None
    run(argv)


__all__ = ["main"]
