"""The credit formula exactly as the API publishes it."""

from __future__ import annotations

import pytest

import seedance_nb as sd

URL = "https://example.com/a.jpg"


@pytest.mark.parametrize(
    ("upscale", "pro", "fast"), [(None, 200, 160), ("2k", 300, 260), ("4k", 400, 360)]
)
def test_the_seed_table_for_5_seconds(upscale, pro, fast):
    req = sd.TextToVideo("x", duration=5, upscale=upscale)
    assert sd.estimate_credits(req) == pro
    assert sd.estimate_credits(req, model="seedance2-fast") == fast


def test_reference_with_a_video_doubles_the_base():
    req = sd.MultiReference(images=[URL], videos=[URL])
    assert sd.estimate_credits(req) == 400
    assert sd.estimate_credits(req, model="seedance2-fast") == 320


def test_reference_without_a_video_is_not_doubled():
    assert sd.estimate_credits(sd.MultiReference(images=[URL], audios=[URL])) == 200


def test_reference_with_video_and_4k():
    req = sd.MultiReference(videos=[URL], duration=10, upscale="4k")
    assert sd.estimate_credits(req) == 10 * 40 * 2 + 10 * 40


@pytest.mark.parametrize(
    ("seconds", "model", "credits"),
    [
        (4, "seedance2", 160),
        (15, "seedance2", 600),
        (4, "seedance2-fast", 128),
        (15, "seedance2-fast", 480),
    ],
)
def test_length_scales_linearly(seconds, model, credits):
    req = sd.ImageToVideo(URL, duration=seconds)
    assert sd.estimate_credits(req, model=model) == credits


def test_upscale_does_not_depend_on_the_model():
    req = sd.Keyframes(URL, URL, duration=8, upscale="2k")
    assert (
        sd.estimate_credits(req) - 8 * 40
        == sd.estimate_credits(req, model="seedance2-fast") - 8 * 32
        == 8 * 20
    )
