"""The pictures behind the simulator's clips, drawn straight into yuv420p frames.

Everything that can be drawn once is drawn once, in RGB with Pillow and numpy, and converted to
BT.709 yuv420p a single time; the per-frame work is slicing, masked copies of uint8 planes, small
blends and, for the image modes, one swscale call per frame (crop in RGB, scale and convert at
once). Working in yuv420p spares the encoder an RGB conversion per frame, which costs more than
x264's own ultrafast encode at 720p.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ._size import even

ZOOM = 1.12  # how far the camera usually moves in (or out) over one picture
ZOOM_MAX = 1.3  # the most it moves in (the picture is loaded this much larger than the frame)
COLORSPACE = "ITU709"  # what the planes hold; the encoder tags the stream the same way
SCALER = "AREA"  # swscale filter for the image modes' per-frame crop-and-scale (always down)

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
Rgb = tuple[int, int, int]


def new_frame(width: int, height: int) -> av.VideoFrame:
    """A blank yuv420p frame to draw into, tagged with the colorspace of our planes."""
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.colorspace = 1  # AVCOL_SPC_BT709
    return frame


def planes(frame: av.VideoFrame) -> Planes:
    """Writable numpy views of a yuv420p frame's Y, U and V planes (no copy)."""
    views = []
    for plane in frame.planes:
        flat = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
        views.append(flat.reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


def to_yuv(rgb: np.ndarray) -> Planes:
    """Convert an RGB image (even width and height) to contiguous Y, U, V arrays, once."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    yuv = frame.reformat(format="yuv420p", dst_colorspace=COLORSPACE)
    y, u, v = planes(yuv)
    return y.copy(), u.copy(), v.copy()


def scale_rgb(rgb: np.ndarray, width: int, height: int) -> av.VideoFrame:
    """One swscale pass: an RGB crop scaled to the output size and converted to yuv420p."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        dst_colorspace=COLORSPACE,
        interpolation=SCALER,
        threads=1,  # swscale's own threads cost more than they save at these sizes
    )


def chroma_alpha(alpha: np.ndarray) -> np.ndarray:
    """Alpha at chroma resolution: the mean of each 2x2 block (uint16 in, uint16 out)."""
    return (alpha[0::2, 0::2] + alpha[1::2, 0::2] + alpha[0::2, 1::2] + alpha[1::2, 1::2] + 2) >> 2


class Sprite:
    """An RGBA picture, premultiplied in yuv420p, that blends onto frames cheaply.

    The blend is out = (dst * (256 - a) + colour * a) >> 8 in uint16, per plane; a sprite with no
    transparency is a plain copy. Positions are rounded to even pixels so chroma lines up.
    """

    def __init__(self, rgba: np.ndarray) -> None:
        height, width = rgba.shape[:2]
        if width % 2 or height % 2:
            rgba = rgba[: height - height % 2, : width - width % 2]
        self.height, self.width = rgba.shape[:2]
        alpha = (rgba[..., 3].astype(np.uint16) * 256 + 127) // 255
        self.opaque = bool((alpha == 256).all())
        self.planes = to_yuv(rgba[..., :3])
        alphas = (alpha, chroma_alpha(alpha), chroma_alpha(alpha))
        self.pre = tuple(p.astype(np.uint16) * a for p, a in zip(self.planes, alphas, strict=True))
        self.inv = tuple((256 - a).astype(np.uint16) for a in alphas)

    def blend(self, dst: Planes, x: int, y: int) -> None:
        """Draw at (x, y), the top-left corner in luma pixels, clipped to the frame."""
        x, y = x - x % 2, y - y % 2
        frame_h, frame_w = dst[0].shape
        x0, y0 = max(0, -x), max(0, -y)
        x1, y1 = min(self.width, frame_w - x), min(self.height, frame_h - y)
        if x1 <= x0 or y1 <= y0:
            return
        for k, plane in enumerate(dst):
            s = 1 if k == 0 else 2
            src = np.s_[y0 // s : y1 // s, x0 // s : x1 // s]
            region = plane[(y + y0) // s : (y + y1) // s, (x + x0) // s : (x + x1) // s]
            if self.opaque:
                region[...] = self.planes[k][src]
            else:
                mixed = region * self.inv[k][src]
                mixed += self.pre[k][src]
                mixed >>= 8
                region[...] = mixed


def fill(dst: Planes, colour: Planes, x0: int, x1: int, y0: int, y1: int) -> None:
    """Paint a rectangle (even bounds) with a colour given as 1x1 Y, U, V arrays."""
    for k, plane in enumerate(dst):
        s = 1 if k == 0 else 2
        plane[y0 // s : y1 // s, x0 // s : x1 // s] = colour[k][0, 0]


def solid(rgb: Rgb) -> Planes:
    """A colour as 1x1 Y, U, V arrays, for `fill`."""
    y, u, v = to_yuv(np.full((2, 2, 3), rgb, np.uint8))
    return y[:1, :1], u, v


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at `size` pixels (needs no font files, Pillow >= 10.1)."""
    return ImageFont.load_default(size=max(8, size))


def fit_text(
    text: str, width: int, size: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, str]:
    """The largest font up to `size` at which `text` fits `width`, ellipsised if it never does."""
    while size > 10 and font(size).getlength(text) > width:
        size = int(size * 0.9)
    face = font(size)
    while len(text) > 4 and face.getlength(text) > width:
        text = text[: len(text) * 9 // 10 - 1] + "…"
    return face, text


# ---- text-to-video layers ---------------------------------------------------------------------


class Strip:
    """A layer that pans sideways, held in yuv420p at even and odd pixel offsets.

    Rows `top`.. of the frame; where `mask` is False the layers behind show through. Two copies,
    shifted by one pixel, let it move by single pixels although yuv420p chroma moves by two.
    """

    def __init__(self, rgb: np.ndarray, mask: np.ndarray | None, top: int, width: int) -> None:
        self.top, self.width = top, width
        self.solid = 0  # rows from here down are covered everywhere: a plain copy, no mask
        if mask is not None:
            gaps = np.flatnonzero(~mask.all(axis=1))  # rows the layers behind show through
            if gaps.size:
                last = int(gaps[-1]) + 1
                self.solid = min(rgb.shape[0], last + last % 2)
        self.versions: list[tuple[Planes, tuple[np.ndarray, np.ndarray] | None]] = []
        for shift in (0, 1):
            cols = (rgb.shape[1] - shift) // 2 * 2
            yuv = to_yuv(rgb[:, shift : shift + cols])
            masks = None
            if mask is not None and self.solid:
                m = mask[:, shift : shift + cols]
                masks = (m[: self.solid], m[: self.solid : 2, ::2])
            self.versions.append((yuv, masks))
        self.travel = rgb.shape[1] - 2 - width

    def draw(self, dst: Planes, offset: int) -> None:
        """Copy the strip's window starting `offset` pixels in onto the frame."""
        shift = offset % 2
        x = offset - shift
        yuv, masks = self.versions[shift]
        for k, plane in enumerate(dst):
            s = 1 if k == 0 else 2
            cols = np.s_[x // s : (x + self.width) // s]
            top, split = self.top // s, self.solid // s
            src = yuv[k]
            if masks is None:
                plane[top:] = src[:, cols]
                continue
            mask = masks[0 if k == 0 else 1]
            np.copyto(plane[top : top + split], src[:split, cols], where=mask[:, cols])
            if split < src.shape[0]:
                plane[top + split :] = src[split:, cols]


# ---- image modes: pictures, and placeholders for what cannot be read -------------------------


def load_picture(ref: Path | str, width: int, height: int) -> np.ndarray:
    """An input image cropped to cover `width` x `height` (RGB), or a placeholder if unreadable.

    A string is a URL the simulator cannot fetch (no network); a Path is read from disk. Never
    raises for a bad input: the clip shows what is missing instead.
    """
    if isinstance(ref, Path):
        try:
            with Image.open(ref) as img:
                img.draft("RGB", (width, height))  # JPEGs decode at a smaller scale, faster
                img = ImageOps.exif_transpose(img)
                if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                    back = Image.new("RGBA", img.size, (40, 40, 44, 255))
                    img = Image.alpha_composite(back, img.convert("RGBA"))
                picture = ImageOps.fit(
                    img.convert("RGB"), (width, height), Image.Resampling.BILINEAR
                )
            return np.asarray(picture)
        except Exception:  # any unreadable file becomes a placeholder
            pass
    return placeholder(ref, width, height)


def shorten(ref: Path | str, limit: int = 48) -> str:
    """A URL or path short enough to read at a glance: the host and the last part of the path."""
    if isinstance(ref, Path):
        text = ref.name or str(ref)
    else:
        text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", ref.strip(), flags=re.I).split("?")[0]
    if len(text) <= limit:
        return text
    head, _, rest = text.partition("/")
    tail = rest.rsplit("/", 1)[-1]
    if rest and len(head) + len(tail) + 3 <= limit:
        return f"{head}/…/{tail}"
    return text[: limit // 2 - 1] + "…" + text[-(limit // 2 - 1) :]


def placeholder(ref: Path | str, width: int, height: int) -> np.ndarray:
    """A neutral striped card saying the reference is unavailable, with its shortened URL."""
    stripe = max(8, min(width, height) // 24)
    diagonal = np.add.outer(np.arange(height), np.arange(width)) // stripe % 2
    card = Image.fromarray((np.uint8(74) + np.uint8(14) * diagonal.astype(np.uint8)), "L")
    img = card.convert("RGB")
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    box_w, box_h = width * 0.72, short * 0.34
    x0, y0 = (width - box_w) / 2, (height - box_h) / 2
    draw.rounded_rectangle(
        (x0, y0, x0 + box_w, y0 + box_h), radius=short // 30, fill=(38, 38, 42), outline=(150,) * 3
    )
    title, text = fit_text("reference unavailable offline", int(box_w * 0.9), short // 13)
    draw.text(
        (width / 2, height / 2 - short * 0.01), text, font=title, fill=(240,) * 3, anchor="md"
    )
    where, url = fit_text(shorten(ref), int(box_w * 0.9), short // 24)
    draw.text((width / 2, height / 2 + short * 0.04), url, font=where, fill=(185,) * 3, anchor="ma")
    return np.asarray(img)


def mosaic(refs: Sequence[Path | str], width: int, height: int) -> np.ndarray:
    """Many references tiled on one canvas of `width` x `height`, a thin gutter between them."""

    def misfit(cols: int) -> float:  # empty cells, and cells far from square, both cost
        rows = math.ceil(len(refs) / cols)
        cell = (width / cols) / (height / rows)
        return rows * cols - len(refs) + 2 * abs(math.log(cell))

    cols = min(range(1, len(refs) + 1), key=misfit)
    rows = math.ceil(len(refs) / cols)
    gutter = even(min(width, height) / 120)
    canvas = np.full((height, width, 3), 24, np.uint8)
    cell_w, cell_h = (width - gutter * (cols + 1)) // cols, (height - gutter * (rows + 1)) // rows
    for n, ref in enumerate(refs):
        r, c = divmod(n, cols)
        in_row = min(cols, len(refs) - r * cols)  # centre a short last row
        x = gutter + c * (cell_w + gutter) + (cols - in_row) * (cell_w + gutter) // 2
        y = gutter + r * (cell_h + gutter)
        canvas[y : y + cell_h, x : x + cell_w] = load_picture(ref, cell_w, cell_h)
    return canvas


# ---- image modes: the camera -----------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """A camera move over a picture: zoom and centre (shares of the picture) at start and end."""

    zoom: tuple[float, float]
    x: tuple[float, float]
    y: tuple[float, float]

    def at(self, t: float) -> tuple[float, float, float]:
        """Zoom and centre at time t in 0..1, eased at both ends."""
        s = t * t * (3 - 2 * t)
        return tuple(a + (b - a) * s for a, b in (self.zoom, self.x, self.y))  # type: ignore[return-value]


def moves(prompt: str | None, seed: int, count: int, from_full: bool = False) -> list[Move]:
    """One camera move per shot, from the take's seed and the prompt's motion and camera words.

    The seed picks zoom in or out, how far, and which way the view drifts, so every take moves
    differently; "zoom in/out" fixes the zoom's direction and makes it larger, "pan" a wide
    sideways move, "static" nearly none, "slowly"/"quickly" scale it all. `from_full` makes
    every move start on the whole picture (zooming in from it), as image-to-video and keyframes
    must: their clip starts (or ends) on the given image itself.
    """
    from ._scene import scene_of

    scene = scene_of(prompt or "", seed)
    rng = np.random.default_rng(seed % 2**63)
    pace = {0.5: 0.6, 1.7: 1.4}.get(scene.pace, 1.0)
    out = []
    for _ in range(max(1, count)):
        zoom = 1 + float(rng.uniform(0.06, ZOOM - 1)) * pace
        zoom_in = bool(rng.random() < 0.5)
        drift = float(rng.uniform(0.12, 0.3))
        side = float(rng.choice((-1.0, 1.0)))
        if scene.camera == "zoom-in" or scene.camera == "zoom-out":
            zoom, zoom_in, drift = ZOOM_MAX, scene.camera == "zoom-in", drift * 0.3
        elif scene.camera == "pan":
            zoom, drift, side = 1.12, 0.45, float(scene.direction)
        elif scene.camera == "static":
            zoom, drift = 1.02, 0.03
        zoom = min(ZOOM_MAX, max(1.01, zoom))
        span = (1.0, zoom) if zoom_in or from_full else (zoom, 1.0)
        cy = float(rng.uniform(0.42, 0.58))
        out.append(Move(span, (0.5 - side * drift * pace, 0.5 + side * drift * pace), (cy, 1 - cy)))
    return out


def _crop(picture: np.ndarray, width: int, height: int, t: float, move: Move) -> np.ndarray:
    """The view of `picture` at time t in 0..1 along `move`.

    The picture is loaded as many times the frame's size as the closest zoom: z = 1 shows all
    of it (scaled down), the closest zoom a frame's worth at full resolution. The view stays
    inside the picture.
    """
    big_h, big_w = picture.shape[:2]
    z, cx, cy = move.at(t)
    crop_w = min(big_w, max(2, round(big_w / z)))
    crop_h = min(big_h, max(2, round(crop_w * height / width)))
    x0 = round((big_w - crop_w) * min(1.0, max(0.0, cx)))
    y0 = round((big_h - crop_h) * min(1.0, max(0.0, cy)))
    return picture[y0 : y0 + crop_h, x0 : x0 + crop_w]


def blend_into(dst: Planes, other: Planes, weight: float) -> None:
    """dst = dst * (1 - weight) + other * weight, in place, in uint16."""
    a = round(weight * 256)
    for d, o in zip(dst, other, strict=True):
        mixed = d * np.uint16(256 - a)
        mixed += o * np.uint16(a)
        mixed >>= 8
        d[...] = mixed


def pictures(
    refs: Sequence[Path | str],
    width: int,
    height: int,
    count: int,
    mode: str,
    prompt: str | None = None,
    seed: int | None = None,
) -> Iterator[av.VideoFrame]:
    """The image modes: a camera move over one picture, a crossfade between two keyframes, or a
    slideshow (up to three references) or slowly moving mosaic (four or more) for references.

    Each take (`seed`) moves the camera its own way; the prompt's camera words steer it.
    """
    from ._scene import prompt_seed

    seed = prompt_seed(f"{prompt or ''}|{len(refs)}") if seed is None else seed
    anchored = mode in ("image-to-video", "keyframes")  # starts (keyframes: and ends) on an image
    paths = moves(
        prompt, seed, len(refs) if mode == "reference" and len(refs) < 4 else 2, from_full=anchored
    )
    closest = max(max(m.zoom) for m in paths)  # load no larger than the closest view needs
    cover_w, cover_h = even(width * closest), even(height * closest)
    if mode == "reference" and len(refs) >= 4:
        shots = [mosaic(refs, cover_w, cover_h)]
    elif mode == "keyframes":
        shots = [load_picture(ref, cover_w, cover_h) for ref in refs[:2]]
    elif mode == "reference":
        shots = [load_picture(ref, cover_w, cover_h) for ref in refs]
    else:
        shots = [load_picture(refs[0], cover_w, cover_h)]

    if mode == "keyframes" and len(shots) == 2:
        # the camera moves in from the whole first frame and arrives back out on the whole last
        # one, the first fading into the last through the middle; the ends are the images
        back = Move(paths[0].zoom[::-1], paths[0].x[::-1], paths[0].y[::-1])
        for i in range(count):
            t = i / max(1, count - 1)
            if i == 0 or i == count - 1:
                end = load_picture(refs[0 if i == 0 else 1], width, height)
                yield scale_rgb(end, width, height)
                continue
            frame = scale_rgb(_crop(shots[0], width, height, t, paths[0]), width, height)
            w = min(1.0, max(0.0, (t - 0.3) / 0.4))
            w = w * w * (3 - 2 * w)
            if w >= 1:
                frame = scale_rgb(_crop(shots[1], width, height, t, back), width, height)
            elif w > 0:
                last = scale_rgb(_crop(shots[1], width, height, t, back), width, height)
                blend_into(planes(frame), planes(last), w)
            yield frame
        return

    # a slideshow: each shot gets an equal share of the clip and fades into the next
    per = count / len(shots)
    fade = min(per * 0.4, count / 8)
    for i in range(count):
        if i == 0 and mode == "image-to-video":  # the given image itself, not a resampled view
            yield scale_rgb(load_picture(refs[0], width, height), width, height)
            continue
        k = min(len(shots) - 1, int(i / per))
        t = (i - k * per) / max(1, per - 1)
        frame = scale_rgb(_crop(shots[k], width, height, min(1.0, t), paths[k]), width, height)
        into_next = i - ((k + 1) * per - fade)
        if k + 1 < len(shots) and into_next > 0:
            other = scale_rgb(_crop(shots[k + 1], width, height, 0.0, paths[k + 1]), width, height)
            blend_into(planes(frame), planes(other), into_next / fade)
        yield frame
