"""A request's fingerprint: the same model and wire request on the same kind of server.

Local files count by their content, so a re-run after a restart matches even though each
upload gets a new asset URL.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlsplit

from ..api import Request

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def server_kind(base_url: str) -> str:
    """'simulator' for any loopback server (its port changes each run), else the URL."""
    host = urlsplit(base_url).hostname or ""
    return "simulator" if host in LOOPBACK else base_url.rstrip("/")


def fingerprint(request: Request, model: str, base_url: str) -> str:
    """A stable hex digest for re-run detection."""
    local = {
        str(path.resolve()): "sha256:" + _file_digest(path) for _, _, path in request.local_files()
    }

    def by_content(value: object) -> object:
        if isinstance(value, list):
            return [by_content(v) for v in value]
        return local.get(value, value) if isinstance(value, str) else value

    inputs = {k: by_content(v) for k, v in request.to_inputs(allow_local=True).items()}
    canonical = json.dumps(
        {"server": server_kind(base_url), "model": model, "inputs": inputs},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
