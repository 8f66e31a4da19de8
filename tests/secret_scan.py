"""Look for an API key in files and texts, in every form it could leak in.

A key is recognisable by its distinctive middle, so a truncated, URL-quoted or base64-encoded
copy is found too, and bytes are searched raw (a SQLite page or a video is not text).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

FAKE_KEY = "sk-live-SOAKSECRET-4f9c2a7e1d8b6035-XYZ"
_CORE = "SOAKSECRET-4f9c2a7e"


def needles(key: str = FAKE_KEY, core: str = _CORE) -> list[bytes]:
    """Byte patterns any leak of `key` would contain."""
    forms = {key, core, quote(key, safe=""), base64.b64encode(key.encode()).decode()}
    return [f.encode() for f in forms] + [core.encode("utf-16-le")]


def leaks_in_bytes(data: bytes, key: str = FAKE_KEY) -> list[str]:
    """Which forms of the key occur in `data`."""
    return [n.decode("latin-1") for n in needles(key) if n in data]


def scan_files(paths: Iterable[Path], key: str = FAKE_KEY) -> dict[str, list[str]]:
    """Every file (folders searched recursively) that holds the key, with the forms found."""
    found: dict[str, list[str]] = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            hits = leaks_in_bytes(file.read_bytes(), key)
            if hits:
                found[str(file)] = hits
    return found


def scanned_files(paths: Iterable[Path]) -> list[Path]:
    """The files `scan_files` reads, so a test can show its scan was not vacuous."""
    out: list[Path] = []
    for path in paths:
        out += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return out
