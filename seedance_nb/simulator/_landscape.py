"""Text-to-video: the scene a prompt describes, drawn straight into yuv420p frames.

The plan comes from `_scene.scene_of(prompt, seed)`. What can be drawn once is drawn once:
the sky, three landscape layers that pan at different speeds (parallax), trees painted into
the ground, the subjects' poses as sprites. Per frame: the layers are sliced in, the sun or
moon and the subjects are blended at their positions, rain or snow is written as a few
thousand pixels, and a zoom is one swscale pass. Geometry comes from separate random streams
named by what they draw, so two prompts with one seed differ only where their words do.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ._figures import figure
from ._frames import Planes, Sprite, Strip, even, new_frame, planes
from ._scene import COLOURS, ON_GROUND, Scene, Subject, scene_of

Rgb = tuple[int, int, int]
Tint = tuple[float, float, float]

FEET = 0.885  # ground figures stand here (share of the height), in front of every hill
FLIGHT = 0.26  # flying figures' mean height
HORIZON = 0.5  # where a sea meets the sky
ZOOM_TO = 1.3  # how far a zoom goes
# how far each layer (sky, far, middle, near) slides over the clip, as a share of the width
TRAVEL: dict[str, tuple[float, float, float, float]] = {
    "drift": (0.03, 0.07, 0.16, 0.32),
    "pan": (0.08, 0.2, 0.42, 0.8),
    "static": (0.006, 0.0, 0.0, 0.0),
    "zoom-in": (0.015, 0.035, 0.08, 0.16),
    "zoom-out": (0.015, 0.035, 0.08, 0.16),
}
# per time of day: sky top, sky bottom, sun (or moon), its radius (share of the short side),
# its path (x0, y0, x1, y1 as shares, for things going right), and the light's tint
TIMES: dict[str, tuple[Rgb, Rgb, Rgb, float, tuple[float, float, float, float], Tint]] = {
    "dawn": (
        (112, 142, 204),
        (252, 184, 160),
        (255, 228, 184),
        0.07,
        (0.2, 0.62, 0.28, 0.36),
        (0.98, 0.84, 0.84),
    ),
    "noon": (
        (38, 110, 214),
        (166, 206, 244),
        (255, 252, 236),
        0.05,
        (0.44, 0.13, 0.56, 0.11),
        (1.0, 1.0, 1.0),
    ),
    "dusk": (
        (54, 34, 108),
        (250, 102, 40),
        (255, 110, 46),
        0.09,
        (0.74, 0.32, 0.66, 0.64),
        (0.9, 0.62, 0.5),
    ),
    "night": (
        (6, 10, 30),
        (28, 40, 86),
        (236, 236, 216),
        0.045,
        (0.72, 0.16, 0.64, 0.14),
        (0.34, 0.4, 0.58),
    ),
}
WEATHER_SKY: dict[str, tuple[Rgb, Rgb, float]] = {  # grey sky top, bottom, how much of it
    "rain": ((82, 88, 100), (142, 148, 158), 0.72),
    "snow": ((140, 146, 160), (200, 205, 214), 0.7),
    "fog": ((196, 198, 204), (214, 216, 220), 0.78),
}
WATER = (30, 88, 150)
SAND = (226, 196, 140)


@dataclass(frozen=True)
class Light:
    """The sky, the sun or moon and the light everything is seen in."""

    sky_top: Rgb
    sky_bottom: Rgb
    sun: Rgb | None  # hidden by rain or snow
    sun_radius: float
    sun_path: tuple[float, float, float, float]
    tint: Tint
    haze: Rgb
    night: bool
    fog: float  # 0 clear .. 1 nothing but fog


def _rng(scene: Scene, name: str) -> np.random.Generator:
    """A random stream for one part of the picture, from the take's seed and the part's name."""
    salt = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return np.random.default_rng([scene.seed % 2**63, salt])


def _mix(a: Rgb | np.ndarray, b: Rgb | np.ndarray, t: float) -> np.ndarray:
    return np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t


def _rgb(value: np.ndarray) -> Rgb:
    r, g, b = (int(v) for v in np.clip(np.round(value), 0, 255))
    return r, g, b


def light_of(scene: Scene) -> Light:
    """The light for the scene's time of day and weather (and a named sky colour)."""
    if scene.time in TIMES:
        top, bottom, sun, radius, path, tint = TIMES[scene.time]
    else:  # no time named: an ordinary day under a sky of the take's own blue
        hue = float(_rng(scene, "sky-hue").uniform(0.54, 0.62))
        top = _rgb(np.array(colorsys.hsv_to_rgb(hue, 0.62, 0.84)) * 255)
        bottom = _rgb(np.array(colorsys.hsv_to_rgb(hue + 0.02, 0.2, 1.0)) * 255)
        sun, radius, path, tint = (255, 246, 212), 0.06, (0.24, 0.24, 0.4, 0.18), (1.0, 1.0, 1.0)
    if scene.direction < 0:
        path = (1 - path[0], path[1], 1 - path[2], path[3])
    night = scene.time == "night"
    fog = 0.0
    sun_shown: Rgb | None = sun
    if scene.sky_colour is not None:
        top = _rgb(_mix(top, scene.sky_colour, 0.5))
        bottom = _rgb(_mix(bottom, scene.sky_colour, 0.35))
    if scene.weather in WEATHER_SKY:
        grey_top, grey_bottom, share = WEATHER_SKY[scene.weather]
        dim = 0.35 if night else 1.0
        top = _rgb(_mix(top, np.array(grey_top) * dim, share))
        bottom = _rgb(_mix(bottom, np.array(grey_bottom) * dim, share))
        grey = _mix(tint, (0.78, 0.8, 0.83), 0.5)
        tint = (float(grey[0]), float(grey[1]), float(grey[2]))
        if scene.weather == "fog":
            fog = 0.62
            sun_shown = _rgb(_mix(sun, bottom, 0.55))
        else:
            sun_shown = None
    return Light(top, bottom, sun_shown, radius, path, tint, bottom, night, fog)


def _lit(colour: Rgb | np.ndarray, light: Light, depth: float = 0.0) -> np.ndarray:
    """A colour in the scene's light, fading into the haze (and fog) with depth 0..1."""
    c = np.asarray(colour, np.float32) * np.array(light.tint, np.float32)
    return _mix(c, light.haze, min(1.0, depth * 0.55 + light.fog * (0.5 + 0.5 * depth)))


def _gradient(rows: int, width: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """A vertical gradient from `top` to `bottom` colour, uint8 (rows, width, 3)."""
    t = np.linspace(0, 1, max(1, rows), dtype=np.float32)[:, None, None]
    column = np.clip(top * (1 - t) + bottom * t, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(column, (rows, width, 3)))


def _ridge(rng: np.random.Generator, width: int, points: int, smooth: bool) -> np.ndarray:
    """A skyline in 0..1 across `width` columns: peaks through random points, or rolling sines."""
    x = np.arange(width, dtype=np.float32)
    if smooth:
        out = np.zeros(width, np.float32)
        for octave in range(3):
            freq = rng.uniform(0.6, 1.4) * points * (octave + 1) * 2 * np.pi / width
            out += np.sin(freq * x + rng.uniform(0, 2 * np.pi)) / (octave + 1)
        return (out - out.min()) / max(1e-6, float(np.ptp(out)))
    knots = np.linspace(0, width, points + 1)
    heights = rng.uniform(0, 1, points + 1)
    heights[1::2] *= 0.45  # alternate peaks and saddles
    return np.interp(x, knots, heights).astype(np.float32)


def _sky(scene: Scene, light: Light, width: int, height: int) -> np.ndarray:
    """The sky, uint8 (height, width, 3): a gradient with clouds (heavy in rain), or stars.

    Gradient and clouds are smooth, so they are drawn at a quarter of the size and scaled up.
    """
    rng = _rng(scene, "clouds")
    small_w, small_h = max(2, width // 4), max(2, height // 4)
    top, bottom = np.array(light.sky_top, np.float32), np.array(light.sky_bottom, np.float32)
    t = np.linspace(0, 1, small_h, dtype=np.float32)[:, None, None]
    sky = np.broadcast_to(top * (1 - t) + bottom * t, (small_h, small_w, 3)).copy()
    heavy = scene.weather in ("rain", "snow")
    if not light.night or heavy:
        cover = Image.new("L", (small_w, small_h), 0)
        draw = ImageDraw.Draw(cover)
        for _ in range(int(rng.integers(10, 16) if heavy else rng.integers(3, 8))):
            cx, cy = rng.uniform(0, small_w), rng.uniform(0.05, 0.42) * small_h
            for _ in range(int(rng.integers(3, 6))):
                w = rng.uniform(0.02, 0.05) * small_w * (1.8 if heavy else 1.0)
                h = w * rng.uniform(0.35, 0.6)
                ox, oy = rng.normal(0, w * 0.8), rng.normal(0, h * 0.4)
                draw.ellipse((cx + ox - w, cy + oy - h, cx + ox + w, cy + oy + h), fill=200)
        cover = cover.filter(ImageFilter.GaussianBlur(max(1.0, small_h / 30)))
        tone = _lit((70, 74, 84) if heavy else (255, 255, 255), light)
        tone = _mix(tone, light.sky_bottom, 0.25) * (0.4 if light.night else 1.0)
        alpha = np.asarray(cover, np.float32)[..., None] / 255 * (0.85 - 0.4 * light.fog)
        sky += (tone - sky) * alpha
    small = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8), "RGB")
    big = np.array(small.resize((width, height), Image.Resampling.BILINEAR))
    if light.night and not heavy:
        stars = _rng(scene, "stars").random((height * 6 // 10, width)) > 0.9985
        big[: stars.shape[0]][stars] = 235
    return big


def _sun(radius: int, colour: Rgb, light: Light) -> Sprite:
    """A disc with a soft glow around it (a dimmer glow for the moon)."""
    size = even(radius * 5)
    r = np.hypot(*np.mgrid[-size / 2 : size / 2, -size / 2 : size / 2]) + 0.5
    disc = np.clip(radius + 0.5 - r, 0, 1) * (1 - 0.5 * light.fog)
    glow = np.clip(1 - (r - radius) / (size / 2 - radius), 0, 1) ** 2
    alpha = np.maximum(disc, glow * (0.25 if light.night else 0.5))
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = np.round(alpha * 255).astype(np.uint8)
    return Sprite(rgba)


def _paint(
    rgb: np.ndarray, mask: np.ndarray, top: int, picture: np.ndarray, x: int, y: int
) -> None:
    """Composite an RGBA picture onto a layer (whose row 0 is frame row `top`) and its mask."""
    h, w = picture.shape[:2]
    y0, x0 = y - top, x
    ys, xs = (
        slice(max(0, y0), min(rgb.shape[0], y0 + h)),
        slice(max(0, x0), min(rgb.shape[1], x0 + w)),
    )
    src = picture[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    if src.size == 0:
        return
    alpha = src[..., 3:4].astype(np.float32) / 255
    region = rgb[ys, xs].astype(np.float32)
    rgb[ys, xs] = np.round(region * (1 - alpha) + src[..., :3] * alpha).astype(np.uint8)
    mask[ys, xs] |= src[..., 3] > 8


def _layer(
    width: int,
    height: int,
    line: np.ndarray,
    colour: np.ndarray,
    shade: float = 0.6,
    extra_top: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """A ground layer below the crest `line` (rows per column): its RGB, mask and top row."""
    first = int(line.min()) // 2 * 2
    if extra_top is not None:
        first = max(0, min(first, extra_top // 2 * 2))
    rows = np.arange(first, height, dtype=np.float32)[:, None]
    rgb = _gradient(height - first, width, colour, colour * shade)
    return rgb.copy(), rows >= line[None, :], first


def _far(scene: Scene, light: Light, width: int, height: int) -> tuple[np.ndarray, ...]:
    """The distant layer: mountains, a city skyline, or low hills in the haze."""
    rng = _rng(scene, "far")
    if scene.land == "city":
        base = int(height * 0.64)
        line = np.full(width, float(base), np.float32)
        x = 0
        while x < width:
            w = int(rng.uniform(0.03, 0.08) * width) + 2
            line[x : x + w] = base - rng.uniform(0.12, 0.44) * height
            x += w
        colour = _lit(_mix((70, 76, 96), scene.land_colour, 0.3), light, 0.45)
        rgb, mask, first = _layer(width, height, line, colour, 0.8)
        lit_windows = light.night or scene.time == "dusk"
        glow = np.array((255, 214, 120) if lit_windows else _mix(colour, (230, 236, 246), 0.25))
        win = rng.random(((height - first) // 8 + 1, width // 6 + 1)) > (
            0.55 if lit_windows else 0.3
        )
        cells = np.zeros(rgb.shape[:2], bool)
        cells[1::8][:, 1::6] = True
        grid = np.zeros_like(cells)
        for dy in range(3):
            for dx in range(3):
                grid[dy:, dx:] |= cells[: cells.shape[0] - dy, : cells.shape[1] - dx]
        lit = grid & np.repeat(np.repeat(win, 8, 0), 6, 1)[: grid.shape[0], : grid.shape[1]]
        lit &= mask & (np.arange(first, height)[:, None] < base - 4)
        rgb[lit] = glow.astype(np.uint8)
        return rgb, mask, first
    if scene.land == "mountains":
        line = (0.2 + 0.36 * (1 - _ridge(rng, width, 10, False))) * height
        colour = _lit(_mix(scene.land_colour, (120, 130, 150), 0.5), light, 0.4)
        rgb, mask, first = _layer(width, height, line, colour, 0.7)
        rows = np.arange(first, height, dtype=np.float32)[:, None]
        snowline = (0.3 + 0.03 * _ridge(rng, width, 24, True)) * height
        caps = mask & (rows < snowline[None, :])
        rgb[caps] = _mix(rgb[caps], _lit((246, 248, 252), light, 0.3), 0.85).astype(np.uint8)
        return rgb, mask, first
    low = 0.42 if scene.water else 0.4
    line = (low + 0.1 * (1 - _ridge(rng, width, 4, True))) * height
    colour = _lit(scene.land_colour, light, 0.7)
    return _layer(width, height, line, colour, 0.85)


def _trees(
    scene: Scene,
    light: Light,
    rgb: np.ndarray,
    mask: np.ndarray,
    top: int,
    line: np.ndarray,
    short: int,
    count: int,
    scale: float,
    depth: float,
    rng: np.random.Generator,
) -> None:
    """Paint `count` trees standing on the crest `line` of a layer."""
    colour = next((s.colour for s in scene.subjects if s.kind == "tree"), (52, 132, 58))
    for _ in range(count):
        pose = figure(
            "tree", _rgb(_lit(colour, light, depth)), short, scale * rng.uniform(0.8, 1.1)
        )[0]
        x = int(rng.uniform(0, rgb.shape[1] - pose.shape[1]))
        foot = int(line[min(len(line) - 1, x + pose.shape[1] // 2)]) + pose.shape[0] // 20
        _paint(rgb, mask, top, pose, x, foot - pose.shape[0])


def _water(scene: Scene, light: Light, width: int, height: int) -> tuple[np.ndarray, ...]:
    """A sea from the horizon down, with glints of light that slide past as the camera moves."""
    rng = _rng(scene, "water")
    first = int(HORIZON * height) // 2 * 2
    water = _lit(_mix(WATER, light.sky_bottom, 0.3), light, 0.1)
    rgb = _gradient(height - first, width, water, water * 0.55).copy()
    dash = max(4, width // 60)
    glints = rng.random(((height - first) // 2, width // dash + 1)) > 0.985
    spark = np.repeat(np.repeat(glints, 2, axis=0), dash, axis=1)[: height - first, :width]
    glint = _mix(light.sky_bottom, (255, 255, 255), 0.5)
    rgb[spark] = (rgb[spark] * 0.5 + glint * 0.5).astype(np.uint8)
    return rgb, np.ones(rgb.shape[:2], bool), first


def _layers(scene: Scene, light: Light, width: int, height: int) -> list[Strip]:
    """Sky, far, middle and near layers as Strips, each as wide as its travel needs."""
    travel = list(TRAVEL[scene.camera])
    if scene.camera != "static" and any(s.motion == "run" for s in scene.subjects):
        travel = [t * 1.5 for t in travel]  # the camera keeps up with a runner
    pace = 0.6 + 0.4 * scene.pace
    wide = [width + even(width * t * pace) + 2 for t in travel]
    short = min(width, height)
    strips = [Strip(_sky(scene, light, wide[0], height), None, 0, width)]

    rgb, mask, first = _far(scene, light, wide[1], height)
    strips.append(Strip(rgb, mask, first, width))

    if scene.water:
        rgb, mask, first = _water(scene, light, wide[2], height)
    else:
        rng = _rng(scene, "middle")
        line = (0.5 + 0.15 * (1 - _ridge(rng, wide[2], 3, True))) * height
        colour = _lit(_mix(scene.land_colour, (40, 40, 40), 0.1), light, 0.3)
        trees_top = int(line.min() - 0.3 * short) if scene.land == "forest" else None
        rgb, mask, first = _layer(wide[2], height, line, colour, 0.7, trees_top)
        if scene.land == "forest":
            _trees(
                scene,
                light,
                rgb,
                mask,
                first,
                line,
                short,
                wide[2] // max(8, short // 6),
                0.55,
                0.35,
                rng,
            )
    strips.append(Strip(rgb, mask, first, width))

    if scene.water and not scene.shore:
        return strips
    rng = _rng(scene, "near")
    line = (0.71 + 0.07 * (1 - _ridge(rng, wide[3], 2, True))) * height
    ground = SAND if scene.shore else scene.land_colour
    if scene.weather == "snow":  # a snowfall whitens whatever ground it falls on
        ground = _rgb(_mix(ground, (236, 240, 246), 0.75))
    tree = any(s.kind == "tree" for s in scene.subjects) or scene.land == "forest"
    rgb, mask, first = _layer(
        wide[3], height, line, _lit(ground, light), 0.62, int(0.25 * height) if tree else None
    )
    if scene.shore:  # a line of foam where the sand meets the sea
        rows = np.arange(first, height, dtype=np.float32)[:, None]
        foam = mask & (rows < line[None, :] + max(2, height // 180))
        rgb[foam] = _lit((246, 246, 240), light).astype(np.uint8)
    if tree:
        count = 1 if scene.land != "forest" else 3
        for n in range(count):  # keep the subject tree in view for the whole pan
            pose = figure("tree", _rgb(_lit(_tree_colour(scene), light)), short, 1.0 - 0.15 * n)[0]
            x = (wide[3] - width) // 2 + int(
                width * (0.62 - 0.3 * n if scene.direction > 0 else 0.38 + 0.3 * n)
            )
            x -= pose.shape[1] // 2
            foot = int(0.8 * height)
            _paint(rgb, mask, first, pose, x, foot - pose.shape[0])
    strips.append(Strip(rgb, mask, first, width))
    return strips


def _tree_colour(scene: Scene) -> Rgb:
    return next((s.colour for s in scene.subjects if s.kind == "tree"), (52, 132, 58))


# ---- subjects ---------------------------------------------------------------------------------


@dataclass
class Actor:
    """One moving figure: its poses (facing its way), where it goes, and how fast it steps."""

    poses: list[Sprite]
    subject: Subject
    lane: str  # "ground" | "water" | "sky"
    dx: float  # offset from the leader, share of the width (a follower in a group)
    dy: float  # offset, share of the height
    phase: float
    steps: float  # pose cycles per second


def _actors(scene: Scene, light: Light, width: int, height: int) -> list[Actor]:
    """The prompt's subjects (trees are in the landscape), posed and lit, with their lanes."""
    short = min(width, height)
    rng = _rng(scene, "actors")
    actors = []
    order = sorted((s for s in scene.subjects if s.kind != "tree"), key=lambda s: s.kind == "kite")
    for n, subject in enumerate(order):
        lane = "sky" if subject.motion == "fly" else "water" if subject.kind == "boat" else "ground"
        scale = 1.0 if n == 0 else 0.85
        if subject.count > 1:
            scale *= 0.8
        colour = _rgb(_mix(subject.colour, _lit(subject.colour, light), 0.5))
        raw = figure(subject.kind, colour, short, scale)
        if light.fog:
            haze = np.array(light.haze, np.float32)
            raw = [
                np.dstack([_mix(p[..., :3], haze, light.fog * 0.45).astype(np.uint8), p[..., 3]])
                for p in raw
            ]
        if scene.direction < 0:
            raw = [np.ascontiguousarray(p[:, ::-1]) for p in raw]
        poses = [Sprite(p) for p in raw]
        steps = {"run": 3.2, "walk": 1.8, "jump": 1.5, "fly": 2.4, "drift": 0.5}.get(
            subject.motion, 1.0
        ) * scene.pace
        if subject.kind == "car":
            steps *= 2.5
        if subject.kind == "kite":
            steps = 1.2 * scene.pace
        follow = -scene.direction
        group = [(0.0, 0.0)]
        if subject.count > 1:
            group += [(0.13 * follow, 0.03), (0.26 * follow, -0.02)]
            if lane == "sky":
                group = [(0.0, 0.0), (0.09 * follow, 0.07), (0.18 * follow, -0.05)]
            group = group[: subject.count]
        if n > 0 and lane != "sky":
            group = [(dx + 0.22 * follow, dy - 0.015) for dx, dy in group]
        for dx, dy in group:
            actors.append(Actor(poses, subject, lane, dx, dy, float(rng.uniform(0, 1)), steps))
    return actors


SPANS = {"run": 0.6, "walk": 0.3, "jump": 0.42, "fly": 0.62, "drift": 0.22}  # share of the width


def _place(actor: Actor, scene: Scene, width: int, height: int, t: float, p: float) -> tuple:
    """Where the actor is at time t (seconds, p in 0..1 of the clip): (pose, x, y) top-left."""
    subject, pose_count = actor.subject, len(actor.poses)
    pose = actor.poses[int((t * actor.steps + actor.phase) * pose_count) % pose_count]
    span = min(0.8, SPANS.get(subject.motion, 0.3) * scene.pace)
    if subject.kind == "car":
        span = min(0.8, 0.7 * scene.pace)
    cx = width * (0.5 + actor.dx + scene.direction * span * (p - 0.5))
    if subject.kind == "kite":  # a kite hangs in the wind, swaying in a figure of eight
        w = 2 * math.pi * 0.3 * scene.pace
        cx = width * (0.5 + actor.dx + 0.1 * math.sin(w * t + actor.phase * 6))
        cy = height * (FLIGHT + actor.dy + 0.04 * math.sin(2 * w * t + actor.phase * 6))
        return pose, round(cx - pose.width / 2), round(cy - pose.height * 0.25)
    if actor.lane == "sky":
        cy = height * (FLIGHT + actor.dy + 0.05 * math.sin(2 * math.pi * 0.4 * t + actor.phase * 6))
        return pose, round(cx - pose.width / 2), round(cy - pose.height / 2)
    if actor.lane == "water":
        line = 0.66 if scene.shore else 0.72
        bob = 0.006 * math.sin(2 * math.pi * 0.7 * t + actor.phase * 6)
        feet = height * (line + actor.dy + bob) + pose.height * 0.08
        return pose, round(cx - pose.width / 2), round(feet - pose.height)
    lift = 0.0
    if subject.motion == "run":
        lift = 0.018 * abs(math.sin(math.pi * t * actor.steps))
    elif subject.motion == "jump":
        lift = 0.13 * abs(math.sin(math.pi * t * 0.9 * scene.pace + actor.phase))
    elif subject.motion == "walk" and subject.kind != "car":
        lift = 0.005 * abs(math.sin(2 * math.pi * t * actor.steps))
    feet = height * (FEET + actor.dy - lift)
    return pose, round(cx - pose.width / 2), round(feet - pose.height)


def _string(dst: Planes, start: tuple[float, float], end: tuple[float, float], luma: int) -> None:
    """A kite's line: a thin straight line written into the luma plane (two pixels wide from
    720p up, one below)."""
    height, width = dst[0].shape
    n = int(max(abs(end[0] - start[0]), abs(end[1] - start[1]))) + 1
    xs = np.linspace(start[0], end[0], n).round().astype(np.intp)
    ys = np.linspace(start[1], end[1], n).round().astype(np.intp)
    keep = (xs >= 0) & (xs < width - 1) & (ys >= 0) & (ys < height)
    xs, ys = xs[keep], ys[keep]
    dst[0][ys, xs] = luma
    if min(width, height) >= 720:
        dst[0][ys, xs + 1] = luma


# ---- weather ---------------------------------------------------------------------------------


class Rain:
    """Slanted streaks falling fast, written as brighter luma pixels (a few thousand a frame)."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        rng = _rng(scene, "rain")
        self.length = max(4, height // 22)
        count = max(40, width * height * 3 // (200 * self.length))  # streaks cover 1.5%
        self.height, self.width = height, width
        self.x0 = rng.uniform(0, width, count)
        self.y0 = rng.uniform(0, height + self.length, count)
        self.speed = rng.uniform(1.3, 1.9, count) * height  # per second
        k = np.arange(self.length)
        self.slant = (0.22 * scene.direction * k)[None, :]
        self.k = k[None, :]

    def draw(self, dst: Planes, t: float) -> None:
        span = self.height + self.length
        top = (self.y0 + self.speed * t) % span - self.length  # each streak's upper end
        ys = (top[:, None] + self.k).astype(np.intp).ravel()
        xs = ((self.x0 + self.slant[0, 1] * top)[:, None] + self.slant) % self.width
        xs = xs.astype(np.intp).ravel()
        keep = (ys >= 0) & (ys < self.height)
        ys, xs = ys[keep], xs[keep]
        y = dst[0]
        y[ys, xs] = ((y[ys, xs].astype(np.uint16) + 230) >> 1).astype(np.uint8)


class Snow:
    """Flakes drifting down and swaying: white squares in luma, neutral in chroma."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        rng = _rng(scene, "snow")
        count = max(40, width * height // 700)
        self.height, self.width = height, width
        self.size = np.where(rng.random(count) < 0.3, 4, 2) * max(1, min(width, height) // 720)
        self.x0 = rng.uniform(0, width, count)
        self.y0 = rng.uniform(0, height, count)
        self.speed = rng.uniform(0.1, 0.22, count) * height * np.where(self.size > 2, 1.3, 1.0)
        self.sway = rng.uniform(0.004, 0.015, count) * width
        self.phase = rng.uniform(0, 2 * np.pi, count)

    def draw(self, dst: Planes, t: float) -> None:
        x = (self.x0 + self.sway * np.sin(1.6 * t + self.phase)) % (self.width - 4)
        y = (self.y0 + self.speed * t) % (self.height - 4)
        xs, ys = (x.astype(np.intp) // 2) * 2, (y.astype(np.intp) // 2) * 2
        for size in np.unique(self.size):
            pick = self.size == size
            px, py = xs[pick], ys[pick]
            for dy in range(size):
                for dx in range(size):
                    dst[0][py + dy, px + dx] = 235
            for dy in range(size // 2):
                for dx in range(size // 2):
                    dst[1][py // 2 + dy, px // 2 + dx] = 128
                    dst[2][py // 2 + dy, px // 2 + dx] = 128


# ---- the clip --------------------------------------------------------------------------------


def _zoom(frame: av.VideoFrame, z: float, cx: float, cy: float) -> av.VideoFrame:
    """The frame seen `z` times closer around (cx, cy): one crop and one swscale pass."""
    width, height = frame.width, frame.height
    cw, ch = even(width / z), even(height / z)
    x0 = min(max(0, even(cx - cw / 2)), width - cw)
    y0 = min(max(0, even(cy - ch / 2)), height - ch)
    crop = av.VideoFrame(cw, ch, "yuv420p")
    src, dst = planes(frame), planes(crop)
    dst[0][...] = src[0][y0 : y0 + ch, x0 : x0 + cw]
    for k in (1, 2):
        dst[k][...] = src[k][y0 // 2 : (y0 + ch) // 2, x0 // 2 : (x0 + cw) // 2]
    out = crop.reformat(width=width, height=height, interpolation="BILINEAR", threads=1)
    out.colorspace = 1  # AVCOL_SPC_BT709, as drawn
    return out


def landscape(
    width: int, height: int, count: int, prompt: str, seed: int | None = None, fps: int = 24
) -> Iterator[av.VideoFrame]:
    """Text-to-video: the prompt's scene for (prompt, seed), `count` frames at `fps`."""
    scene = scene_of(prompt, seed)
    light = light_of(scene)
    short = min(width, height)
    layers = _layers(scene, light, width, height)
    sun = _sun(max(6, round(short * light.sun_radius)), light.sun, light) if light.sun else None
    actors = _actors(scene, light, width, height)
    under = [a for a in actors if a.lane == "water"]
    over = [a for a in actors if a.lane != "water"]
    weather = (
        Rain(scene, width, height)
        if scene.weather == "rain"
        else Snow(scene, width, height)
        if scene.weather == "snow"
        else None
    )
    holder = next((a for a in over if a.lane == "ground" and a.subject.kind in ON_GROUND), None)
    line_luma = 210 if light.night else 50
    for i in range(count):
        p, t = i / max(1, count - 1), i / fps
        frame = new_frame(width, height)
        dst = planes(frame)
        q = p if scene.direction > 0 else 1 - p
        for n, layer in enumerate(layers):
            layer.draw(dst, round(q * layer.travel))
            if n == 0 and sun is not None:  # the sun sits in the sky, behind every hill
                x0, y0, x1, y1 = light.sun_path
                sx, sy = width * (x0 + (x1 - x0) * p), height * (y0 + (y1 - y0) * p)
                sun.blend(dst, round(sx - sun.width / 2), round(sy - sun.height / 2))
            if n == 2:  # boats ride on the sea, in front of the far shore
                for actor in under:
                    sprite, x, y = _place(actor, scene, width, height, t, p)
                    sprite.blend(dst, x, y)
        for actor in over:
            sprite, x, y = _place(actor, scene, width, height, t, p)
            if actor.subject.kind == "kite":
                if holder is not None:
                    hs, hx, hy = _place(holder, scene, width, height, t, p)
                    anchor = (hx + hs.width * (0.5 + 0.3 * scene.direction), hy + hs.height * 0.3)
                else:
                    anchor = (width * (0.5 - 0.2 * scene.direction), height * 1.05)
                _string(dst, (x + sprite.width / 2, y + sprite.height * 0.2), anchor, line_luma)
            sprite.blend(dst, x, y)
        if weather is not None:
            weather.draw(dst, t)
        if scene.camera in ("zoom-in", "zoom-out"):
            s = p * p * (3 - 2 * p)
            z = 1 + (ZOOM_TO - 1) * (s if scene.camera == "zoom-in" else 1 - s)
            frame = _zoom(frame, z, width * 0.5, height * 0.55)
        yield frame


__all__ = ["COLOURS", "landscape", "light_of"]
