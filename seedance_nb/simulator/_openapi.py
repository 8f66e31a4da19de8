"""What the simulator publishes at /openapi.json beyond FastAPI's defaults: the createTask body
with the API's own limits, the error answers of the API's error table, and the bearer key.

A precise description makes `/docs` useful and lets a schema fuzzer (Schemathesis, in the
tests) generate requests that get past validation as well as ones that do not.
"""

from __future__ import annotations

from typing import Any

from ..api import MODELS
from ..api._requests import MAX_AUDIOS, MAX_IMAGES, MAX_VIDEOS, RESOLUTIONS, UPSCALES

# what check_url accepts: http(s) with a host, or an asset id (the schema may be stricter)
_HTTP = r"https?://[^\s\x00-\x1f/?#@:\[\]]+(:[0-9]{1,5})?([/?#][^\s\x00-\x1f]*)?"
URL = {"type": "string", "pattern": rf"^({_HTTP}|asset://[A-Za-z0-9][A-Za-z0-9_.\-]*)$"}
_COMMON = {
    "prompt": {"type": "string", "pattern": "^[^\\x00]*$"},  # no NUL: no ledger can store it
    "duration": {"type": "string", "pattern": "^([4-9]|1[0-5])s$", "default": "5s"},
    "resolution": {"type": "string", "enum": list(RESOLUTIONS)},
    "upscaleResolution": {"type": "string", "enum": list(UPSCALES)},
}
_NONE = {"type": "array", "maxItems": 0}


def _mode(title: str, required: list[str], **fields: Any) -> dict[str, Any]:
    """One of the four request shapes: the common fields plus `fields`, nothing else."""
    properties = {**_COMMON, "urls": _NONE, "videoUrls": _NONE, "audioUrls": _NONE, **fields}
    return {
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _urls(low: int, high: int) -> dict[str, Any]:
    return {"type": "array", "items": URL, "minItems": low, "maxItems": high}


INPUTS = {
    "oneOf": [
        _mode(
            "text-to-video",
            ["prompt"],
            prompt={"type": "string", "pattern": r"\S", "description": "required, not blank"},
        ),
        _mode("image-to-video", ["urls"], urls=_urls(1, 1)),
        _mode(
            "keyframes",
            ["urls"],
            urls=_urls(2, 2),
            videoInputMode={"type": "string", "enum": ["keyframe"]},
        ),
        {
            **_mode(
                "reference",
                ["videoInputMode", "resolution"],
                # the API takes up to 9 images, 12 files in all; the schema cannot say "in all",
                # so it promises less: 6 + 3 + 3
                urls=_urls(0, MAX_IMAGES - MAX_VIDEOS),
                videoUrls=_urls(0, MAX_VIDEOS),
                audioUrls=_urls(0, MAX_AUDIOS),
                videoInputMode={"type": "string", "enum": ["reference"]},
            ),
            "anyOf": [
                {"required": [key], "properties": {key: {"minItems": 1}}}
                for key in ("urls", "videoUrls", "audioUrls")
            ],
        },
    ]
}
CREATE_SCHEMA = {
    "type": "object",
    "required": ["model", "inputs"],
    "properties": {
        "model": {"type": "string", "enum": list(MODELS)},
        "inputs": INPUTS,
        "callBackUrl": {"type": "string", "pattern": rf"^{_HTTP}$"},
    },
}
CREATE_EXAMPLE = {
    "model": "seedance2",
    "inputs": {"prompt": "A golden retriever running on the beach", "duration": "5s"},
}
_MESSAGE = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string"}},
            }
        }
    }
}
_MEANINGS = {
    400: "Bad request: a parameter is missing or invalid",
    401: "Invalid or missing API key",
    402: "Insufficient credits",
    403: "Access denied: not your task",
    404: "Not found",
    429: "Concurrency limit reached",
    500: "Server error",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, each with the {message} body."""
    return {code: {"description": _MEANINGS[code], **_MESSAGE} for code in codes}


def with_bearer_key(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the bearer key declared on every /api/v1 route."""
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Your API key"}
    }
    for path, operations in schema["paths"].items():
        if path.startswith("/api/v1/"):
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]
    return schema
