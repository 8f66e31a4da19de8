"""Schemathesis against the simulator's own OpenAPI: valid and malformed requests to every route,
with and without a key. No input may produce a 5xx, and the account's books must still balance
afterwards (the simulator is what every other test trusts for the truth about credits)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection

import seedance_nb as sd
from seedance_nb.simulator import SimConfig, Simulator
from seedance_nb.simulator._app import create_app

KEY = "sk-sim-fuzz"
CREDITS = 10**7
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples in every run: CI is repeatable
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzzed_sim() -> Iterator[Simulator]:
    with sd.simulator.start(
        api_keys=(KEY,), credits=CREDITS, concurrency=1000, speed=0.001, seed=3
    ) as sim:
        yield sim


def openapi() -> dict[str, Any]:
    """The simulator's OpenAPI document, as its server publishes it at /openapi.json."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(SimConfig(), Path(tmp)).openapi()


# Loaded at collection (schemathesis' fixture-based loader needs a pytest private it lost in 9.2).
schema = schemathesis.openapi.from_dict(openapi())


@schema.parametrize()
@FUZZ
def test_no_input_with_a_key_makes_the_simulator_fail(case, fuzzed_sim):
    if isinstance(case.body, dict):
        case.body.pop("callBackUrl", None)  # no webhooks to random hosts from the test
    case.call_and_validate(
        base_url=fuzzed_sim.root_url,
        headers={"Authorization": f"Bearer {KEY}"},
        # every check but one: it judges the body as generated (before callBackUrl is dropped
        # above), and a multipart "file" is a file whatever bytes it holds
        excluded_checks=[negative_data_rejection],
    )


@schema.parametrize()
@FUZZ
def test_no_input_without_a_key_makes_the_simulator_fail(case, fuzzed_sim):
    response = case.call_and_validate(base_url=fuzzed_sim.root_url, checks=[not_a_server_error])
    if case.path.startswith("/api/v1/"):  # nothing of an account opens without its key
        assert not 200 <= response.status_code < 300, response.status_code


def test_the_books_balance_after_the_fuzz(fuzzed_sim):
    """Runs after the fuzz in this module: every charge is a completed task's estimate."""
    stats = fuzzed_sim.stats()
    assert stats["counters"]["tasks_created"] > 0  # the fuzz got past validation, too
    account = stats["accounts"]["account-1"]
    assert 0 <= account["availableCredits"] <= account["credits"] <= CREDITS
    assert CREDITS - account["credits"] == stats["counters"].get("credits_charged", 0)
    body = httpx.get(
        f"{fuzzed_sim.base_url}/account/credits", headers={"Authorization": f"Bearer {KEY}"}
    ).json()
    assert body == {"credits": account["credits"], "availableCredits": account["availableCredits"]}
