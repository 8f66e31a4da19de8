"""The credit formula of the Seedance2 API, exactly as published."""

from __future__ import annotations

from ._requests import MultiReference, Request, check_model

PER_SECOND = {"seedance2": 40, "seedance2-fast": 32}
UPSCALE_PER_SECOND = {"2k": 20, "4k": 40}


def estimate_credits(req: Request, model: str = "seedance2") -> int:
    """Credits the task will cost: base = seconds x rate, doubled for a video reference,
    plus the upscale charge."""
    base = req.seconds * PER_SECOND[check_model(model)]
    if isinstance(req, MultiReference) and req.videos:
        base *= 2
    upscale = UPSCALE_PER_SECOND[req.upscale] * req.seconds if req.upscale else 0
    return base + upscale
