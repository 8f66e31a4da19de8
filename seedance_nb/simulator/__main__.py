"""Command line: python -m seedance_nb.simulator --port 8765 --api-key KEY ..."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ._config import SimConfig, new_key


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
    parser.add_argument("--credits", type=int, default=5000, help="credits per account")
    parser.add_argument("--concurrency", type=int, default=3, help="running tasks per account")
    parser.add_argument("--speed", type=float, default=1.0, help="multiplies every delay")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share answered 500")
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="share of requests whose connection is cut mid-response",
    )
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of tasks FAILED")
    parser.add_argument("--data-dir", type=Path, default=None, help="assets and rendered videos")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; print the base URL once listening."""
    from ._server import Simulator

    args = parse_args(argv)
    generated = not args.api_keys and not os.environ.get("SEEDANCE_API_KEY")
    keys = tuple(args.api_keys or [os.environ.get("SEEDANCE_API_KEY") or new_key()])
    try:
        config = SimConfig(
            api_keys=keys,
            credits=args.credits,
            concurrency=args.concurrency,
            speed=args.speed,
            error_rate=args.error_rate,
            drop_rate=args.drop_rate,
            fail_rate=args.fail_rate,
            data_dir=args.data_dir,
            seed=args.seed,
        )
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
