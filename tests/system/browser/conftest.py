"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, and a page on a
Jupyter app that can reach nothing but that app (as on Binder or a remote hub). The servers,
cell runner and waits themselves live in cells.py, once for every frontend.

No browser is downloaded: Playwright launches the system Chromium found on PATH.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cells import CHROMIUM, FLAGS, Server, guard

SCREENSHOTS = Path(os.environ.get("SEEDANCE_SCREENSHOTS", "build/screenshots")).resolve()

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Playwright's sync API runs an event loop in the main thread while it is open, so it is
    opened per module, never for the whole session (asyncio.run() elsewhere would fail)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, tmp_path, screenshots):
    """Start a Jupyter app on a notebook and open it in a page that can reach nothing else.
    `path` is where the app shows a notebook: lab/tree, notebooks, or voila/render."""
    servers, pages = [], []

    def open_page(
        app: str,
        notebook: Path,
        path: str,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ):
        server = Server(tmp_path, app, env, args)
        servers.append(server)
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        pages.append(page)
        page.check = guard(page, server.url)
        page.server = server
        page.goto(f"{server.url}/{path}/{notebook.name}?token={server.token}")
        return page

    yield open_page
    for i, page in enumerate(pages):  # the last view of each page, pass or fail
        page.screenshot(path=str(SCREENSHOTS / f"last-{tmp_path.name}-{i}.png"), full_page=True)
        page.context.close()
    for server in servers:
        server.stop()
