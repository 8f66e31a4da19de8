"""RequestBuilder: build a request in a form, see its price, generate it (an anywidget).

The form lives in `builder.js`; every rule lives here. The browser sends the form's fields as
traits and files as binary messages; Python answers with the price, the budget, whether the
request can be sent and why not, all as traits. So the builder works wherever anywidget does
(JupyterLab, Notebook 7, Voilà, marimo, VS Code), and `request` is a reactive value.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets as t
from anywidget.experimental import command
from ipywidgets import widget_serialization

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
from ..runtime._host import marimo_notebook
from ._request import css, esm
from ._task_view import TaskView

if TYPE_CHECKING:
    from ..runtime import Job, Studio

HERE = Path(__file__).parent
MODES = {  # the mode's wire name -> the inputs it shows
    "text-to-video": ("resolution",),
    "image-to-video": ("image",),
    "keyframes": ("first", "last"),
    "reference": ("images", "videos", "audios", "resolution"),
}
KINDS = {"image": "image", "first": "image", "last": "image"}
KINDS.update(images="image", videos="video", audios="audio")
SUFFIXES = {  # files on this server the reference box offers, by kind
    "image": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"),
    "video": (".mp4", ".mov", ".webm", ".mkv", ".m4v"),
    "audio": (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".flac"),
}
SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "outputs", "uploads"}
FORM = ("mode", "prompt", "duration", "resolution", "model", "upscale")


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


def article(word: str) -> str:
    """'an image', 'an audio file', 'a video'."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def thumbnail(data: bytes) -> str:
    """A small JPEG of an image as a data URL, or '' when it is not an image we can read."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((72, 48))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=70)
    except (OSError, ValueError):
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


class RequestBuilder(anywidget.AnyWidget):
    """Pick a mode, fill in what it needs, see the estimate and the budget, press Generate.

    The request is validated as you type; Generate stays disabled while it is invalid or over
    budget. New jobs (`builder.jobs`) appear in it as live cards; in marimo, which makes
    widgets only while a cell runs, a cell that reads the builder shows them.
    """

    _esm = esm("builder.js")
    _css = css("builder.css")

    # the form, written by the browser (or by Python)
    mode = t.Unicode("text-to-video").tag(sync=True)
    prompt = t.Unicode("").tag(sync=True)
    duration = t.Int(5).tag(sync=True)
    resolution = t.Unicode("1280x720").tag(sync=True)
    model = t.Unicode("seedance2").tag(sync=True)
    upscale = t.Unicode("").tag(sync=True)
    label = t.Unicode("").tag(sync=True)
    # what Python answers
    picks = t.Dict().tag(sync=True)  # input -> [{name, thumb, upload}] in the listed order
    price = t.Int(-1).tag(sync=True)  # credits, -1 when the settings cannot be priced
    price_note = t.Unicode("").tag(sync=True)  # why it is only an estimate ("" when valid)
    left = t.Int(-1).tag(sync=True)  # credits left of the experiment's budget, -1: no budget
    experiment = t.Unicode("").tag(sync=True)
    valid = t.Bool(False).tag(sync=True)  # Generate and New take are enabled
    message = t.Unicode("").tag(sync=True)  # why it cannot be sent, or what went wrong
    field = t.Unicode("").tag(sync=True)  # the input the message is about
    hint = t.Unicode("").tag(sync=True)  # what to do first, before the user has done anything
    notice = t.Unicode("").tag(sync=True)  # what the last press did
    takes = t.Int(0).tag(sync=True)  # takes of this very request asked for by this builder
    request = t.Dict(allow_none=True, default_value=None).tag(sync=True)  # the valid request
    options = t.Dict().tag(sync=True)  # modes, resolutions, models, server files by kind
    job_ids = t.List(t.Int()).tag(sync=True)  # the jobs this builder made, oldest first
    seen = t.Int(0).tag(sync=True)  # job_ids the form has seen: its echo makes marimo re-run
    cards = t.List(t.Instance(TaskView)).tag(sync=True, **widget_serialization)
    _card_esm = t.Unicode("").tag(sync=True)  # how a card draws, for the cards shown inside
    _card_css = t.Unicode("").tag(sync=True)

    def __init__(self, studio: Studio, experiment: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.studio = studio
        self.experiment = experiment or studio.experiment
        self.jobs: list[Job] = []
        self.folder = studio.outputs.parent / "uploads"
        self._uploads: dict[str, list[dict[str, Any]]] = {n: [] for n in KINDS}
        self._refs: dict[str, list[str]] = {n: [] for n in KINDS}
        self._takes: dict[str, int] = {}  # request (model + wire inputs) -> highest take
        self._touched: set[str] = set()  # fields edited: no complaint about one before that
        self._last_price = -1  # the estimate of the last valid request, kept while invalid
        self._card_esm, self._card_css = str(TaskView._esm), str(TaskView._css)
        self.options = {
            "modes": list(MODES),
            "resolutions": list(RESOLUTIONS),
            "models": list(MODELS),
            "files": {kind: server_files(kind) for kind in SUFFIXES},
        }
        self.observe(self._edited, list(FORM))
        self._changed()

    def __repr__(self) -> str:
        return f"<RequestBuilder {self.mode} · {self.price} credits · valid={self.valid}>"

    # ---- form -> request -----------------------------------------------------------------------
    def build(self) -> Request:
        """The request the form describes; raises ValidationError naming the field."""
        prompt = self.prompt or None
        common: dict[str, Any] = {"duration": self.duration, "upscale": self.upscale or None}
        if self.mode == "text-to-video":
            return TextToVideo(prompt, resolution=self.resolution, **common)
        if self.mode == "image-to-video":
            return ImageToVideo(self._one("image"), prompt=prompt, **common)
        if self.mode == "keyframes":
            return Keyframes(self._one("first"), self._one("last"), prompt=prompt, **common)
        if self.mode == "reference":
            return MultiReference(
                images=self.values("images"),
                videos=self.values("videos"),
                audios=self.values("audios"),
                prompt=prompt,
                resolution=self.resolution,
                **common,
            )
        raise ValidationError("mode", f"must be one of {', '.join(MODES)}; got {self.mode!r}")

    def values(self, name: str) -> list[str | Path]:
        """One input's picks: uploads (saved once under the uploads folder, by content, with
        the user's file name), then references."""
        saved: list[str | Path] = [self._save(item) for item in self._uploads[name]]
        return saved + list(self._refs[name])

    def _one(self, name: str) -> Any:
        values = self.values(name)
        if len(values) > 1:
            raise ValidationError(name, "takes one image: remove the extra file or URL")
        return values[0] if values else None

    def _save(self, item: dict[str, Any]) -> Path:
        """The upload's file, written (and its bytes hashed) once, on its first use."""
        path = item.get("path")
        if path is None or not path.exists():
            data = item["content"]
            path = self.folder / hashlib.sha256(data).hexdigest()[:20] / safe_name(item["name"])
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            item["path"] = path
        return path

    # ---- picking and removing ------------------------------------------------------------------
    def add_file(self, name: str, filename: str, data: bytes) -> None:
        """A file the user picked for input `name` (one input: it replaces the earlier pick;
        several: it adds, the same file twice once)."""
        item = {"name": safe_name(filename), "content": bytes(data)}
        item["thumb"] = thumbnail(item["content"]) if KINDS[name] == "image" else ""  # once
        uploads = self._uploads[name]
        if not name.endswith("s"):
            self._uploads[name], self._refs[name] = [item], []
        elif all((f["name"], f["content"]) != (item["name"], item["content"]) for f in uploads):
            uploads.append(item)
        self._picked(name)

    def add_ref(self, name: str, text: str) -> None:
        """An https:// URL, an asset:// reference or a path on this server for input `name`."""
        text = (text or "").strip()
        if not text:
            return
        if not name.endswith("s"):
            self._uploads[name], self._refs[name] = [], [text]
        elif text not in self._refs[name]:
            self._refs[name].append(text)
        self._picked(name)

    def remove(self, name: str, index: int) -> None:
        """Drop the pick at `index` of input `name`, in the listed order (uploads first)."""
        uploads = self._uploads[name]
        if 0 <= index < len(uploads):
            del uploads[index]
        elif 0 <= index - len(uploads) < len(self._refs[name]):
            del self._refs[name][index - len(uploads)]
        self._picked(name)

    def clear(self, name: str) -> None:
        """Drop every pick of input `name`."""
        self._uploads[name], self._refs[name] = [], []
        self._picked(name)

    def _picked(self, edited: str) -> None:
        self.picks = {
            name: [
                {"name": f["name"], "thumb": f["thumb"], "upload": True}
                for f in self._uploads[name]
            ]
            + [{"name": ref, "thumb": "", "upload": False} for ref in self._refs[name]]
            for name in KINDS
        }
        self._touched.add(edited)
        self._changed()

    # ---- reacting ------------------------------------------------------------------------------
    def _edited(self, change: dict[str, Any]) -> None:
        self._touched.add(change["name"])
        self._changed()

    def _changed(self) -> None:
        """Re-validate and re-price on every edit: one build, one budget read."""
        try:
            req = self.build()
            cost = estimate_credits(req, self.model)
        except ValidationError as exc:
            self._invalid(exc.field, f"{exc.field}: {exc.rule}")
            return
        except Exception as exc:  # a file that cannot be read, say: shown, never only logged
            self._invalid("", f"the request cannot be checked: {type(exc).__name__}: {exc}")
            return
        self._last_price = cost
        left = self._left()
        inputs = req.to_inputs(allow_local=True)
        if left is not None and cost > left:
            message = f"over budget: {cost} credits needed, {left} left"
            self._show(False, message, cost, "budget", left=left)
            return
        request = _plain({"model": self.model, **inputs})
        self._show(True, "", cost, request=request, left=left, key=_take_key(self.model, inputs))

    def _left(self) -> int | None:
        return self.studio.ledger.remaining(self.experiment)

    def _invalid(self, field: str, reason: str) -> None:
        """Not sendable: keep a price in view, and say why once the user has edited the field
        at fault (or pressed Generate); before that, only what to do first."""
        if self._last_price >= 0:
            price, note = self._last_price, "last valid request"
        else:
            price = self._settings_price()
            media = self.mode != "text-to-video"
            note = "once the media is in" if media else "for these settings"
        if not field or "*" in self._touched or field.split("[")[0] in self._touched:
            self._show(False, f"cannot send yet: {reason}", price, field, note=note)
        else:
            self._show(False, "", price, note=note, hint=self._first_step())

    def _first_step(self) -> str:
        needs = [n for n in MODES[self.mode] if n != "resolution"]
        if self.mode == "reference":
            return "Add an image, a video or an audio file, type a prompt, then press Generate."
        if needs:
            picks = " and ".join(
                article("image") if n == "image" else f"the {n} frame" for n in needs
            )
            return f"Add {picks}, then press Generate."
        return "Type a prompt, then press Generate."

    def _settings_price(self) -> int:
        """Before any valid request: the price of these settings (the prompt and the images
        never change a price; a reference video doubles it), or -1 when they cannot be priced."""
        try:
            stand_in = TextToVideo("stand-in", duration=self.duration, upscale=self.upscale or None)
            cost = estimate_credits(stand_in, self.model)
        except ValidationError:
            return -1
        if self.mode == "reference" and self.values("videos"):
            upscale = estimate_credits(stand_in, self.model) - estimate_credits(
                TextToVideo("stand-in", duration=self.duration), self.model
            )
            cost = 2 * (cost - upscale) + upscale
        return cost

    def _show(
        self,
        ok: bool,
        message: str,
        price: int,
        field: str = "",
        *,
        note: str = "",
        hint: str = "",
        request: dict[str, Any] | None = None,
        left: int | str | None = "read",
        key: str = "",
    ) -> None:
        """Show the form's state: `left` when the caller has read it already ("read": ask the
        ledger), and the valid request's `key` in `_takes`."""
        left = self._left() if isinstance(left, str) else left
        with self.hold_sync():
            self.valid, self.message, self.field, self.hint = ok, message, field, hint
            self.price, self.price_note = price, "" if ok or price < 0 else note
            self.left = -1 if left is None else left
            self.request = request if ok else None
            self.takes = self._takes.get(key, 0) if ok else 0

    def _request_key(self) -> str:
        """The request the form describes, as a key of `_takes` ("" while not valid)."""
        try:
            return _take_key(self.model, self.build().to_inputs(allow_local=True))
        except Exception:  # not a valid request yet
            return ""

    # ---- generating ----------------------------------------------------------------------------
    def new_take(self) -> Job | None:
        """Ask for one more sample of the same request (the next take)."""
        return self.generate(take=self._takes.get(self._request_key(), 1) + 1)

    def generate(self, take: int = 1) -> Job | None:
        """Submit through the studio; errors are shown under the builder, never lost.
        Generate asks for take 1, so pressing it again reuses that job and spends nothing."""
        self._touched.add("*")  # from now on every fault is named
        self._changed()
        if not self.valid:
            return None
        try:
            key = self._request_key()
            job = self.studio.submit(
                self.build(), self.model, self.experiment, self.label or None, take=take
            )
            self._takes[key] = max(take, self._takes.get(key, 0))
        except SeedanceError as exc:
            self._show(False, str(exc), self.price, getattr(exc, "field", ""))
            return None
        except Exception as exc:  # shown under the builder, not lost in the kernel's log
            self._show(False, f"not sent: {type(exc).__name__}: {exc}", self.price)
            return None
        if job in self.jobs:  # pressed again: the same job (the studio marks its card reused)
            self.notice = f"#{job.id} again: reused, nothing spent"
        else:
            self.jobs.append(job)
            if not marimo_notebook():  # marimo makes widgets only in a running cell: there the
                self.cards = [*self.cards, TaskView.of(job)]  # cell under the builder shows them
            self.job_ids = [*self.job_ids, job.id]
            self.notice = f"#{job.id} sent: ~{job.estimated_credits} credits (estimate)"
        self._changed()
        return job

    @command
    def _act(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
        """What the form asks of Python, one request each (a file's bytes ride as a buffer):
        a file picked, a reference added, a pick removed, Generate or New take pressed. The
        reply says whether it worked; the form's new state arrives as traits."""
        if not isinstance(msg, dict) or msg.get("input", "image") not in KINDS:
            return {"ok": False, "message": "unknown input"}, []
        try:
            done = self._answer(str(msg.get("type")), str(msg.get("input", "")), msg, buffers)
        except Exception as exc:  # shown under the builder, not lost in the kernel's log
            self._show(False, f"{msg.get('type')}: {type(exc).__name__}: {exc}", self.price)
            return {"ok": False, "message": self.message}, []
        return {"ok": done, "message": self.message}, []

    def _answer(self, kind: str, name: str, msg: dict[str, Any], buffers: list[Any]) -> bool:
        if kind == "file" and buffers:
            self.add_file(name, str(msg.get("name", "")), bytes(buffers[0]))
        elif kind == "ref":
            self.add_ref(name, str(msg.get("text", "")))
        elif kind == "remove":
            self.remove(name, int(msg.get("index", -1)))
        elif kind == "generate":
            return self.generate() is not None
        elif kind == "new-take":
            return self.new_take() is not None
        else:
            return False
        return True


def _take_key(model: str, inputs: dict[str, Any]) -> str:
    """A request's key in `_takes`: its model and wire inputs (the takes asked of it)."""
    return f"{model}:{inputs}"


def _plain(value: Any) -> Any:
    """The request's inputs as JSON (local paths as strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
