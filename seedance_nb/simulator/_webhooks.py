"""Callback delivery: POST the queryTask body, retrying after 1 s, 5 s and 30 s (times speed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from ._state import Store

RETRY_DELAYS = (1.0, 5.0, 30.0)
log = logging.getLogger("seedance_nb.simulator")


async def deliver(
    store: Store, http: httpx.AsyncClient, url: str, body: Callable[[], dict[str, Any]]
) -> bool:
    """Send one callback with the API's retry policy; True once an endpoint answered 2xx.

    `body()` is the queryTask answer, made afresh for each attempt (its video link is new).
    """
    for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
        if delay:
            await asyncio.sleep(delay * store.config.speed)
        store.stats["webhook_attempts"] += 1
        payload = body()
        try:
            response = await http.post(url, json=payload, timeout=10.0)
        except httpx.HTTPError as exc:
            log.info(
                "callback %s attempt %d failed: %s",
                payload["taskId"],
                attempt + 1,
                type(exc).__name__,
            )
            continue
        if response.is_success:
            store.stats["webhooks_delivered"] += 1
            return True
        log.info(
            "callback %s attempt %d answered %d",
            payload["taskId"],
            attempt + 1,
            response.status_code,
        )
    store.stats["webhooks_abandoned"] += 1
    return False
