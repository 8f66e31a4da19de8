"""What the simulator publishes at /openapi.json beyond FastAPI's defaults: the createTask body
with the API's own limits, the error answers of the API's error table, and the bearer key.

A precise description makes `/docs` useful and lets a schema fuzzer (Schemathesis, in the
tests) generate requests that get past validation as well as ones that do not.
"""

from __future__ import annotations

from typing import Any

from ..api import MODELS
from ..api._requests import MAX_AUDIOS, MAX_IMAGES, MAX_VIDEOS, RESOLUTIONS, UPSCALES

_URLS = {"type": "array", "items": {"type": "string", "format": "uri"}}
INPUTS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string"},
        "urls": {**_URLS, "maxItems": MAX_IMAGES},
        "videoUrls": {**_URLS, "maxItems": MAX_VIDEOS},
        "audioUrls": {**_URLS, "maxItems": MAX_AUDIOS},
        "duration": {"type": "string", "pattern": "^([4-9]|1[0-5])s$"},
        "resolution": {"type": "string", "enum": list(RESOLUTIONS)},
        "upscaleResolution": {"type": "string", "enum": list(UPSCALES)},
        "videoInputMode": {"type": "string", "enum": ["keyframe", "reference"]},
    },
}
CREATE_SCHEMA = {
    "type": "object",
    "required": ["model", "inputs"],
    "properties": {
        "model": {"type": "string", "enum": list(MODELS)},
        "inputs": INPUTS,
        "callBackUrl": {"type": "string", "format": "uri"},
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
