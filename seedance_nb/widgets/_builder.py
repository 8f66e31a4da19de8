"""RequestBuilder: build a request with sliders and file pickers, see its price, generate it."""

from __future__ import annotations

import base64
import hashlib
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..api import (
    MODELS,
    RESOLUTIONS,
    ImageToVideo,
    Keyframes,
    MultiReference,
    Request,
    SeedanceError,
    TextToVideo,
    ValidationError,
    estimate_credits,
)

if TYPE_CHECKING:
    from ..runtime import Job, Studio

MODES = [
    ("Text", "text-to-video"),
    ("Image", "image-to-video"),
    ("First & last", "keyframes"),
    ("Reference", "reference"),
]
FIELDS = {  # which inputs each mode shows
    "text-to-video": ("resolution",),
    "image-to-video": ("image",),
    "keyframes": ("first", "last"),
    "reference": ("images", "videos", "audios", "resolution"),
}
ACCEPT = {
    "image": "image/*",
    "first": "image/*",
    "last": "image/*",
    "images": "image/*",
    "videos": "video/*",
    "audios": "audio/*",
}


def aspect_svg(selected: str | None) -> str:
    """The six resolutions drawn to scale, the selected one filled."""
    boxes = []
    for res in RESOLUTIONS:
        width, height = (int(v) for v in res.split("x"))
        scale = 28 / max(width, height)
        fill = "#3b82f6" if res == selected else "none"
        boxes.append(
            f'<svg width="34" height="34" title="{res}"><rect x="{(34 - width * scale) / 2}" '
            f'y="{(34 - height * scale) / 2}" width="{width * scale}" height="{height * scale}" '
            f'fill="{fill}" stroke="#3b82f6" stroke-width="1.5" rx="2"/></svg>'
        )
    return f'<div style="display:flex;gap:6px">{"".join(boxes)}</div>'


class MediaInput(w.VBox):
    """A file picker (with thumbnails for images) plus a box for URLs or asset:// references."""

    def __init__(self, name: str, folder: Path, multiple: bool) -> None:
        self.name = name
        self.folder = folder
        self.upload = w.FileUpload(
            accept=ACCEPT[name],
            multiple=multiple,
            description=f"{name} file{'s' if multiple else ''}",
        )
        self.urls = w.Textarea(
            placeholder="https://... or asset://... (one per line)",
            layout=w.Layout(width="360px", height="48px"),
        )
        self.thumbs = w.HTML()
        super().__init__([w.HTML(f"<b>{name}</b>"), w.HBox([self.upload, self.urls]), self.thumbs])

    def values(self) -> list[str | Path]:
        """Uploaded files (saved once under the uploads folder, by content) then URLs."""
        refs: list[str | Path] = [self._save(item) for item in self.upload.value]
        refs += [line.strip() for line in self.urls.value.splitlines() if line.strip()]
        return refs

    def _save(self, item: dict[str, Any]) -> Path:
        data = bytes(item["content"])
        suffix = Path(item["name"]).suffix.lower()[:8]
        path = self.folder / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return path

    def refresh_thumbnails(self) -> None:
        if not ACCEPT[self.name].startswith("image"):
            self.thumbs.value = " ".join(html.escape(i["name"]) for i in self.upload.value)
            return
        from PIL import Image

        tags = []
        for item in self.upload.value:
            try:
                with Image.open(io.BytesIO(bytes(item["content"]))) as img:
                    img.thumbnail((72, 72))
                    out = io.BytesIO()
                    img.convert("RGB").save(out, format="JPEG", quality=70)
            except OSError:
                continue
            data = base64.b64encode(out.getvalue()).decode()
            tags.append(
                f'<img src="data:image/jpeg;base64,{data}" title="{html.escape(item["name"])}"'
                ' style="height:48px;border-radius:4px;margin-right:4px">'
            )
        self.thumbs.value = "".join(tags)


class RequestBuilder(w.VBox):
    """Pick a mode, fill in what it needs, see the estimate and the budget, press Generate.

    The request is validated as you type; Generate stays disabled while it is invalid or over
    budget. New jobs appear below the builder as live TaskViews.
    """

    def __init__(self, studio: Studio, experiment: str | None = None) -> None:
        self.studio = studio
        self.experiment = experiment or studio.experiment
        self.jobs: list[Job] = []
        uploads = studio.outputs.parent / "uploads"
        self.mode = w.ToggleButtons(options=MODES, value="text-to-video")
        self.prompt = w.Textarea(
            placeholder="Describe the video…", layout=w.Layout(width="560px", height="72px")
        )
        self.count = w.HTML()
        self.duration = w.IntSlider(5, min=4, max=15, description="seconds")
        self.resolution = w.ToggleButtons(options=list(RESOLUTIONS), value="1280x720")
        self.aspect = w.HTML(aspect_svg("1280x720"))
        self.model = w.ToggleButtons(options=list(MODELS), value="seedance2")
        self.upscale = w.ToggleButtons(options=[("none", ""), ("2k", "2k"), ("4k", "4k")], value="")
        self.label = w.Text(placeholder="label (optional)", layout=w.Layout(width="200px"))
        self.media = {
            name: MediaInput(name, uploads, multiple=name.endswith("s"))
            for name in ("image", "first", "last", "images", "videos", "audios")
        }
        self.estimate = w.HTML()
        self.message = w.HTML()
        self.generate = w.Button(
            description="Generate", button_style="primary", disabled=True, icon="play"
        )
        self.output = w.Output()
        self._resolution_box = w.VBox([self.resolution, self.aspect])
        self._fields = w.VBox()
        super().__init__(
            [
                self.mode,
                self.prompt,
                self.count,
                self.duration,
                self._fields,
                w.HBox([w.HTML("<b>model</b>&nbsp;"), self.model]),
                w.HBox([w.HTML("<b>upscale</b>&nbsp;"), self.upscale]),
                w.HBox([self.label, self.generate, self.estimate]),
                self.message,
                self.output,
            ]
        )
        self.add_class("sd-builder")
        for control in (
            self.mode,
            self.prompt,
            self.duration,
            self.resolution,
            self.model,
            self.upscale,
        ):
            control.observe(self._changed, "value")
        for media in self.media.values():
            media.upload.observe(self._uploaded, "value")
            media.urls.observe(self._changed, "value")
        self.generate.on_click(self._on_generate)
        self._changed()

    # ---- state -> request ----------------------------------------------------------------------
    def request(self) -> Request:
        """The request the controls describe; raises ValidationError naming the field."""
        mode, prompt = self.mode.value, self.prompt.value or None
        common: dict[str, Any] = {
            "duration": self.duration.value,
            "upscale": self.upscale.value or None,
        }
        if mode == "text-to-video":
            return TextToVideo(prompt, resolution=self.resolution.value, **common)
        if mode == "image-to-video":
            return ImageToVideo(self._one("image"), prompt=prompt, **common)
        if mode == "keyframes":
            return Keyframes(self._one("first"), self._one("last"), prompt=prompt, **common)
        return MultiReference(
            images=self.media["images"].values(),
            videos=self.media["videos"].values(),
            audios=self.media["audios"].values(),
            prompt=prompt,
            resolution=self.resolution.value,
            **common,
        )

    def _one(self, name: str) -> Any:
        values = self.media[name].values()
        if len(values) > 1:
            raise ValidationError(name, "takes one image: remove the extra file or URL")
        return values[0] if values else None

    # ---- reacting ------------------------------------------------------------------------------
    def _uploaded(self, change: dict[str, Any]) -> None:
        for media in self.media.values():
            if media.upload is change["owner"]:
                media.refresh_thumbnails()
        self._changed()

    def _changed(self, change: dict[str, Any] | None = None) -> None:
        """Re-validate and re-price on every edit."""
        shown = FIELDS[self.mode.value]
        self._fields.children = [
            self.media[n] if n != "resolution" else self._resolution_box for n in shown
        ]
        self.aspect.value = aspect_svg(self.resolution.value)
        text = self.prompt.value
        self.count.value = f"<small>{len(text)} characters</small>"
        try:
            req = self.request()
            cost = estimate_credits(req, self.model.value)
        except ValidationError as exc:
            self._show(False, f"{exc.field}: {exc.rule}", "")
            return
        left = self.studio.ledger.remaining(self.experiment)
        budget = "" if left is None else f" · {left} left of the {self.experiment!r} budget"
        estimate = f"<b>{cost} credits</b>{html.escape(budget)}"
        if left is not None and cost > left:
            self._show(False, f"over budget: {cost} credits needed, {left} left", estimate)
            return
        self._show(True, "", estimate)

    def _show(self, ok: bool, message: str, estimate: str) -> None:
        self.generate.disabled = not ok
        self.estimate.value = estimate
        self.message.value = (
            f'<span class="sd-invalid" style="color:#9b1c1c">{html.escape(message)}</span>'
            if message
            else ""
        )

    def _on_generate(self, button: Any = None) -> Job | None:
        """Submit through the studio; errors are shown under the builder, never lost."""
        try:
            job = self.studio.submit(
                self.request(), self.model.value, self.experiment, self.label.value or None
            )
        except SeedanceError as exc:
            self._show(False, str(exc), self.estimate.value)
            return None
        self.jobs.append(job)
        with self.output:
            from IPython.display import display

            display(job)
        self._changed()
        return job
