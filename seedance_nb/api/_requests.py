"""The four request types, their complete local validation and their exact wire form.

Every rule of the Seedance2 API is checked when a request is constructed, so a request object
that exists is one the API will accept. The simulator builds the same objects from the wire
(`from_inputs`), so there is one set of rules, not two.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from ._exceptions import ValidationError
from ._media import Media, MediaKind, check_ref, check_url, looks_local

MODELS = ("seedance2", "seedance2-fast")
RESOLUTIONS = ("720x720", "720x960", "960x720", "1280x720", "720x1280", "1280x540")
UPSCALES = ("2k", "4k")
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 4, 15, 5
MAX_IMAGES, MAX_VIDEOS, MAX_AUDIOS, MAX_FILES = 9, 3, 3, 12
MAX_NAME = 100  # characters in an experiment name or a label

Mode = Literal["text-to-video", "image-to-video", "keyframes", "reference"]
Ref = str | Path
R = TypeVar("R", bound="Request")
_DURATION = re.compile(r"^(\d+)s$")


def check_model(model: object) -> str:
    """The model name, if it is one the API serves."""
    if model not in MODELS:
        raise ValidationError("model", f"must be one of {', '.join(MODELS)}; got {model!r}")
    return model  # type: ignore[return-value]


def check_name(field: str, value: object, *, label: bool = False) -> str | None:
    """An experiment name (stripped) or a label (None allowed), checked before anything is
    sent: at most `MAX_NAME` characters, no path separator (``/`` or ``\\``) and no control
    character (NUL included), so that it fits every file system and every ledger backend."""
    if label and value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        what = "a label" if label else "a name"
        raise ValidationError(field, f"must be {what} with at least one visible character")
    name = value if label else value.strip()
    if len(name) > MAX_NAME:
        raise ValidationError(
            field, f"must be at most {MAX_NAME} characters; this one has {len(name)}"
        )
    if "/" in name or "\\" in name:
        raise ValidationError(field, "must not contain a path separator (/ or \\)")
    for char in name:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValidationError(
                field,
                f"must not contain control characters (found U+{ord(char):04X} at position "
                f"{name.index(char) + 1})",
            )
    return name


def check_callback_url(url: object) -> str | None:
    """A webhook URL must be http(s); None means no webhook."""
    if url is None:
        return None
    if not isinstance(url, str):
        raise ValidationError("callback_url", "must be an http(s) URL string")
    checked = check_url("callback_url", url.strip())
    if checked.startswith("asset:"):
        raise ValidationError("callback_url", "must be an http(s) URL, not an asset reference")
    return checked


def _duration(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(
            "duration",
            f"must be a whole number of seconds ({MIN_SECONDS}-{MAX_SECONDS}) as an int or "
            f"a string like '5s'; got {value!r}",
        )
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            raise ValidationError("duration", f"must look like '5s' (whole seconds); got {value!r}")
        value = int(match.group(1))
    if not MIN_SECONDS <= value <= MAX_SECONDS:
        raise ValidationError(
            "duration", f"must be from {MIN_SECONDS} to {MAX_SECONDS} seconds; got {value}"
        )
    return value


def _choice(name: str, value: object, options: Sequence[str], *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if value not in options:
        need = "is required and must be" if value is None else "must be"
        raise ValidationError(name, f"{need} one of {', '.join(options)}; got {value!r}")
    return value  # type: ignore[return-value]


def _prompt(value: object, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise ValidationError("prompt", "is required for text-to-video and must not be blank")
        return None
    if not isinstance(value, str):
        raise ValidationError("prompt", f"must be a string; got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        position = exc.start
        raise ValidationError(
            "prompt",
            f"must be text that can be encoded as UTF-8; character {position} is a lone "
            "surrogate (often half of an emoji cut in two)",
        ) from None
    if "\x00" in value:  # a database cannot store it (PostgreSQL refuses it): refuse it first
        raise ValidationError(
            "prompt", f"must not contain a NUL character (found at {value.index(chr(0))})"
        )
    if required and not value.strip():
        raise ValidationError("prompt", "is required for text-to-video and must not be blank")
    return value if value.strip() else None


def _refs(name: str, values: object, kind: MediaKind, limit: int) -> tuple[Ref, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes | Path) or not isinstance(values, Sequence):
        raise ValidationError(name, f"must be a list of {kind} references")
    if len(values) > limit:
        raise ValidationError(name, f"at most {limit} {kind}s; got {len(values)}")
    return tuple(check_ref(f"{name}[{i}]", v, kind) for i, v in enumerate(values))


@dataclass(frozen=True, kw_only=True)
class Request:
    """Fields and behaviour shared by the four request types."""

    mode: ClassVar[Mode]
    _media_fields: ClassVar[tuple[tuple[str, MediaKind], ...]] = ()

    prompt: str | None = None
    duration: int = DEFAULT_SECONDS
    resolution: str | None = None
    upscale: str | None = None

    def _check_common(self, *, prompt_required: bool, resolution_required: bool) -> None:
        set_ = object.__setattr__
        set_(self, "prompt", _prompt(self.prompt, required=prompt_required))
        set_(self, "duration", _duration(self.duration))
        res = _choice("resolution", self.resolution, RESOLUTIONS, required=resolution_required)
        set_(self, "resolution", res)
        set_(self, "upscale", _choice("upscale", self.upscale, UPSCALES, required=False))

    @property
    def seconds(self) -> int:
        """Length of the video asked for, in seconds."""
        return self.duration

    def media(self) -> list[tuple[str, MediaKind, Ref]]:
        """Every media reference as (field, kind, reference)."""
        out: list[tuple[str, MediaKind, Ref]] = []
        for name, kind in self._media_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                out += [(f"{name}[{i}]", kind, v) for i, v in enumerate(value)]
            elif value is not None:
                out.append((name, kind, value))
        return out

    def local_files(self) -> list[tuple[str, MediaKind, Path]]:
        """The media references that are local files and must be uploaded before sending."""
        return [(f, k, v) for f, k, v in self.media() if isinstance(v, Path)]

    def with_uploads(self: R, upload: Callable[[Path, MediaKind], str]) -> R:
        """A copy with every local file replaced by the URL `upload(path, kind)` returns."""
        changes: dict[str, Any] = {}
        for name, kind in self._media_fields:
            value = getattr(self, name)
            if isinstance(value, tuple):
                changes[name] = [upload(v, kind) if isinstance(v, Path) else v for v in value]
            elif isinstance(value, Path):
                changes[name] = upload(value, kind)
        return dataclasses.replace(self, **changes) if changes else self

    def to_inputs(self, *, allow_local: bool = False) -> dict[str, Any]:
        """The exact wire `inputs` object: camelCase keys, no None values.

        Local files must be uploaded first; `allow_local=True` writes them as absolute paths
        instead (for the ledger's record of a request not yet sent).
        """
        local = self.local_files()
        if local and not allow_local:
            raise ValidationError(
                local[0][0],
                "is a local file; upload it first (Studio does this for you, or use "
                "req.with_uploads(...)) so the request carries a URL",
            )
        inputs: dict[str, Any] = {}
        if self.prompt is not None:
            inputs["prompt"] = self.prompt
        for key, value in self._wire_media().items():
            inputs[key] = _wire(value)
        inputs["duration"] = f"{self.duration}s"
        if self.resolution is not None:
            inputs["resolution"] = self.resolution
        if self.upscale is not None:
            inputs["upscaleResolution"] = self.upscale
        return inputs

    def _wire_media(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, kw_only=True)
class TextToVideo(Request):
    """Generate a video from a text prompt alone."""

    mode: ClassVar[Mode] = "text-to-video"

    prompt: str | None = field(default=None, kw_only=False)
    resolution: str | None = "1280x720"

    def __post_init__(self) -> None:
        self._check_common(prompt_required=True, resolution_required=False)


@dataclass(frozen=True, kw_only=True)
class ImageToVideo(Request):
    """Animate one still image, which becomes the first frame."""

    mode: ClassVar[Mode] = "image-to-video"
    _media_fields: ClassVar[tuple[tuple[str, MediaKind], ...]] = (("image", "image"),)

    image: Media | None = field(default=None, kw_only=False)

    def __post_init__(self) -> None:
        self._check_common(prompt_required=False, resolution_required=False)
        if self.image is None:
            raise ValidationError("image", "image-to-video needs one image")
        object.__setattr__(self, "image", check_ref("image", self.image, "image"))

    def _wire_media(self) -> dict[str, Any]:
        return {"urls": [self.image]}


@dataclass(frozen=True, kw_only=True)
class Keyframes(Request):
    """Generate the transition between a first and a last frame."""

    mode: ClassVar[Mode] = "keyframes"
    _media_fields: ClassVar[tuple[tuple[str, MediaKind], ...]] = (
        ("first", "image"),
        ("last", "image"),
    )

    first: Media | None = field(default=None, kw_only=False)
    last: Media | None = field(default=None, kw_only=False)

    def __post_init__(self) -> None:
        self._check_common(prompt_required=False, resolution_required=False)
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is None:
                raise ValidationError(name, "keyframes need both a first and a last frame")
            object.__setattr__(self, name, check_ref(name, value, "image"))

    def _wire_media(self) -> dict[str, Any]:
        return {"urls": [self.first, self.last], "videoInputMode": "keyframe"}


@dataclass(frozen=True, kw_only=True)
class MultiReference(Request):
    """Guide generation with reference images, videos and audio."""

    mode: ClassVar[Mode] = "reference"
    _media_fields: ClassVar[tuple[tuple[str, MediaKind], ...]] = (
        ("images", "image"),
        ("videos", "video"),
        ("audios", "audio"),
    )

    images: Sequence[Media] = field(default=())
    videos: Sequence[Media] = field(default=())
    audios: Sequence[Media] = field(default=())
    resolution: str | None = "1280x720"

    def __post_init__(self) -> None:
        self._check_common(prompt_required=False, resolution_required=True)
        images = _refs("images", self.images, "image", MAX_IMAGES)
        videos = _refs("videos", self.videos, "video", MAX_VIDEOS)
        audios = _refs("audios", self.audios, "audio", MAX_AUDIOS)
        total = len(images) + len(videos) + len(audios)
        if total == 0:
            raise ValidationError("images", "reference mode needs at least one reference file")
        if total > MAX_FILES:
            raise ValidationError(
                "images", f"at most {MAX_FILES} reference files in all; got {total}"
            )
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "videos", videos)
        object.__setattr__(self, "audios", audios)

    def _wire_media(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        for key, refs in (
            ("urls", self.images),
            ("videoUrls", self.videos),
            ("audioUrls", self.audios),
        ):
            if refs:
                wire[key] = list(refs)
        wire["videoInputMode"] = "reference"
        return wire


def _wire(value: Any) -> Any:
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return str(value.resolve()) if isinstance(value, Path) else value


_WIRE_KEYS = {
    "prompt",
    "urls",
    "videoUrls",
    "audioUrls",
    "duration",
    "resolution",
    "videoInputMode",
    "upscaleResolution",
}
_WIRE_NAMES = {
    "upscale": "upscaleResolution",
    "image": "urls[0]",
    "first": "urls[0]",
    "last": "urls[1]",
    "images": "urls",
    "videos": "videoUrls",
    "audios": "audioUrls",
}


def wire_field(name: str) -> str:
    """The wire name of a Python field, e.g. `upscale` -> `upscaleResolution`."""
    head, sep, tail = name.partition("[")
    return _WIRE_NAMES.get(name) or _WIRE_NAMES.get(head, head) + sep + tail


def from_inputs(inputs: object, *, allow_local: bool = False) -> Request:
    """Build the request a wire `inputs` object describes; errors name the wire fields.

    The wire carries only http(s) and asset:// references. `allow_local=True` also accepts
    local paths, for rebuilding a request from a ledger row whose files are not yet uploaded.
    """
    try:
        return _from_inputs(inputs, allow_local)
    except ValidationError as exc:
        if exc.field == "inputs" or exc.field.startswith("inputs."):
            raise
        field_name = f"inputs.{wire_field(exc.field)}"
        raise ValidationError(field_name, exc.rule) from None


def _from_inputs(inputs: object, allow_local: bool) -> Request:
    if not isinstance(inputs, Mapping):
        raise ValidationError("inputs", "must be a JSON object")
    unknown = sorted(str(key) for key in inputs if key not in _WIRE_KEYS)
    if unknown:
        name = unknown[0] if unknown[0].isidentifier() else repr(unknown[0][:40])
        raise ValidationError(f"inputs.{name}", "is not a parameter of the API")
    for key in ("urls", "videoUrls", "audioUrls"):
        value = inputs.get(key)
        if value is not None and not all(isinstance(v, str) for v in _as_list(key, value)):
            raise ValidationError(key, "must be a list of URL strings")
        for i, ref in enumerate(
            _as_list(key, value) if value is not None and not allow_local else ()
        ):
            if looks_local(ref):
                raise ValidationError(
                    f"{key}[{i}]",
                    "must be an http(s) URL or an asset:// reference; a local path cannot be sent",
                )
    common = {
        "prompt": inputs.get("prompt"),
        "duration": inputs.get("duration", f"{DEFAULT_SECONDS}s"),
        "resolution": inputs.get("resolution"),
        "upscale": inputs.get("upscaleResolution"),
    }
    mode = inputs.get("videoInputMode")
    urls = list(inputs.get("urls") or [])
    if mode == "reference":
        return MultiReference(
            images=urls,
            videos=list(inputs.get("videoUrls") or []),
            audios=list(inputs.get("audioUrls") or []),
            **common,
        )
    if mode not in (None, "keyframe"):
        raise ValidationError("videoInputMode", f"must be 'keyframe' or 'reference'; got {mode!r}")
    for key in ("videoUrls", "audioUrls"):
        if inputs.get(key):
            raise ValidationError(key, "is allowed only with videoInputMode 'reference'")
    if not urls:
        if mode == "keyframe":
            raise ValidationError("first", "keyframes need both a first and a last frame")
        return TextToVideo(**common)
    if len(urls) == 1 and mode is None:
        return ImageToVideo(image=urls[0], **common)
    if len(urls) == 2:
        return Keyframes(first=urls[0], last=urls[1], **common)
    if len(urls) == 1:
        raise ValidationError("last", "keyframes need both a first and a last frame")
    raise ValidationError("images", f"at most 2 images outside reference mode; got {len(urls)}")


def _as_list(key: str, value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValidationError(key, "must be a list of URL strings")
    return value
