"""RequestBuilder: build a request with sliders and file pickers, see its price, generate it."""

from __future__ import annotations

import hashlib
import html
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import traitlets as t

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


TITLES = {  # what each picker's button says, before its count: "Images (2)"
    "image": "Image",
    "first": "First frame",
    "last": "Last frame",
    "images": "Images",
    "videos": "Videos",
    "audios": "Audio files",
}
SUFFIXES = {  # files on this server the reference box offers, by kind
    "image": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"),
    "video": (".mp4", ".mov", ".webm", ".mkv", ".m4v"),
    "audio": (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".flac"),
}
SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "outputs", "uploads"}


def server_files(kind: str, root: Path | None = None, limit: int = 200) -> list[str]:
    """Files of `kind` under the kernel's working folder (3 levels, hidden folders skipped), as
    paths relative to it: what "a file already on the server" can be picked from."""
    root = root or Path.cwd()
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and depth < 2
        )
        for name in sorted(files):
            if name.lower().endswith(SUFFIXES[kind]):
                found.append((Path(folder) / name).relative_to(root).as_posix())
                if len(found) >= limit:
                    return found
    return found


def safe_name(name: str) -> str:
    """The user's file name, minus any folders and control characters (never empty)."""
    base = Path(str(name).replace("\\", "/")).name
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*').strip(" .")
    return base[-120:] or "upload"


class MediaInput(w.VBox):
    """Pick files for one input: upload them, or name one already on a server (an https://
    URL, an asset:// reference, or a path on the Jupyter server); each pick is listed by the
    name the user gave it, with a thumbnail for images and a button that removes it."""

    changes = t.Int(0)  # bumped on every pick or removal

    def __init__(self, name: str, folder: Path, multiple: bool) -> None:
        self.name = name
        self.folder = folder
        self.multiple = multiple
        self.kind = ACCEPT[name].split("/")[0]
        self.files: list[dict[str, Any]] = []  # uploads, in the order picked
        self.refs: list[str] = []  # URLs, asset:// references and server paths
        self._echo = False
        self.upload = w.FileUpload(accept=ACCEPT[name], multiple=multiple, description=TITLES[name])
        self.ref = w.Combobox(
            placeholder=f"or https://…, asset://… or a {self.kind} on this server",
            options=server_files(self.kind),
            ensure_option=False,
            continuous_update=False,
            layout=w.Layout(width="340px"),
        )
        self.add_ref = w.Button(
            description="add", tooltip="add this reference", layout=w.Layout(width="56px")
        )
        self.picked = w.VBox(layout=w.Layout(margin="2px 0 4px 0"))
        self.upload.observe(self._uploaded, "value")
        self.ref.observe(lambda change: self._add_ref(change["new"]), "value")
        self.add_ref.on_click(lambda _: self._add_ref(self.ref.value))
        super().__init__([w.HBox([self.upload, self.ref, self.add_ref]), self.picked])
        self.add_class("sd-media-input")

    def values(self) -> list[str | Path]:
        """Uploaded files (saved once under the uploads folder, by content, with the user's
        file name) then references."""
        refs: list[str | Path] = [self._save(item) for item in self.files]
        return refs + list(self.refs)

    def _save(self, item: dict[str, Any]) -> Path:
        data = bytes(item["content"])
        path = self.folder / hashlib.sha256(data).hexdigest()[:20] / safe_name(item["name"])
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return path

    # ---- picking and removing ------------------------------------------------------------------
    def _uploaded(self, change: dict[str, Any]) -> None:
        if self._echo:
            return
        new = [dict(item) for item in change["new"]]
        if self.multiple:  # a new pick adds to the earlier ones (same file twice: once)
            seen = {(f["name"], bytes(f["content"])) for f in self.files}
            self.files += [f for f in new if (f["name"], bytes(f["content"])) not in seen]
        else:  # one input: the new pick replaces whatever was there
            self.files, self.refs = new[-1:], []
        self._sync_upload()
        self._draw()

    def _add_ref(self, text: str) -> None:
        text = (text or "").strip()
        if not text:
            return
        if self.multiple:
            if text not in self.refs:
                self.refs.append(text)
        else:
            self.files, self.refs = [], [text]
            self._sync_upload()
        self.ref.value = ""
        self._draw()

    def remove(self, index: int) -> None:
        """Drop the pick at `index` in the listed order (uploads first, then references)."""
        if index < len(self.files):
            del self.files[index]
            self._sync_upload()
        else:
            del self.refs[index - len(self.files)]
        self._draw()

    def clear(self) -> None:
        """Drop every pick."""
        self.files, self.refs = [], []
        self._sync_upload()
        self._draw()

    def _sync_upload(self) -> None:
        """Keep the picker's own value (and so its "Images (n)" count) equal to the uploads."""
        value = tuple(self.files)
        if len(value) == len(self.upload.value) and all(
            a["content"] is b["content"] for a, b in zip(value, self.upload.value, strict=True)
        ):
            return
        self._echo = True
        try:
            self.upload.value = value
        finally:
            self._echo = False

    def _draw(self) -> None:
        rows = []
        names = [f["name"] for f in self.files] + list(self.refs)
        for index, name in enumerate(names):
            thumb = self._thumbnail(self.files[index]) if index < len(self.files) else None
            remove = w.Button(
                icon="times",
                tooltip=f"remove {name}",
                layout=w.Layout(width="28px", height="24px", padding="0"),
            )
            remove.on_click(lambda _, i=index: self.remove(i))
            label = w.Label(safe_name(name) if index < len(self.files) else name)
            label.add_class("sd-picked-name")
            parts = [remove, label] if thumb is None else [remove, thumb, label]
            row = w.HBox(parts, layout=w.Layout(align_items="center"))
            row.add_class("sd-picked")
            rows.append(row)
        self.picked.children = rows
        self.changes += 1  # RequestBuilder observes this and re-validates

    def _thumbnail(self, item: dict[str, Any]) -> w.Image | None:
        if self.kind != "image":
            return None
        from PIL import Image

        try:
            with Image.open(io.BytesIO(bytes(item["content"]))) as img:
                img.thumbnail((72, 48))
                out = io.BytesIO()
                img.convert("RGB").save(out, format="JPEG", quality=70)
        except OSError:
            return None
        image = w.Image(value=out.getvalue(), format="jpeg", layout=w.Layout(height="40px"))
        image.add_class("sd-thumb")
        return image


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
        self.message = w.HTML()  # why it cannot be sent, or what went wrong; under the builder
        self._touched = False  # no complaint before the user has done anything
        self._last_price = ""  # the estimate of the last valid request, kept while invalid
        self.generate = w.Button(
            description="Generate", button_style="primary", disabled=True, icon="play"
        )
        self.new_take = w.Button(
            description="New take",
            disabled=True,
            icon="refresh",
            tooltip="another sample of the same request (Generate again reuses the last one)",
        )
        self.takes = w.HTML()  # how many takes of this request this builder has asked for
        self._takes: dict[str, int] = {}  # request (model + wire inputs) -> highest take
        self.output = w.Output()
        self._resolution_box = w.VBox([self.resolution, self.aspect])
        self._fields = w.VBox()
        style = w.HTML(f"<style>{(Path(__file__).parent / 'builder.css').read_text()}</style>")
        super().__init__(
            [
                style,
                self.mode,
                self.prompt,
                self.count,
                self.duration,
                self._fields,
                w.HBox([w.HTML("<b>model</b>&nbsp;"), self.model]),
                w.HBox([w.HTML("<b>upscale</b>&nbsp;"), self.upscale]),
                w.HBox([self.label, self.generate, self.new_take, self.takes, self.estimate]),
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
            media.observe(self._changed, "changes")
        self.generate.on_click(self._on_generate)
        self.new_take.on_click(self._on_new_take)
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
    def _changed(self, change: dict[str, Any] | None = None) -> None:
        """Re-validate and re-price on every edit."""
        self._touched = self._touched or change is not None
        shown = FIELDS[self.mode.value]
        self._fields.children = [
            self.media[n] if n != "resolution" else self._resolution_box for n in shown
        ]
        self.aspect.value = aspect_svg(self.resolution.value)
        text = self.prompt.value
        self.count.value = f'<small class="sd-count">{len(text)} characters</small>'
        try:
            req = self.request()
            cost = estimate_credits(req, self.model.value)
        except ValidationError as exc:
            self._invalid(f"{exc.field}: {exc.rule}")
            return
        except Exception as exc:  # a file that cannot be read, say: shown, never only logged
            self._invalid(f"the request cannot be checked: {type(exc).__name__}: {exc}")
            return
        left = self.studio.ledger.remaining(self.experiment)
        budget = "" if left is None else f" · {left} left of the {self.experiment!r} budget"
        self._last_price = f"<b>{cost} credits</b>{html.escape(budget)}"
        if left is not None and cost > left:
            self._show(False, f"over budget: {cost} credits needed, {left} left", self._last_price)
            return
        self._show(True, "", self._last_price)

    def _invalid(self, reason: str) -> None:
        """Not sendable: keep the last valid price in view, and say why (once the user has
        started; before that, only what to do first)."""
        price = self._last_price or self._settings_price()
        if price and self._last_price:
            price += ' <small class="sd-stale">(last valid request)</small>'
        if self._touched:
            self._show(False, f"cannot send yet: {reason}", price)
        else:
            self._show(False, "", price, hint="Type a prompt, then press Generate.")

    def _settings_price(self) -> str:
        """Before any valid request: the price of these settings with a stand-in prompt (the
        prompt never changes a price), or '' when the settings alone cannot be priced."""
        if self.mode.value != "text-to-video":
            return ""
        try:
            stand_in = TextToVideo(
                "stand-in",
                duration=self.duration.value,
                resolution=self.resolution.value,
                upscale=self.upscale.value or None,
            )
            return f"<b>{estimate_credits(stand_in, self.model.value)} credits</b>"
        except ValidationError:
            return ""

    def _show(self, ok: bool, message: str, estimate: str, hint: str = "") -> None:
        self.generate.disabled = not ok
        self.new_take.disabled = not ok
        taken = self._takes.get(self._request_key(), 0) if ok else 0
        self.takes.value = f"{taken} take{'s' if taken != 1 else ''}" if taken else ""
        self.estimate.value = f'<span class="sd-estimate">{estimate}</span>' if estimate else ""
        if message:
            self.message.value = f'<span class="sd-invalid">{html.escape(message)}</span>'
        elif hint:
            self.message.value = f'<span class="sd-hint">{html.escape(hint)}</span>'
        else:
            self.message.value = ""

    def _request_key(self) -> str:
        try:
            return f"{self.model.value}:{self.request().to_inputs(allow_local=True)}"
        except Exception:  # not a valid request yet
            return ""

    def _on_new_take(self, button: Any = None) -> Job | None:
        """Ask for one more sample of the same request (the next take)."""
        return self._on_generate(take=self._takes.get(self._request_key(), 1) + 1)

    def _on_generate(self, button: Any = None, take: int = 1) -> Job | None:
        """Submit through the studio; errors are shown under the builder, never lost.
        Generate asks for take 1, so pressing it again reuses that job and spends nothing."""
        try:
            key = self._request_key()
            job = self.studio.submit(
                self.request(),
                self.model.value,
                self.experiment,
                self.label.value or None,
                take=take,
            )
            self._takes[key] = max(take, self._takes.get(key, 0))
        except SeedanceError as exc:
            self._show(False, str(exc), self._last_price)
            return None
        except Exception as exc:  # shown under the builder, not lost in the kernel's log
            self._show(False, f"not sent: {type(exc).__name__}: {exc}", self._last_price)
            return None
        self.jobs.append(job)
        with self.output:
            from IPython.display import display

            display(job)
        self._changed()
        return job
