"""The subjects of text-to-video clips, drawn once with Pillow as a few RGBA poses each.

Each figure faces right, is drawn at twice its size and shrunk (smooth edges), and comes as a
short cycle of poses (legs, wings, a kite's tail) that the clip steps through as it moves.
`tree` is a single pose that is painted into the landscape instead of moving.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

Rgb = tuple[int, int, int]
Poses = list[np.ndarray]
SS = 2  # supersampling factor

# size of each figure, as a share of the frame's short side: (width, height)
SIZES: dict[str, tuple[float, float]] = {
    "dog": (0.4, 0.28),
    "cat": (0.3, 0.23),
    "person": (0.20, 0.38),
    "car": (0.44, 0.20),
    "boat": (0.32, 0.30),
    "kite": (0.20, 0.34),
    "bird": (0.2, 0.14),
    "tree": (0.34, 0.52),
}


def scaled(rgb: Rgb, k: float) -> Rgb:
    """The colour made lighter (k > 1) or darker (k < 1)."""
    if k <= 1:
        return (round(rgb[0] * k), round(rgb[1] * k), round(rgb[2] * k))
    t = min(1.0, k - 1)
    return tuple(round(c + (255 - c) * t) for c in rgb)  # type: ignore[return-value]


def _canvas(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", (w * SS, h * SS), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _finish(img: Image.Image) -> np.ndarray:
    """Shrink the supersampled drawing to its size, with even width and height."""
    w, h = img.width // SS, img.height // SS
    small = img.resize((w - w % 2, h - h % 2), Image.Resampling.BOX)
    return np.asarray(small)


def _limb(
    draw: ImageDraw.ImageDraw,
    x: float,
    y: float,
    length: float,
    angle: float,
    width: float,
    fill: Rgb,
) -> tuple[float, float]:
    """A thick rounded line from (x, y) at `angle` degrees from straight down; returns its end."""
    a = math.radians(angle)
    ex, ey = x + length * math.sin(a), y + length * math.cos(a)
    draw.line((x, y, ex, ey), fill=fill, width=max(1, round(width)))
    r = width / 2
    draw.ellipse((ex - r, ey - r, ex + r, ey + r), fill=fill)
    return ex, ey


def _quadruped(w: int, h: int, colour: Rgb, cat: bool) -> Poses:
    """A dog (or a cat: slimmer, pointed ears, tail up) in a four-pose gait."""
    poses = []
    dark, light = scaled(colour, 0.68), scaled(colour, 1.18)
    for phase in range(4):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        swing = 26 * math.sin(phase * math.pi / 2)
        body = (
            (W * 0.18, H * 0.34, W * 0.76, H * 0.66)
            if not cat
            else (W * 0.2, H * 0.42, W * 0.74, H * 0.68)
        )
        leg_top, leg_len, leg_w = body[1] + (body[3] - body[1]) * 0.6, H * 0.36, W * 0.055
        for hip, s in ((W * 0.28, -1), (W * 0.66, 1)):  # far legs, darker
            _limb(d, hip + W * 0.03, leg_top, leg_len, s * swing, leg_w, dark)
        tail_y = body[1] + H * 0.06
        if cat:
            d.arc(
                (W * 0.0, H * 0.02, W * 0.3, H * 0.62), 150, 270, fill=colour, width=round(W * 0.04)
            )
        else:
            _limb(d, body[0] + W * 0.04, tail_y, H * 0.3, 180 + 40 + swing / 3, W * 0.045, colour)
        d.ellipse(body, fill=colour)
        d.ellipse(
            (body[0] + W * 0.1, body[1] + H * 0.04, body[2] - W * 0.1, body[1] + H * 0.14),
            fill=light,
        )
        for hip, s in ((W * 0.28, 1), (W * 0.66, -1)):  # near legs
            _limb(d, hip, leg_top, leg_len, s * swing, leg_w, colour)
        # head and neck
        hx, hy, hr = W * 0.8, H * (0.3 if not cat else 0.36), H * (0.17 if not cat else 0.15)
        d.polygon(
            [
                (W * 0.64, body[1] + H * 0.04),
                (hx, hy - hr * 0.2),
                (hx, hy + hr),
                (W * 0.7, body[1] + H * 0.2),
            ],
            fill=colour,
        )
        d.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=colour)
        if cat:
            for ex in (hx - hr * 0.6, hx + hr * 0.2):
                d.polygon(
                    [
                        (ex, hy - hr * 0.5),
                        (ex + hr * 0.4, hy - hr * 1.7),
                        (ex + hr * 0.8, hy - hr * 0.5),
                    ],
                    fill=colour,
                )
            d.ellipse((hx + hr * 0.3, hy - hr * 0.3, hx + hr * 0.6, hy), fill=(40, 160, 70))
        else:
            d.ellipse((hx, hy - hr * 0.1, hx + hr * 1.5, hy + hr * 0.7), fill=colour)  # snout
            d.ellipse(
                (hx + hr * 1.25, hy - hr * 0.05, hx + hr * 1.6, hy + hr * 0.3), fill=(24, 20, 20)
            )
            d.ellipse((hx - hr * 0.7, hy - hr * 0.6, hx - hr * 0.05, hy + hr * 0.9), fill=dark)
            d.ellipse(
                (hx + hr * 0.25, hy - hr * 0.45, hx + hr * 0.55, hy - hr * 0.15), fill=(20, 20, 20)
            )
        poses.append(_finish(img))
    return poses


def _person(w: int, h: int, colour: Rgb) -> Poses:
    """A figure with a shirt of the colour, swinging arms and legs."""
    poses = []
    skin, trousers, hair = (226, 182, 150), (44, 52, 74), (60, 40, 30)
    for phase in range(4):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        swing = 30 * math.sin(phase * math.pi / 2)
        cx, hip = W * 0.5, H * 0.56
        lw = W * 0.13
        _limb(d, cx, hip, H * 0.4, -swing, lw, scaled(trousers, 0.75))
        _limb(d, cx + W * 0.06, H * 0.27, H * 0.26, swing, lw * 0.8, scaled(colour, 0.7))
        d.rounded_rectangle(
            (cx - W * 0.16, H * 0.22, cx + W * 0.16, hip + H * 0.04), radius=W * 0.1, fill=colour
        )
        _limb(d, cx, hip, H * 0.4, swing, lw, trousers)
        _limb(d, cx - W * 0.04, H * 0.27, H * 0.26, -swing, lw * 0.8, colour)
        r = W * 0.17
        d.ellipse((cx - r, H * 0.2 - 2 * r, cx + r, H * 0.2), fill=skin)
        d.pieslice((cx - r, H * 0.2 - 2 * r, cx + r, H * 0.2), 180, 360, fill=hair)
        poses.append(_finish(img))
    return poses


def _car(w: int, h: int, colour: Rgb) -> Poses:
    """A car body of the colour, a cabin with windows, and wheels whose spokes turn."""
    poses = []
    for phase in range(3):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        d.polygon(
            [(W * 0.24, H * 0.42), (W * 0.34, H * 0.1), (W * 0.68, H * 0.1), (W * 0.8, H * 0.42)],
            fill=scaled(colour, 0.85),
        )
        d.polygon(
            [(W * 0.3, H * 0.4), (W * 0.37, H * 0.16), (W * 0.5, H * 0.16), (W * 0.5, H * 0.4)],
            fill=(170, 200, 222),
        )
        d.polygon(
            [(W * 0.53, H * 0.4), (W * 0.53, H * 0.16), (W * 0.66, H * 0.16), (W * 0.74, H * 0.4)],
            fill=(170, 200, 222),
        )
        d.rounded_rectangle((W * 0.02, H * 0.38, W * 0.98, H * 0.78), radius=H * 0.12, fill=colour)
        d.rectangle((W * 0.9, H * 0.46, W * 0.97, H * 0.56), fill=(255, 236, 160))
        for cx in (W * 0.22, W * 0.78):
            r, cy = H * 0.2, H * 0.78
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(26, 26, 28))
            d.ellipse((cx - r * 0.5, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5), fill=(170,) * 3)
            a = math.radians(phase * 40)
            d.line(
                (
                    cx - r * 0.5 * math.cos(a),
                    cy - r * 0.5 * math.sin(a),
                    cx + r * 0.5 * math.cos(a),
                    cy + r * 0.5 * math.sin(a),
                ),
                fill=(60, 60, 60),
                width=max(1, round(r * 0.15)),
            )
        poses.append(_finish(img))
    return poses


def _boat(w: int, h: int, colour: Rgb) -> Poses:
    """A sailing boat with a hull of the colour, rocking a little."""
    poses = []
    for tilt in (-4, 0, 4, 0):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        d.polygon(
            [(0, H * 0.7), (W, H * 0.7), (W * 0.82, H * 0.96), (W * 0.14, H * 0.96)], fill=colour
        )
        d.rectangle((0, H * 0.7, W, H * 0.76), fill=scaled(colour, 1.3))
        d.line((W * 0.48, H * 0.04, W * 0.48, H * 0.7), fill=(70, 50, 36), width=round(W * 0.02))
        d.polygon(
            [(W * 0.5, H * 0.06), (W * 0.9, H * 0.64), (W * 0.5, H * 0.64)], fill=(246, 244, 236)
        )
        d.polygon(
            [(W * 0.46, H * 0.14), (W * 0.46, H * 0.64), (W * 0.16, H * 0.64)], fill=(226, 224, 214)
        )
        pose = img.rotate(tilt, resample=Image.Resampling.BICUBIC, center=(W / 2, H * 0.9))
        poses.append(_finish(pose))
    return poses


def _kite(w: int, h: int, colour: Rgb) -> Poses:
    """A diamond kite of the colour with a waving tail of bows, tilting as it sways."""
    poses = []
    for phase in range(4):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        top, mid, bottom = (W * 0.5, 0), (W * 0.5, H * 0.2), (W * 0.5, H * 0.5)
        left, right = (W * 0.1, H * 0.2), (W * 0.9, H * 0.2)
        d.polygon([top, right, bottom, left], fill=colour)
        d.polygon([top, right, mid], fill=scaled(colour, 1.25))
        d.polygon([left, bottom, mid], fill=scaled(colour, 0.75))
        d.line((*top, *bottom), fill=(60, 44, 30), width=round(W * 0.02))
        d.line((*left, *right), fill=(60, 44, 30), width=round(W * 0.02))
        points = []
        for k in range(13):
            t = k / 12
            x = W * 0.5 + W * 0.14 * math.sin(t * 2.6 * math.pi + phase * math.pi / 2) * t
            points.append((x, H * (0.5 + 0.48 * t)))
        d.line(points, fill=(240, 240, 240), width=max(1, round(W * 0.015)))
        bow = scaled(colour, 1.35) if sum(colour) < 600 else (220, 40, 60)
        for x, y in points[3::3]:
            s = W * 0.05
            d.polygon(
                [
                    (x - s, y - s * 0.6),
                    (x + s, y + s * 0.6),
                    (x + s, y - s * 0.6),
                    (x - s, y + s * 0.6),
                ],
                fill=bow,
            )
        tilt = (-6, 0, 6, 0)[phase]
        poses.append(_finish(img.rotate(tilt, resample=Image.Resampling.BICUBIC)))
    return poses


def _bird(w: int, h: int, colour: Rgb) -> Poses:
    """A bird of the colour with wings up, level and down (and level again)."""
    poses = []
    for lift in (1.0, 0.1, -0.8, 0.1):
        img, d = _canvas(w, h)
        W, H = w * SS, h * SS
        cy = H * 0.55
        wing = scaled(colour, 0.75)
        for x0, shade in ((W * 0.56, scaled(wing, 0.8)), (W * 0.46, wing)):
            tip = (x0 - W * 0.16, cy - lift * H * 0.52 + H * 0.06)
            d.polygon([(x0 - W * 0.14, cy), tip, (x0 + W * 0.14, cy - H * 0.02)], fill=shade)
            if abs(lift) < 0.5:  # level wings: seen edge-on, a long dark stroke
                d.ellipse((x0 - W * 0.3, cy - H * 0.1, x0 + W * 0.14, cy + H * 0.04), fill=shade)
        d.ellipse((W * 0.2, cy - H * 0.12, W * 0.78, cy + H * 0.14), fill=colour)
        d.ellipse((W * 0.7, cy - H * 0.22, W * 0.88, cy + H * 0.02), fill=colour)
        d.polygon(
            [(W * 0.87, cy - H * 0.12), (W, cy - H * 0.06), (W * 0.87, cy - H * 0.02)],
            fill=(240, 160, 40),
        )
        d.polygon(
            [(W * 0.22, cy), (W * 0.02, cy - H * 0.14), (W * 0.04, cy + H * 0.12)], fill=colour
        )
        poses.append(_finish(img))
    return poses


def _tree(w: int, h: int, colour: Rgb) -> Poses:
    """A trunk and a round crown of the colour."""
    img, d = _canvas(w, h)
    W, H = w * SS, h * SS
    d.polygon(
        [(W * 0.44, H), (W * 0.47, H * 0.45), (W * 0.53, H * 0.45), (W * 0.56, H)],
        fill=(92, 62, 40),
    )
    dark, light = scaled(colour, 0.72), scaled(colour, 1.2)
    for cx, cy, r, fill in (
        (0.3, 0.42, 0.22, dark),
        (0.7, 0.42, 0.22, dark),
        (0.5, 0.3, 0.28, colour),
        (0.34, 0.26, 0.2, colour),
        (0.66, 0.26, 0.2, colour),
        (0.46, 0.18, 0.14, light),
    ):
        d.ellipse((W * (cx - r), H * cy - W * r, W * (cx + r), H * cy + W * r), fill=fill)
    return [_finish(img)]


DRAW: dict[str, Callable[[int, int, Rgb], Poses]] = {
    "dog": lambda w, h, c: _quadruped(w, h, c, cat=False),
    "cat": lambda w, h, c: _quadruped(w, h, c, cat=True),
    "person": _person,
    "car": _car,
    "boat": _boat,
    "kite": _kite,
    "bird": _bird,
    "tree": _tree,
}


def figure(kind: str, colour: Rgb, short_side: int, scale: float = 1.0) -> Poses:
    """The poses of one kind of figure, sized for a frame whose short side is `short_side`."""
    fw, fh = SIZES[kind]
    w = max(8, round(fw * short_side * scale))
    h = max(8, round(fh * short_side * scale))
    return DRAW[kind](w, h, colour)
