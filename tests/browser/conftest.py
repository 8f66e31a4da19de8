"""A real JupyterLab on a free loopback port and Debian's Chromium driven by Playwright.

No browser is downloaded: Playwright launches the system Chromium found on PATH. Every request
from the page to an origin other than the Jupyter server is blocked, as on Binder or a remote
hub where the browser can reach only the Jupyter server.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(os.environ.get("SEEDANCE_SCREENSHOTS", "build/screenshots")).resolve()

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, app: str) -> None:
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.root = root
        env = {**os.environ, "SEEDANCE_SIM_SPEED": "0.01", "JUPYTER_PLATFORM_DIRS": "1"}
        env.pop("SEEDANCE_API_KEY", None)
        # a workspace of its own: a shared one makes the next server reopen the last test's
        # notebook (a 404) and re-render cells under a test that is waiting on them
        workspaces = root / f"workspaces-{app}"
        workspaces.mkdir(exist_ok=True)
        env.setdefault("JUPYTERLAB_WORKSPACES_DIR", str(workspaces))
        self.log = (root / f"{app}.log").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                app,
                "--no-browser",
                f"--port={self.port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.open_browser=False",
                "--allow-root",
            ],
            cwd=root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/status?token={self.token}").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)  # waiting for a process to listen: nothing to subscribe to
        self.stop()
        raise RuntimeError(f"{app} did not start; see {root / (app + '.log')}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


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
    """Start a Jupyter app on a notebook and open it in a page that can reach nothing else."""
    servers, pages = [], []

    def open_page(app: str, notebook: Path, path: str):
        server = Server(tmp_path, app)
        servers.append(server)
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        pages.append(page)
        page.errors, page.blocked = [], []
        page.on("pageerror", lambda exc: page.errors.append(f"{exc}\n{exc.stack}"))
        origin = urlsplit(server.url)

        def only_jupyter(route):
            target = urlsplit(route.request.url)
            if (target.scheme, target.netloc) in (
                ("http", origin.netloc),
                ("ws", origin.netloc),
                ("data", ""),
                ("blob", ""),
            ) or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:
                page.blocked.append(route.request.url)
                route.abort()

        page.route("**/*", only_jupyter)
        page.goto(f"{server.url}/{path}/{notebook.name}?token={server.token}")
        return page

    yield open_page
    for i, page in enumerate(pages):  # the last view of each page, pass or fail
        page.screenshot(path=str(SCREENSHOTS / f"last-{tmp_path.name}-{i}.png"), full_page=True)
        page.context.close()
    for server in servers:
        server.stop()
