"""The credit formula exactly as the API publishes it.

base = seconds x 40 (seedance2) or x 32 (seedance2-fast); reference mode with a video reference
doubles the base; 2k adds seconds x 20, 4k adds seconds x 40.
"""

from __future__ import annotations

import pytest

import seedance_nb as sd

URL = "https://example.com/a.jpg"
VIDEO_URL = "https://example.com/motion.mp4"
AUDIO_URL = "https://example.com/voice.mp3"


# The seed's table, row by row: Configuration | seedance2 (5s) | seedance2-fast (5s)
SEED_TABLE = [
    ("base", sd.TextToVideo("x", duration=5), 200, 160),
    ("+2k upscale", sd.TextToVideo("x", duration=5, upscale="2k"), 300, 260),
    ("+4k upscale", sd.TextToVideo("x", duration=5, upscale="4k"), 400, 360),
    ("reference + video", sd.MultiReference(images=[URL], videos=[VIDEO_URL]), 400, 320),
]


@pytest.mark.parametrize(("row", "req", "pro", "fast"), SEED_TABLE, ids=[r[0] for r in SEED_TABLE])
def test_the_seed_table_for_5_seconds(row, req, pro, fast):
    assert sd.estimate_credits(req) == pro  # seedance2 is the default model
    assert sd.estimate_credits(req, model="seedance2") == pro
    assert sd.estimate_credits(req, model="seedance2-fast") == fast


@pytest.mark.parametrize(
    "req",
    [
        sd.TextToVideo("x"),
        sd.ImageToVideo(URL),
        sd.Keyframes(URL, URL),
        sd.MultiReference(images=[URL]),
    ],
    ids=lambda r: type(r).__name__,
)
def test_the_mode_does_not_change_the_base(req):
    assert sd.estimate_credits(req) == 200
    assert sd.estimate_credits(req, model="seedance2-fast") == 160


@pytest.mark.parametrize(
    ("seconds", "upscale", "pro", "fast"),
    [
        (4, None, 160, 128),
        (4, "2k", 160 + 80, 128 + 80),
        (4, "4k", 160 + 160, 128 + 160),
        (15, None, 600, 480),
        (15, "2k", 600 + 300, 480 + 300),
        (15, "4k", 600 + 600, 480 + 600),
    ],
)
def test_4_and_15_seconds(seconds, upscale, pro, fast):
    req = sd.ImageToVideo(URL, duration=seconds, upscale=upscale)
    assert sd.estimate_credits(req, model="seedance2") == pro
    assert sd.estimate_credits(req, model="seedance2-fast") == fast
    assert sd.estimate_credits(sd.TextToVideo("x", duration=f"{seconds}s", upscale=upscale)) == pro


@pytest.mark.parametrize("seconds", range(4, 16))
def test_every_length_is_linear(seconds):
    assert sd.estimate_credits(sd.TextToVideo("x", duration=seconds)) == seconds * 40
    assert sd.estimate_credits(sd.TextToVideo("x", duration=seconds), model="seedance2-fast") == (
        seconds * 32
    )


@pytest.mark.parametrize(
    "refs",
    [
        {"images": [URL]},
        {"audios": [AUDIO_URL]},
        {"images": [URL] * 9, "audios": [AUDIO_URL] * 3},
    ],
)
def test_reference_without_a_video_is_not_doubled(refs):
    req = sd.MultiReference(**refs, duration=10)
    assert sd.estimate_credits(req) == 400
    assert sd.estimate_credits(req, model="seedance2-fast") == 320


@pytest.mark.parametrize("videos", [1, 2, 3])
def test_reference_with_videos_doubles_once(videos):
    req = sd.MultiReference(videos=[VIDEO_URL] * videos, duration=10)
    assert sd.estimate_credits(req) == 10 * 40 * 2  # however many videos


@pytest.mark.parametrize(
    ("model", "upscale", "credits"),
    [
        ("seedance2", "4k", 10 * 40 * 2 + 10 * 40),
        ("seedance2", "2k", 10 * 40 * 2 + 10 * 20),
        ("seedance2-fast", "4k", 10 * 32 * 2 + 10 * 40),
        ("seedance2-fast", "2k", 10 * 32 * 2 + 10 * 20),
    ],
)
def test_reference_with_video_and_upscale_doubles_only_the_base(model, upscale, credits):
    req = sd.MultiReference(images=[URL], videos=[VIDEO_URL], duration=10, upscale=upscale)
    assert sd.estimate_credits(req, model=model) == credits


def test_upscale_does_not_depend_on_the_model():
    req = sd.Keyframes(URL, URL, duration=8, upscale="2k")
    assert (
        sd.estimate_credits(req) - 8 * 40
        == sd.estimate_credits(req, model="seedance2-fast") - 8 * 32
        == 8 * 20
    )


def test_the_estimate_is_an_int():
    assert type(sd.estimate_credits(sd.TextToVideo("x", duration="7s", upscale="4k"))) is int


def test_an_unknown_model_has_no_price():
    with pytest.raises(sd.ValidationError) as info:
        sd.estimate_credits(sd.TextToVideo("x"), model="seedance1")
    assert info.value.field == "model" and "seedance2, seedance2-fast" in str(info.value)
