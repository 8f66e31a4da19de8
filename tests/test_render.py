"""The simulator's renderer: real H.264 of the asked size and length, useful to look at."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from seedance_nb.simulator._render import cache_key, output_size, render_video


def frames(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = (
            stream.codec_context.name,
            stream.width,
            stream.height,
            float(stream.duration * stream.time_base),
        )
        return info, [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture
def red(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (800, 600), (220, 20, 20)).save(path)
    return path


@pytest.mark.parametrize("mode", ["text-to-video", "image-to-video", "keyframes", "reference"])
def test_every_mode_gives_h264_of_the_asked_size_and_length(tmp_path, red, mode):
    images = {
        "text-to-video": [],
        "image-to-video": [red],
        "keyframes": [red, red],
        "reference": [red, "https://example.com/unreachable.jpg", red],
    }[mode]
    dest = render_video(
        tmp_path / "out.mp4",
        mode=mode,
        width=640,
        height=360,
        seconds=4,
        prompt="a test",
        images=images,
        fps=12,
    )
    (codec, width, height, seconds), decoded = frames(dest)
    assert (codec, width, height) == ("h264", 640, 360)
    assert abs(seconds - 4) < 1 / 12 and len(decoded) == 48


def test_different_prompts_give_different_pictures(tmp_path):
    def first(prompt):
        dest = render_video(
            tmp_path / f"{len(prompt)}.mp4",
            mode="text-to-video",
            width=320,
            height=240,
            seconds=4,
            prompt=prompt,
            images=[],
            fps=6,
        )
        return frames(dest)[1][0].astype(int)

    assert np.abs(first("a desert at noon") - first("a forest at night, rain")).mean() > 10


def test_the_picture_moves(tmp_path):
    dest = render_video(
        tmp_path / "m.mp4",
        mode="text-to-video",
        width=320,
        height=240,
        seconds=4,
        prompt="motion",
        images=[],
        fps=6,
    )
    decoded = frames(dest)[1]
    assert np.abs(decoded[0].astype(int) - decoded[-1].astype(int)).mean() > 2


def test_image_to_video_starts_from_the_image(tmp_path, red):
    dest = render_video(
        tmp_path / "i.mp4",
        mode="image-to-video",
        width=320,
        height=240,
        seconds=4,
        prompt=None,
        images=[red],
        fps=6,
    )
    middle = frames(dest)[1][0][60:180, 60:260].reshape(-1, 3).mean(axis=0)
    assert middle[0] > 180 and middle[1] < 60 and middle[2] < 60


def test_unreachable_inputs_become_a_placeholder_not_an_error(tmp_path):
    dest = render_video(
        tmp_path / "p.mp4",
        mode="image-to-video",
        width=320,
        height=240,
        seconds=4,
        prompt=None,
        images=["https://example.com/x.jpg"],
        fps=6,
    )
    picture = frames(dest)[1][0]
    assert picture[60:180].std() > 5  # stripes and text, not a flat frame


def test_sizes_with_and_without_upscale(red):
    assert output_size("1280x720", None) == (1280, 720)
    assert output_size("720x1280", "2k") == (1440, 2560)
    assert output_size("1280x720", "4k") == (3840, 2160)
    assert output_size(None, None, [red]) == (960, 720)  # the image's 4:3 at 720p
    assert output_size(None, None, ["https://example.com/x.jpg"]) == (1280, 720)


def test_a_render_that_fails_half_way_leaves_no_file(tmp_path, monkeypatch):
    from seedance_nb.simulator import _render

    def broken(width, height, count, prompt):
        yield from (np.zeros((height, width, 3), np.uint8) for _ in range(3))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_render, "_landscape", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        render_video(
            tmp_path / "bad.mp4",
            mode="text-to-video",
            width=320,
            height=240,
            seconds=4,
            prompt="x",
            images=[],
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        render_video(
            tmp_path / "odd.mp4",
            mode="text-to-video",
            width=641,
            height=360,
            seconds=4,
            prompt="odd",
            images=[],
        )


def test_cache_key_is_stable_and_sees_file_changes(red):
    a = cache_key(mode="image-to-video", images=[red], seconds=4)
    assert a == cache_key(mode="image-to-video", images=[red], seconds=4)
    Image.new("RGB", (900, 600), (0, 0, 255)).save(red)
    assert a != cache_key(mode="image-to-video", images=[red], seconds=4)
