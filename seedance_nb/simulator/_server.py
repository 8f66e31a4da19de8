"""Run the simulator in a background thread of this process: `start()` and its handle."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from ._config import SimConfig


class Simulator:
    """A running simulator. `base_url` ends in /api/v1; `api_key` opens its first account."""

    def __init__(self, config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        from ._app import create_app

        self.config = config
        self._storage = contextlib.ExitStack()
        self.app = create_app(config, self._storage.enter_context(config.storage()))
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, name="seedance-simulator", daemon=True
        )
        self._thread.start()
        self._wait_started()
        sock = self._server.servers[0].sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]
        self.root_url = f"http://{self.host}:{self.port}"
        self.base_url = f"{self.root_url}/api/v1"

    def _wait_started(self) -> None:
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulator could not start (is the port taken?)")
            self._thread.join(0.01)

    @property
    def api_key(self) -> str:
        """The key of the first account."""
        return self.config.api_keys[0]

    @property
    def api_keys(self) -> tuple[str, ...]:
        return self.config.api_keys

    @property
    def data_dir(self) -> Path:
        return self.app.state.data_dir

    def stats(self) -> dict[str, Any]:
        """The counters /_simulator/stats serves, read directly."""
        return self.app.state.store.snapshot()

    def fault_next_create(self, kind: str) -> None:
        """Make the next createTask fail: 'lose' creates the task then cuts the connection
        (its id never reaches the caller), 'cut' cuts it before anything is created. Held for
        `create_fault_hold` seconds first. Calls queue up, one per createTask."""
        if kind not in ("lose", "cut"):
            raise ValueError("kind: 'lose' or 'cut'")
        self.app.state.store.create_faults.append(kind)

    def wait(self) -> None:
        """Block until the server stops."""
        self._thread.join()

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._storage.close()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"Simulator({self.base_url!r}, {state}, {self.config!r})"

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(
    *, port: int = 0, host: str = "127.0.0.1", api_key: str | None = None, **options: Any
) -> Simulator:
    """Start a simulator on a free loopback port (or `port`) and return its handle.

    `options` are the fields of `SimConfig` (credits, speed, error_rate, api_keys, ...);
    `api_key` puts one key first, so `sim.api_key` is the one you chose.
    """
    keys = tuple(options.pop("api_keys", ()))
    if api_key and api_key not in keys:
        keys = (api_key, *keys)
    if keys:
        options["api_keys"] = keys
    return Simulator(SimConfig(**options), host=host, port=port)
