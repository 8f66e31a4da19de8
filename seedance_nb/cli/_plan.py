"""A sweep's plan: every prompt x duration x model x take, priced before anything is sent."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import Request, TextToVideo, ValidationError, check_model, estimate_credits


@dataclass(frozen=True)
class Item:
    """One planned job."""

    label: str
    request: Request
    model: str
    take: int

    @property
    def credits(self) -> int:
        return estimate_credits(self.request, self.model)

    def wire(self) -> dict[str, Any]:
        """What the ledger records as this job's request (model, inputs, take)."""
        wire: dict[str, Any] = {
            "model": self.model,
            "inputs": self.request.to_inputs(allow_local=True),
        }
        if self.take != 1:
            wire["take"] = self.take
        return wire


def read_prompts(text: str) -> list[str]:
    """One prompt a line; blank lines and lines starting with '#' are skipped. A JSON list of
    strings is read as it is."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValidationError("PROMPTS_FILE", f"is not a valid JSON list: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise ValidationError("PROMPTS_FILE", "a JSON prompts file must be a list of strings")
        prompts = [p.strip() for p in data]
    else:
        prompts = [line.strip() for line in text.splitlines()]
        prompts = [p for p in prompts if not p.startswith("#")]
    prompts = [p for p in prompts if p]
    if not prompts:
        raise ValidationError("PROMPTS_FILE", "has no prompts (one a line; '#' starts a comment)")
    return prompts


def split_list(text: str, name: str) -> list[str]:
    """'4,8' -> ['4', '8'] (spaces allowed, duplicates dropped, order kept)."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise ValidationError(name, "needs at least one value")
    return list(dict.fromkeys(values))


def durations_of(text: str) -> list[int]:
    """'4,8s' -> [4, 8]."""
    out = []
    for value in split_list(text, "--durations"):
        try:
            out.append(int(value.removesuffix("s")))
        except ValueError:
            raise ValidationError(
                "--durations", f"must be whole seconds like 4,8; got {value!r}"
            ) from None
    return out


def build(
    prompts: Sequence[str],
    durations: Sequence[int],
    models: Sequence[str],
    takes: int,
    resolution: str,
) -> list[Item]:
    """Every combination as a validated request, labelled by what varies (p2·8s·t2)."""
    if takes < 1:
        raise ValidationError("--takes", f"must be 1 or more; got {takes}")
    models = [check_model(m) for m in models]
    items = []
    for (p, prompt), duration, model in itertools.product(enumerate(prompts), durations, models):
        request = TextToVideo(prompt, duration=duration, resolution=resolution)
        for take in range(1, takes + 1):
            parts = [
                f"p{p + 1}" if len(prompts) > 1 else "",
                f"{duration}s" if len(durations) > 1 else "",
                model if len(models) > 1 else "",
                f"t{take}" if takes > 1 else "",
            ]
            label = "·".join(part for part in parts if part) or "only"
            items.append(Item(label, request, model, take))
    return items


def already_done(items: Sequence[Item], rows: Sequence[dict[str, Any]]) -> set[int]:
    """Indexes of items that a ledger row of the same experiment and server already holds in
    a reusable state: submitting them again reuses that row and spends nothing."""
    held = []
    for row in rows:
        try:
            params = json.loads(row.get("params") or "{}")
        except json.JSONDecodeError:
            continue
        held.append(
            (
                params.get("model"),
                json.dumps(params.get("inputs"), sort_keys=True),
                params.get("take", 1),
            )
        )
    wanted = set(held)
    return {
        i
        for i, item in enumerate(items)
        if (item.model, json.dumps(item.wire()["inputs"], sort_keys=True), item.take) in wanted
    }


def prompts_file(path: str) -> tuple[str, list[str]]:
    """The default experiment name (the file's stem) and the prompts of a file ('-': stdin)."""
    if path == "-":
        import sys

        return "default", read_prompts(sys.stdin.read())
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError("PROMPTS_FILE", f"cannot be read: {exc}") from None
    return file.stem or "default", read_prompts(text)
