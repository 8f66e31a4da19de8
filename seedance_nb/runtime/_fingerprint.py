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


def fingerprint(request: Request, model: str, base_url: str, take: int = 1) -> str:
    """A stable hex digest for re-run detection: the same request, model, kind of server and
    take. Take 1 digests as the first stage did, so older ledgers keep matching; labels never
    count."""
    local = {
        str(path.resolve()): "sha256:" + _file_digest(path) for _, _, path in request.local_files()
    }

    def by_content(value: object) -> object:
        if isinstance(value, list):
            return [by_content(v) for v in value]
        return local.get(value, value) if isinstance(value, str) else value

    inputs = {k: by_content(v) for k, v in request.to_inputs(allow_local=True).items()}
    what: dict[str, object] = {"server": server_kind(base_url), "model": model, "inputs": inputs}
    if take != 1:
        what["take"] = take
    canonical = json.dumps(
        what,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256


def _file_digest(path: Path) -> str:
    """The file's sha256, remembered while its size and mtime stay the same (a re-run of a
    cell does not read it again)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]
