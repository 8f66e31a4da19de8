"""Shared fixtures: real simulators on loopback, at a high speed so tests finish quickly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import seedance_nb as sd
from seedance_nb.simulator import Simulator
from tests.pg import pg_server, pg_url  # noqa: F401  (a real PostgreSQL for team tests)

FAST = 0.01
POLL = 0.05  # the runtime's time unit in tests; the simulator runs at speed FAST


TIERS = ("unit", "integration", "system")  # the folders under tests/, fastest first


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (the folder it sits in), so `-m unit` selects the fast tier,
    and run the tiers fastest first, browser tests last: they are the slowest, and Playwright
    holds an event loop open in the main thread while they run."""
    here = Path(__file__).parent

    def tier(item: pytest.Item) -> int:
        path = Path(str(item.path))
        parts = path.relative_to(here).parts if path.is_relative_to(here) else ()
        return TIERS.index(parts[0]) if parts and parts[0] in TIERS else len(TIERS)

    for item in items:
        rank = tier(item)
        if rank < len(TIERS):
            item.add_marker(TIERS[rank])
    items.sort(key=lambda item: (tier(item), item.get_closest_marker("browser") is not None))


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a ledger lives: a SQLite file, or a fresh schema on a real PostgreSQL (each test
    that takes it runs on both backends)."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(target: str) -> Iterator[sd.Ledger]:
    """A ledger on each backend, closed after the test."""
    with sd.Ledger(target) as ledger:
        yield ledger


@pytest.fixture
def start_sim() -> Iterator[Callable[..., Simulator]]:
    """Start simulators with any options; each is stopped after the test."""
    started: list[Simulator] = []

    def start(**options: object) -> Simulator:
        options.setdefault("speed", FAST)
        sim = sd.simulator.start(**options)  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """One simulator for a module: two accounts, plenty of credits."""
    with sd.simulator.start(
        api_keys=("sk-sim-alice", "sk-sim-bob"), credits=100_000, speed=FAST, concurrency=3, seed=7
    ) as simulator:
        yield simulator


@pytest.fixture
def make_studio(tmp_path: Path) -> Iterator[Callable[..., sd.Studio]]:
    """Studios on a simulator, with a scratch ledger and a fast poller; closed after the test."""
    studios: list[sd.Studio] = []

    def make(sim: Simulator, **options: Any) -> sd.Studio:
        options.setdefault("ledger", tmp_path / "ledger.sqlite")
        options.setdefault("outputs", tmp_path / "outputs")
        options.setdefault("poll_interval", POLL)
        options.setdefault("verbose", False)
        client = sd.Client(api_key=sim.api_key, base_url=sim.base_url)
        studio = sd.Studio(client=client, **options)
        client.close()
        studios.append(studio)
        return studio

    yield make
    for studio in studios:
        studio.close()


@pytest.fixture
def client(sim: Simulator) -> Iterator[sd.Client]:
    with sd.Client(api_key=sim.api_key, base_url=sim.base_url) as c:
        yield c


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_per_module() -> Iterator[None]:
    """Collect garbage after each module, so a resource a module leaks is reported against
    that module (as an unraisable warning, an error here) rather than a later, innocent one."""
    yield
    import gc

    gc.collect()
