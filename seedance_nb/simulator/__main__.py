"""Command line: python -m seedance_nb.simulator --port 8765 --api-key KEY ...

Every option but the keys comes from a field of `SimConfig`, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from typing import Any

from ._config import SimConfig, new_key

_OPTIONS = [f for f in dataclasses.fields(SimConfig) if "help" in f.metadata]


def _value_type(hint: Any) -> Any:
    """`int | None` -> int: the type argparse converts the option's text with."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m seedance_nb.simulator",
        description="A local Seedance2 API: same routes and shapes, real MP4s, no credits spent.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="an account's key (repeat for more accounts); default: "
        "$SEEDANCE_API_KEY, else a generated one",
    )
    hints = typing.get_type_hints(SimConfig)
    for f in _OPTIONS:
        parser.add_argument(
            "--" + f.name.replace("_", "-"),
            type=_value_type(hints[f.name]),
            default=f.default,
            help=f.metadata["help"],
        )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; print the base URL once listening."""
    from ._server import Simulator

    args = parse_args(argv)
    generated = not args.api_keys and not os.environ.get("SEEDANCE_API_KEY")
    keys = tuple(args.api_keys or [os.environ.get("SEEDANCE_API_KEY") or new_key()])
    try:
        config = SimConfig(api_keys=keys, **{f.name: getattr(args, f.name) for f in _OPTIONS})
        sim = Simulator(config, host=args.host, port=args.port)
    except (ValueError, RuntimeError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(sim.base_url, flush=True)
    if generated:  # a simulator-only key: it opens nothing real
        print(f"simulator API key: {keys[0]}", flush=True)
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
