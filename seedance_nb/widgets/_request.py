"""How the views reach their Python side and their videos: anywidget's `command` on the
Python side and `request.js` on the JavaScript side for requests; for a video, the Jupyter
server's own URL when the file is under its root (`served_path`, `served.js`), else its bytes
as a command's reply (`video_reply`)."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).parent
SHARED_JS = ("request.js", "served.js")  # prepended to every view's module, in this order


def esm(name: str) -> str:
    """A view's JavaScript module with the shared helpers in front of it, so every view
    carries the same copy (a module loaded from a blob URL cannot import a sibling), without
    its comment lines: a saved notebook keeps one copy in every card's state."""
    text = "\n".join((HERE / part).read_text() for part in (*SHARED_JS, name))
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def css(name: str) -> str:
    """A view's stylesheet with the shared status tones in front of it, without comments."""
    text = (HERE / "tones.css").read_text() + "\n" + (HERE / name).read_text()
    return re.sub(r"/\*.*?\*/\s*", "", text, flags=re.S)


def video_reply(path: Path | None, named: bool = True) -> tuple[dict[str, Any], list[bytes]]:
    """A command's reply carrying a video: its bytes as one binary buffer, or why not. A blind
    comparison asks with `named=False`: a file name would tell the videos apart."""
    try:
        if path is None:
            raise FileNotFoundError("the video is not downloaded yet")
        return ({"ok": True, "name": path.name} if named else {"ok": True}), [path.read_bytes()]
    except OSError as exc:
        return {"ok": False, "error": str(exc)}, []


@functools.cache
def server_root() -> Path | None:
    """The root folder of the Jupyter server that started this kernel, or None (marimo,
    nbclient, Voila on its own, a remote kernel). A Jupyter server describes itself in
    `jpserver-<pid>.json` in its runtime folder, and a kernel it starts is its child process;
    only the root is read from that file."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # pragma: no cover - ipykernel brings jupyter_core
        return None
    info = Path(jupyter_runtime_dir()) / f"jpserver-{os.getppid()}.json"
    try:
        root = json.loads(info.read_text()).get("root_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(root).resolve() if isinstance(root, str) and root else None


def served_path(path: Path | None, root: Path | None = None) -> str:
    """Where the Jupyter server serves `path`: its URL-quoted path relative to the server's
    root (the view asks for `<baseUrl>files/<it>`), or "" when the server cannot serve it
    (no server, outside its root, or in a hidden folder, which Jupyter refuses)."""
    root = root or server_root()
    if path is None or root is None:
        return ""
    try:
        relative = path.resolve().relative_to(root)
    except (ValueError, OSError):
        return ""
    if not relative.parts or any(part.startswith(".") for part in relative.parts):
        return ""
    return quote(relative.as_posix())
