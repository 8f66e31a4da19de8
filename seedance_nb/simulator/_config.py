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
    """How the simulator behaves. Every delay (renders, callbacks, link and record lifetimes)
    is multiplied by `speed`.

    `start(**options)` and the command line both build one of these from its fields; a
    field's `help` metadata is its command-line help.
    """

    api_keys: tuple[str, ...] = field(default_factory=lambda: (new_key(),))
    credits: int = field(default=5000, metadata={"help": "credits per account"})
    concurrency: int = field(default=3, metadata={"help": "running tasks per account"})
    speed: float = field(default=1.0, metadata={"help": "multiplies every delay"})
    error_rate: float = field(
        default=0.0, metadata={"help": "share of API requests answered 500 before they take effect"}
    )
    echo_key: bool = field(
        default=False,
        metadata={
            "help": "injected 500s quote the caller's key back, raw, JSON-escaped, URL-encoded "
            "and base64, as a careless server might (to test that clients redact it)"
        },
    )
    drop_rate: float = field(
        default=0.0, metadata={"help": "share of API requests whose connection is cut mid-response"}
    )
    lose_create_rate: float = field(
        default=0.0,
        metadata={
            "help": "share of createTask requests whose task is created, then the answer is lost "
            "(the connection is cut): a task exists whose id the caller never gets"
        },
    )
    cut_create_rate: float = field(
        default=0.0,
        metadata={
            "help": "share of createTask requests whose connection is cut before any task is "
            "created (nothing reserved or charged)"
        },
    )
    create_fault_hold: float = field(
        default=0.0,
        metadata={
            "help": "seconds (not scaled by speed) a faulty createTask holds its connection "
            "before it is cut"
        },
    )
    fail_rate: float = field(
        default=0.0, metadata={"help": "share of tasks that end FAILED (exactly one in 1/rate)"}
    )
    moderation_rate: float = field(
        default=0.0,
        metadata={"help": "share of ordinary tasks that end FAILED by content moderation"},
    )
    url_ttl: float = field(
        default=24 * 3600.0,
        metadata={"help": "seconds (at speed 1) an output URL stays valid; queryTask gives fresh"},
    )
    task_ttl: float = field(
        default=7 * 24 * 3600.0,
        metadata={"help": "seconds (at speed 1) a finished task's record lives, then 404"},
    )
    data_dir: Path | None = field(
        default=None,
        metadata={
            "help": "folder for state, assets and videos: tasks and credits survive a restart"
        },
    )
    seed: int | None = field(default=None, metadata={"help": "random seed, for repeatable runs"})
    render_ahead: bool = field(
        default=False,
        metadata={
            "help": "render a task's video as soon as it is created (when it will complete), "
            "not on its first download, so a client that saves every video (a studio) gets it "
            "at once; invisible on the wire"
        },
    )

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
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.api_keys or not all(isinstance(k, str) and k for k in self.api_keys):
            raise ValueError("api_keys: at least one non-empty key is needed")
        rates = ("error_rate", "drop_rate", "fail_rate", "moderation_rate")
        for name in (*rates, "lose_create_rate", "cut_create_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        if self.create_fault_hold < 0:
            raise ValueError("create_fault_hold: must be at least 0")
        if self.speed <= 0:
            raise ValueError("speed: must be positive")
        if self.url_ttl <= 0 or self.task_ttl <= 0:
            raise ValueError("url_ttl and task_ttl: must be positive")
        if self.concurrency < 1 or self.credits < 0:
            raise ValueError("concurrency must be >= 1 and credits >= 0")

    def __repr__(self) -> str:  # never show the keys
        return (
            f"SimConfig(accounts={len(self.api_keys)}, credits={self.credits}, "
            f"concurrency={self.concurrency}, speed={self.speed}, error_rate={self.error_rate}, "
            f"drop_rate={self.drop_rate}, lose_create_rate={self.lose_create_rate}, "
            f"cut_create_rate={self.cut_create_rate}, fail_rate={self.fail_rate}, "
            f"moderation_rate={self.moderation_rate}, url_ttl={self.url_ttl}, "
            f"task_ttl={self.task_ttl})"
        )
