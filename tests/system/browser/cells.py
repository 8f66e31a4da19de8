"""What every browser test needs, written once: a Jupyter app (JupyterLab, Notebook 7, Voilà)
or marimo on a free loopback port, notebooks written into the test's folder, a cell runner that
waits on locators (found again when the page re-renders, never a stale element), and waits
for a video to play."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import nbformat
from playwright.sync_api import expect

from tests.waiting import wait_until

ROOT = Path(__file__).parents[3]
NOTEBOOKS = ROOT / "notebooks"
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
PLAYABLE = "el => el.readyState >= 2 && el.videoWidth > 0"
PLAYING = "el => !el.paused && el.currentTime > 0.1"
# every video in the element playing, all within a quarter second of the first
IN_STEP = """root => {
  const videos = [...root.querySelectorAll('video')];
  return videos.length > 1 && videos.every((v) => !v.paused && v.currentTime > 0.1
    && Math.abs(v.currentTime - videos[0].currentTime) < 0.25);
}"""
STUDIO = "import seedance_nb as sd\nstudio = sd.Studio(poll_interval=0.05)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server started in `folder`, logging there, stopped by `stop()`."""

    url = ""

    def start(self, argv: list[str], folder: Path, env: dict[str, str], health: str) -> None:
        self.log = (folder / f"{self.name}.log").open("w")
        self.proc = subprocess.Popen(
            argv, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(health).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)  # waiting for a process to listen: nothing to subscribe to
        self.stop()
        raise RuntimeError(f"{self.name} did not start; see {folder / (self.name + '.log')}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Server(Process):
    """`jupyter lab` or `jupyter notebook` on `root` (Voilà is served by either, under
    /voila/render/). Kernels run the simulator at a high speed with no API key."""

    def __init__(
        self,
        root: Path,
        app: str,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.name, self.root = app, root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        environ = {**os.environ, "SEEDANCE_SIM_SPEED": "0.01", "JUPYTER_PLATFORM_DIRS": "1"}
        environ.pop("SEEDANCE_API_KEY", None)
        environ.update(env or {})
        # a workspace of its own: a shared one makes the next server reopen the last test's
        # notebook (a 404) and re-render cells under a test that is waiting on them
        workspaces = root / f"workspaces-{app}"
        workspaces.mkdir(exist_ok=True)
        environ.setdefault("JUPYTERLAB_WORKSPACES_DIR", str(workspaces))
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "jupyter", app, "--no-browser", f"--port={self.port}"]
        argv += [
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--allow-root",
            *(args or []),
        ]
        self.start(argv, root, environ, f"{self.url}/api/status?token={self.token}")


class Marimo(Process):
    """`marimo edit` on a notebook in `folder`, with its own config (cells run on open)."""

    def __init__(self, folder: Path, notebook: Path, env: dict[str, str]) -> None:
        self.name, self.folder = "marimo", folder
        self.port = free_port()
        config = folder / "config" / "marimo"
        config.mkdir(parents=True, exist_ok=True)
        (config / "marimo.toml").write_text("[runtime]\nauto_instantiate = true\n")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
        environ.update(
            XDG_CONFIG_HOME=str(folder / "config"),
            XDG_CACHE_HOME=str(folder / "cache"),
            XDG_STATE_HOME=str(folder / "state"),
            **env,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "marimo", "-y", "edit", str(notebook), "--headless"]
        argv += ["--no-token", f"--port={self.port}", "--host=127.0.0.1"]
        argv += ["--skip-update-check", "--no-sandbox"]
        self.start(argv, folder, environ, f"{self.url}/health")


def write_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    """A notebook of code cells, for the Python 3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / name
    nbformat.write(nb, path)
    return path


def copy_notebook(name: str, folder: Path) -> Path:
    """A shipped notebook copied into the test's folder (a frontend may save into it)."""
    shutil.copy(NOTEBOOKS / name, folder / name)
    return folder / name


def code_cells(page) -> object:
    """The notebook's code cells (JupyterLab and Notebook 7 share this markup)."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    cells.first.wait_for(timeout=60_000)
    return cells


RAN = re.compile(r"\[(\*|\d+)\]")  # a prompt once the kernel has taken the cell


def run_cells(page, count: int | None = None) -> None:
    """Run the first `count` code cells in order, each until the kernel has taken it, or all
    of them: the first so, then the Run menu's "selected cell and all below" (Notebook 7 and
    JupyterLab share it), until the second cell has run."""
    if count is not None:
        for index in range(count):
            run_cell(page, index)
        return
    run_cell(page, 0)
    second = code_cells(page).nth(1)
    prompt = second.locator(".jp-InputPrompt")
    done = re.compile(r"\[\d+\]")
    for _ in range(5):  # until the cells have run: a menu opened mid-render may close
        second.locator(".jp-InputArea-editor").click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        below = re.compile(r"^Run Selected Cell and All Below")
        page.get_by_role("menuitem", name=below).click()
        try:  # ran, not only queued: under load Lab has been seen to drop a queued run
            expect(prompt).to_have_text(done, timeout=60_000)
            return
        except AssertionError:
            if "*" in prompt.inner_text():  # still waiting its turn: never queue it twice
                expect(prompt).to_have_text(done, timeout=120_000)
                return
            page.keyboard.press("Escape")
    raise AssertionError("the Run menu never ran the cells")


def run_cell(page, index: int):
    """Run code cell `index` with Ctrl+Enter and return it, pressing again only while its
    prompt shows it was never taken: a fresh kernel, or JupyterLab under load, may drop a
    request (a queued cell is never sent twice)."""
    cell = code_cells(page).nth(index)
    prompt = cell.locator(".jp-InputPrompt")  # a locator: found again if re-rendered
    accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", if a slow one asks
    for _ in range(24):
        if accept.is_visible():
            accept.click()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).to_have_text(RAN, timeout=5_000)
            return cell
        except AssertionError:
            continue
    raise AssertionError(f"the kernel never took code cell {index}")


def wait_js(locator, script: str, timeout: float = 90, arg: object = None) -> None:
    """Wait until `script` (a function of the element) holds for the element `locator` finds
    now: asked again on each try, so a re-rendered element is found again."""

    def holds() -> bool:
        try:
            return bool(locator.evaluate(script, arg, timeout=2_000))
        except Exception:  # not attached yet, or replaced while asked
            return False

    assert wait_until(holds, timeout), f"{script} never held for {locator}"


def wait_playable(page, locator, timeout: float = 90) -> None:
    """The video has its first frame and knows its size."""
    locator.wait_for(state="attached", timeout=timeout * 1000)
    wait_js(locator, PLAYABLE, timeout)


# what playwright says when the element it resolved was replaced or hidden while it shot it
REPLACED = ("not attached", "not stable", "not visible")


def snap(locator, path: Path | str, tries: int = 5) -> None:
    """Screenshot the element `locator` finds, found again if the frontend replaces it while
    shot (Lab and Notebook 7 re-publish a cell's output when the cell ends: the old element is
    first hidden, then detached). The picture is a record, not a check: what it shows is
    asserted before."""
    for attempt in range(tries):
        try:
            locator.wait_for(state="visible", timeout=30_000)
            locator.scroll_into_view_if_needed(timeout=30_000)
            locator.screenshot(path=str(path), timeout=30_000)
            return
        except Exception as error:  # playwright's Error: detached, hidden or replaced mid-shot
            if not any(word in str(error) for word in REPLACED) or attempt == tries - 1:
                raise


def wait_text(locator, text: str | re.Pattern[str], timeout: float = 30) -> None:
    expect(locator).to_have_text(text, timeout=timeout * 1000)


def guard(page, origin: str) -> Callable[[], None]:
    """Record page errors and block every request to an origin but `origin` (as on Binder,
    where the browser reaches only the notebook server). Returns a check to call at the end."""
    from urllib.parse import urlsplit

    page.errors, page.blocked = [], []
    page.on("pageerror", lambda exc: page.errors.append(f"{exc}\n{exc.stack}"))
    netloc = urlsplit(origin).netloc

    def only_origin(route) -> None:
        url = route.request.url
        target = urlsplit(url)
        if url.startswith(("data:", "blob:")) or target.netloc == netloc:
            route.continue_()
        else:
            page.blocked.append(url)
            route.abort()

    page.route("**/*", only_origin)

    def check(ignore: str = "\0") -> None:
        assert [e for e in page.errors if ignore not in e] == [], page.errors
        # the page never went around the server (to the simulator, say)
        assert all("127.0.0.1" not in u for u in page.blocked), page.blocked

    return check
