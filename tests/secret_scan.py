"""Look for an API key in files and texts, in every form it could leak in.

A key is recognisable by its distinctive middle, so a truncated, URL-quoted or base64-encoded
copy is found too, and bytes are searched raw (a SQLite page or a video is not text).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

FAKE_KEY = "sk-live-SOAKSECRET-4f9c2a7e1d8b6035-XYZ"
_CORE = "SOAKSECRET-4f9c2a7e"


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def key_forms(key: str) -> dict[str, str]:
    """Every form a server might echo `key` in, built independently of the redactor."""
    b64, url64 = base64.b64encode, base64.urlsafe_b64encode
    raw = key.encode()
    forms = {
        "raw": key,
        "json-slash": key.replace("/", "\\/"),
        "json-u-lower": "".join(f"\\u{ord(c):04x}" for c in key),
        "json-u-upper": "".join(f"\\u{ord(c):04X}" for c in key),
        "json-u-some": "".join(f"\\u{ord(c):04x}" if i % 3 == 0 else c for i, c in enumerate(key)),
        "json-in-json": key.replace("/", "\\\\\\/"),  # `\\\/`: escaped twice
        "quote": quote(key),
        "quote-all": quote(key, safe=""),
        "quote-plus": quote_plus(key),
        "quote-lower": _lower_hex(quote(key, safe="")),
        "quote-plus-lower": _lower_hex(quote_plus(key)),
        "quote-twice": quote(quote(key, safe=""), safe=""),
        "html-entities": "".join(f"&#{ord(c)};" if not c.isalnum() else c for c in key),
    }
    for name, data in (("", raw), ("bearer-", b"Bearer " + raw), ("basic-", raw + b":")):
        std, url = b64(data).decode(), url64(data).decode()
        forms |= {
            f"{name}b64": std,
            f"{name}b64-nopad": std.rstrip("="),
            f"{name}b64-url": url,
            f"{name}b64-url-nopad": url.rstrip("="),
        }
    header = b64(f"Authorization: Bearer {key}".encode()).decode()
    forms["b64-header"] = header
    return {name: form for name, form in forms.items() if form}


def needles(key: str = FAKE_KEY, core: str = _CORE) -> list[bytes]:
    """Byte patterns any leak of `key` would contain: every form a server may echo it in."""
    forms = {core, *key_forms(key).values()}
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
