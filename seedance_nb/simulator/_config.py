"""Settings of one simulator run, shared by the CLI and `start()`."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def new_key() -> str:
    """A fresh simulator API key (it opens only this simulator, nothing real)."""
    return "sim-" + secrets.token_urlsafe(18)


@dataclass(frozen=True, repr=False)
class SimConfig:
    """How the simulator behaves. Every delay is multiplied by `speed`.

    `error_rate`: share of API requests answered 500 before they take effect.
    `drop_rate`: share of API requests whose connection is cut mid-response.
    `fail_rate`: share of tasks that end FAILED.
    """

    api_keys: tuple[str, ...] = field(default_factory=lambda: (new_key(),))
    credits: int = 5000
    concurrency: int = 3
    speed: float = 1.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    fail_rate: float = 0.0
    data_dir: Path | None = None
    seed: int | None = None

    @contextlib.contextmanager
    def storage(self) -> Iterator[Path]:
        """The data folder: `data_dir` if given, else a temporary one removed afterwards."""
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            yield self.data_dir
            return
        with tempfile.TemporaryDirectory(prefix="seedance-sim-") as tmp:
            yield Path(tmp)

    def __post_init__(self) -> None:
        if not self.api_keys or not all(isinstance(k, str) and k for k in self.api_keys):
            raise ValueError("api_keys: at least one non-empty key is needed")
        for name in ("error_rate", "drop_rate", "fail_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        if self.speed <= 0:
            raise ValueError("speed: must be positive")
        if self.concurrency < 1 or self.credits < 0:
            raise ValueError("concurrency must be >= 1 and credits >= 0")

    def __repr__(self) -> str:  # never show the keys
        return (
            f"SimConfig(accounts={len(self.api_keys)}, credits={self.credits}, "
            f"concurrency={self.concurrency}, speed={self.speed}, error_rate={self.error_rate}, "
            f"drop_rate={self.drop_rate}, fail_rate={self.fail_rate})"
        )
