"""The simulator's renderer: real H.264 of the asked size and length, useful to look at, written
atomically, never failing on an input it cannot read."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from seedance_nb.simulator import _render
from seedance_nb.simulator._render import cache_key, output_size, render_video

MODES = ["text-to-video", "image-to-video", "keyframes", "reference"]


def probe(path: Path) -> dict:
    """What PyAV says about the video stream, and every frame decoded to RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "codec": stream.codec_context.name,
            "size": (stream.width, stream.height),
            "seconds": float(stream.duration * stream.time_base),
            "container_seconds": container.duration / av.time_base,
            "frames": stream.frames,
            "fps": float(stream.average_rate),
        }
        info["decoded"] = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return info


def render(tmp_path: Path, name: str = "out.mp4", **kwargs: object) -> Path:
    params: dict = {
        "mode": "text-to-video",
        "width": 320,
        "height": 180,
        "seconds": 4,
        "prompt": "a test",
        "images": [],
    }
    params.update(kwargs)
    return render_video(tmp_path / name, **params)


def solid_image(path: Path, colour: tuple[int, int, int], size=(800, 600)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def red(tmp_path: Path) -> Path:
    return solid_image(tmp_path / "red.png", (220, 20, 20))


@pytest.fixture
def blue(tmp_path: Path) -> Path:
    return solid_image(tmp_path / "blue.png", (20, 40, 220))


def mostly(frame: np.ndarray, channel: int) -> bool:
    """The centre of the frame is dominated by one colour channel."""
    h, w = frame.shape[:2]
    mean = frame[h // 4 : h * 3 // 4, w // 4 : w * 3 // 4].reshape(-1, 3).mean(axis=0)
    others = [mean[c] for c in range(3) if c != channel]
    return mean[channel] > 150 and max(others) < 90


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_h264_of_the_asked_size_length_and_frame_count(tmp_path, red, blue, mode):
    images = {
        "text-to-video": [],
        "image-to-video": [red],
        "keyframes": [red, blue],
        "reference": [red, "https://example.com/unreachable.jpg", blue],
    }[mode]
    dest = render(tmp_path, mode=mode, width=320, height=180, seconds=4, images=images)
    info = probe(dest)
    assert info["codec"] == "h264"
    assert info["size"] == (320, 180)
    assert abs(info["seconds"] - 4) <= 1 / 24
    assert abs(info["container_seconds"] - 4) <= 1 / 24
    assert info["frames"] == 4 * 24
    assert len(info["decoded"]) == 4 * 24
    assert info["decoded"][0].shape == (180, 320, 3)


def test_the_index_comes_first_so_browsers_can_play_while_downloading(tmp_path):
    data = render(tmp_path).read_bytes()
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        boxes.append(kind.decode())
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        at += max(size, 8)
    assert boxes.index("moov") < boxes.index("mdat")


def test_different_prompts_give_different_pictures(tmp_path):
    a = probe(render(tmp_path, "a.mp4", prompt="a desert at noon"))["decoded"][0]
    b = probe(render(tmp_path, "b.mp4", prompt="a forest at night, rain"))["decoded"][0]
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 10


def test_the_same_prompt_gives_the_same_picture(tmp_path):
    a = probe(render(tmp_path, "a.mp4", prompt="waves on a beach"))["decoded"][0]
    b = probe(render(tmp_path, "b.mp4", prompt="waves on a beach"))["decoded"][0]
    assert np.array_equal(a, b)


def test_the_picture_moves(tmp_path):
    decoded = probe(render(tmp_path, prompt="motion"))["decoded"]
    assert np.abs(decoded[0].astype(int) - decoded[-1].astype(int)).mean() > 2


def test_every_clip_is_tagged_as_simulated(tmp_path, red):
    for mode, images in (("text-to-video", []), ("image-to-video", [red])):
        frame = probe(render(tmp_path, f"{mode}.mp4", mode=mode, images=images))["decoded"][0]
        corner = frame[:20, :80].reshape(-1, 3).astype(int)
        white = (corner.min(axis=1) > 200).sum()
        tag_red = ((corner[:, 0] > 150) & (corner[:, 1] < 90)).sum()
        assert tag_red > 100 and white > 5, mode  # a red label with white letters


def test_image_to_video_starts_from_the_image(tmp_path, red):
    decoded = probe(render(tmp_path, mode="image-to-video", images=[red], prompt=None))["decoded"]
    assert mostly(decoded[0], 0) and mostly(decoded[-1], 0)


def test_keyframes_go_from_the_first_image_to_the_last(tmp_path, red, blue):
    decoded = probe(render(tmp_path, mode="keyframes", images=[red, blue]))["decoded"]
    assert mostly(decoded[0], 0)
    assert mostly(decoded[-1], 2)


def test_reference_mode_shows_every_reference(tmp_path, red, blue):
    few = probe(render(tmp_path, "few.mp4", mode="reference", images=[red, blue]))["decoded"]
    assert mostly(few[0], 0) and mostly(few[-1], 2)  # a slideshow
    many = [red, blue, red, blue, "https://example.com/x.png"]
    mosaic = probe(render(tmp_path, "many.mp4", mode="reference", images=many))["decoded"][0]
    reds = ((mosaic[..., 0] > 150) & (mosaic[..., 2] < 90)).mean()
    blues = ((mosaic[..., 2] > 150) & (mosaic[..., 0] < 90)).mean()
    assert reds > 0.1 and blues > 0.1  # tiles of both at once


@pytest.mark.parametrize(
    "bad",
    [
        "https://example.com/photos/not-reachable-offline.jpg",
        "asset://abc123",
        Path("/nonexistent/picture.png"),
        "corrupt",
    ],
)
def test_unreadable_inputs_become_a_placeholder_not_an_error(tmp_path, bad):
    if bad == "corrupt":
        bad = tmp_path / "corrupt.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    info = probe(render(tmp_path, mode="image-to-video", images=[bad], prompt=None))
    frame = info["decoded"][0]
    assert info["size"] == (320, 180)
    assert frame[40:140, 40:280].std() > 5  # stripes and text, not a flat frame
    assert not mostly(frame, 0)


def test_placeholder_says_what_is_missing():
    from seedance_nb.simulator._frames import placeholder, shorten

    url = "https://cdn.example.com/a/very/long/path/with/many/parts/to/the/final-picture.jpg?x=1"
    short = shorten(url)
    assert len(short) <= 48 and short.startswith("cdn.example.com") and "final-picture" in short
    assert shorten(Path("/some/dir/pic.png")) == "pic.png"
    card = placeholder(url, 640, 360)
    assert card.shape == (360, 640, 3) and card.dtype == np.uint8


def test_sizes_with_and_without_upscale(tmp_path, red):
    assert output_size("1280x720", None) == (1280, 720)
    assert output_size("720x1280", None) == (720, 1280)
    assert output_size("720x1280", "2k") == (1440, 2560)
    assert output_size("1280x720", "2k") == (2560, 1440)
    assert output_size("1280x720", "4k") == (3840, 2160)
    assert output_size("1280x540", "4k") == (5120, 2160)
    assert output_size("720x720", "2k") == (1440, 1440)
    assert output_size(None, None) == (1280, 720)
    assert output_size(None, None, [red]) == (960, 720)  # the image's 4:3 at 720p
    assert output_size(None, "2k", [red]) == (1920, 1440)
    tall = solid_image(tmp_path / "tall.png", (0, 0, 0), size=(301, 600))
    assert output_size(None, None, [tall]) == (642, 1280)  # 9:16-ish, long side capped, even
    wide = solid_image(tmp_path / "wide.png", (0, 0, 0), size=(2100, 300))
    assert output_size(None, None, [wide]) == (1280, 182)  # long side capped at 1280
    assert output_size(None, None, ["https://example.com/x.jpg"]) == (1280, 720)
    assert output_size(None, None, [Path("/nonexistent.png"), red]) == (960, 720)


def test_large_clips_keep_their_size_and_length_at_a_lower_frame_rate(tmp_path):
    info = probe(render(tmp_path, width=1440, height=1440, seconds=4))
    assert info["size"] == (1440, 1440)
    assert info["frames"] == 4 * 12 and info["fps"] == 12
    assert abs(info["seconds"] - 4) <= 1 / 12


def test_a_render_that_fails_half_way_leaves_no_file(tmp_path, monkeypatch):
    from seedance_nb.simulator import _landscape

    real = _landscape.landscape

    def broken(width, height, count, prompt, **options):
        frames = real(width, height, count, prompt, **options)
        for _ in range(30):
            yield next(frames)
        raise RuntimeError("disk on fire")

    threads = threading.active_count()
    monkeypatch.setattr(_render, "landscape", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        render(tmp_path, "bad.mp4")
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == threads  # the drawing thread is gone too

    previous = tmp_path / "kept.mp4"
    previous.write_bytes(b"an earlier render")
    with pytest.raises(RuntimeError):
        render(tmp_path, "kept.mp4")
    assert previous.read_bytes() == b"an earlier render"  # replaced whole or not at all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.mp4"]


@pytest.mark.parametrize(
    "change",
    [{"width": 321}, {"height": 8}, {"seconds": 0}, {"mode": "video-to-video"}],
)
def test_what_cannot_be_rendered_raises_before_writing_anything(tmp_path, change):
    with pytest.raises(ValueError):
        render(tmp_path, "odd.mp4", **change)
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_failure_leaves_no_file(tmp_path, monkeypatch):
    def broken(path, width, height, fps, frames):
        for n, _ in enumerate(frames):
            if n == 5:
                raise OSError("no space left")
        Path(path).write_bytes(b"half")

    threads = threading.active_count()
    monkeypatch.setattr(_render, "_encode", broken)
    with pytest.raises(OSError, match="no space"):
        render(tmp_path, "x.mp4")
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == threads


def test_the_encoder_is_an_h264_one():
    assert _render.encoder() in ("libx264", "libopenh264", "h264")


def test_cache_key_is_stable_and_sees_what_changes_the_picture(red):
    params = {
        "mode": "image-to-video",
        "width": 320,
        "height": 180,
        "seconds": 4,
        "prompt": "p",
        "images": [red, "https://example.com/x.jpg"],
        "model": "seedance2",
    }
    a = cache_key(**params)
    assert len(a) == 64 and int(a, 16) >= 0
    assert a == cache_key(**dict(reversed(list(params.items()))))
    for change in (
        {"prompt": "q"},
        {"seconds": 5},
        {"width": 640},
        {"model": "seedance2-fast"},
        {"images": [red, "https://example.com/y.jpg"]},
    ):
        assert cache_key(**{**params, **change}) != a, change
    Image.new("RGB", (900, 600), (0, 0, 255)).save(red)
    assert cache_key(**params) != a
