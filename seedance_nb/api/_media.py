"""Rules for media references: URLs, asset references and local files (measured on disk).

Pillow and PyAV are imported only when a local file is actually measured.

Size caps. The API publishes no limit on the size of a reference file, so these are our own:
MAX_IMAGE_BYTES (30 MiB), MAX_VIDEO_BYTES (200 MiB) and MAX_AUDIO_BYTES (50 MiB). They are
generous for a reference of at most 15 s, and they keep a mistaken path (a disk image, a whole
film) from being hashed and uploaded: a file over its cap is refused from `stat` alone, before
anything opens it.

A URL must not carry a user name or password: the request is stored in the ledger as sent, so
the credential would be kept in clear.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ._exceptions import ValidationError

MediaKind = Literal["image", "video", "audio"]
Media = str | os.PathLike[str]

MIN_IMAGE_SIDE = 400
MAX_CLIP_SECONDS = 15.0
MiB = 2**20
MAX_IMAGE_BYTES = 30 * MiB
MAX_VIDEO_BYTES = 200 * MiB
MAX_AUDIO_BYTES = 50 * MiB
MAX_BYTES: dict[str, int] = {
    "image": MAX_IMAGE_BYTES,
    "video": MAX_VIDEO_BYTES,
    "audio": MAX_AUDIO_BYTES,
}
MAX_FILE_BYTES = max(MAX_BYTES.values())  # what an upload of any kind may be
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_ASSET = re.compile(r"^asset://[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted for an error message, cut short if long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _is_file(path: Path) -> bool:
    """Whether `path` is a file; a name the OS cannot even look up is simply not one."""
    try:
        return path.expanduser().is_file()
    except (OSError, ValueError, RuntimeError):  # too long, NUL byte, unknown ~user
        return False


def is_remote(ref: str | Path) -> bool:
    """True for a wire reference (http(s) URL or asset://), False for a local file."""
    return isinstance(ref, str)


def looks_local(text: str) -> bool:
    """True if `text` has no URL scheme (or only a Windows drive letter): a filesystem path."""
    match = _SCHEME.match(text.strip())
    return match is None or len(match.group(1)) == 1


def check_ref(field: str, value: object, kind: MediaKind) -> str | Path:
    """Normalise one media reference: a checked URL string, or a measured local Path."""
    if isinstance(value, os.PathLike):
        return check_local(field, Path(value), kind)
    if not isinstance(value, str):
        raise ValidationError(
            field,
            f"must be an http(s) URL, an asset:// reference or a local path, "
            f"not {type(value).__name__}",
        )
    text = value.strip()
    if not text:
        raise ValidationError(field, "must not be empty")
    if looks_local(text):
        if _is_file(Path(text)):
            return check_local(field, Path(text).expanduser(), kind)
        raise ValidationError(
            field,
            f"must be an http(s) URL, an asset:// reference or an existing local file; "
            f"{_shown(text)} is none of these",
        )
    return check_url(field, text)


def size_rule(path: Path, size: int, cap: int, kind: str) -> str:
    """The rule a file over its size cap breaks, with both sizes in MiB."""
    return (
        f"a local {kind} file must be at most {cap / MiB:g} MiB; "
        f"{path.name} is {size / MiB:,.1f} MiB"
    )


def check_url(field: str, url: str) -> str:
    """Accept only http://, https:// and asset:// references, with no credentials in them."""
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError(field, "a URL must not contain spaces or control characters")
    if not _encodable(url):
        raise ValidationError(field, "a URL must be text that can be encoded as UTF-8")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "asset":
        if not _ASSET.match(url):
            raise ValidationError(
                field, f"an asset reference looks like asset://<id>, got {_shown(url)}"
            )
        return url
    if scheme not in ("http", "https"):
        raise ValidationError(
            field, f"must be an http(s) URL or an asset:// reference, not a {scheme[:20]}: URL"
        )
    if "@" in _authority(url):  # checked before anything quotes the URL back
        raise ValidationError(
            field, "must not carry a user name or password (the ledger would store it in clear)"
        )
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:  # e.g. an unclosed [IPv6 bracket
        raise ValidationError(field, f"is not a valid URL ({exc}): {_shown(url)}") from None
    if not host:
        raise ValidationError(field, f"an {scheme} URL needs a host, got {_shown(url)}")
    return url


def _authority(url: str) -> str:
    """The `//user:pw@host:port` part of a URL, found without parsing it (no error can quote it)."""
    rest = url.split(":", 1)[1].lstrip("/\\") if ":" in url else url
    return re.split(r"[/?#]", rest, maxsplit=1)[0]


def _encodable(text: str) -> bool:
    """Whether `text` can be sent and stored: UTF-8 has no form for a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_local(field: str, path: Path, kind: MediaKind) -> Path:
    """Check a local file exists, is within its size cap (stat only), and meets the API's
    limits for its kind (measured only once the size is known to be sane)."""
    if not _is_file(path):
        raise ValidationError(field, f"local file {_shown(str(path))} does not exist")
    path = path.expanduser()
    try:
        size = path.stat().st_size
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValidationError(
            field, f"local file {path.name!r} cannot be read ({reason})"
        ) from None
    if size > MAX_BYTES[kind]:
        raise ValidationError(field, size_rule(path, size, MAX_BYTES[kind], kind))
    if kind == "image":
        width, height = image_size(field, path)
        if min(width, height) < MIN_IMAGE_SIDE:
            raise ValidationError(
                field,
                f"images must be at least {MIN_IMAGE_SIDE} px on the short side; "
                f"{path.name} is {width}x{height}",
            )
    else:
        seconds = clip_seconds(field, path, kind)
        if seconds > MAX_CLIP_SECONDS:
            raise ValidationError(
                field,
                f"{kind} references must be at most {MAX_CLIP_SECONDS:g} s long; "
                f"{path.name} is {seconds:.1f} s",
            )
    return path


def image_size(field: str, path: Path) -> tuple[int, int]:
    """Width and height of an image file, or a ValidationError if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise ValidationError(field, f"{path.name} is not a readable image ({exc})") from None


def clip_seconds(field: str, path: Path, kind: MediaKind) -> float:
    """Length in seconds of a video or audio file, measured with PyAV."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video if kind == "video" else container.streams.audio
            if not streams:
                raise ValidationError(field, f"{path.name} has no {kind} stream")
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            return _decode_seconds(container, stream)
    except av.error.FFmpegError as exc:
        raise ValidationError(field, f"{path.name} is not a readable {kind} file ({exc})") from None


def _decode_seconds(container: object, stream: object) -> float:
    """Fallback for files without a duration header: the last packet's end time."""
    end = 0.0
    for packet in container.demux(stream):  # type: ignore[attr-defined]
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end
