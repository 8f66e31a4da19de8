"""Every rule of the API is checked locally, before anything is sent, naming the field."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.api import from_inputs

URL = "https://example.com/a.jpg"


def image(tmp_path, w, h, name="img.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", (w, h), (10, 200, 30)).save(path)
    return path


def clip(tmp_path, seconds, name="clip.mp4") -> Path:
    """A cheap MP4 of `seconds` seconds: one small frame per second."""
    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(seconds):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def sound(tmp_path, seconds, name="sound.wav") -> Path:
    path = tmp_path / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)
    return path


def refused(field, rule, make):
    with pytest.raises(sd.ValidationError) as info:
        make()
    assert info.value.field == field
    assert rule in str(info.value)
    assert str(info.value).startswith(f"{field}: ")
    return info.value


# ---- prompt, duration, resolution, upscale --------------------------------------------------


@pytest.mark.parametrize("prompt", [None, "", "   \n"])
def test_text_to_video_needs_a_prompt(prompt):
    refused("prompt", "required", lambda: sd.TextToVideo(prompt))


def test_prompt_must_be_a_string():
    refused("prompt", "string", lambda: sd.TextToVideo(42))
    refused("prompt", "string", lambda: sd.ImageToVideo(URL, prompt=["a"]))


@pytest.mark.parametrize("duration", [5.0, 5.5, True, False, "5.5s", "5", "five", "5 s", None, [5]])
def test_duration_must_be_whole_seconds(duration):
    refused("duration", "", lambda: sd.TextToVideo("x", duration=duration))


@pytest.mark.parametrize("duration", [3, 16, 0, -5, "3s", "16s", "100s"])
def test_duration_must_be_from_4_to_15(duration):
    refused("duration", "from 4 to 15", lambda: sd.TextToVideo("x", duration=duration))


@pytest.mark.parametrize(("given", "wire"), [(4, "4s"), (15, "15s"), ("7s", "7s"), (" 9s ", "9s")])
def test_valid_durations(given, wire):
    assert sd.TextToVideo("x", duration=given).to_inputs()["duration"] == wire


@pytest.mark.parametrize("resolution", ["1920x1080", "1280X720", "", 720, "720x720 "])
def test_resolution_must_be_one_of_six(resolution):
    refused("resolution", "one of", lambda: sd.TextToVideo("x", resolution=resolution))


def test_all_six_resolutions_are_accepted():
    for resolution in sd.RESOLUTIONS:
        assert sd.TextToVideo("x", resolution=resolution).resolution == resolution
    assert len(sd.RESOLUTIONS) == 6


@pytest.mark.parametrize("upscale", ["8k", "2K", "", 2])
def test_upscale_must_be_2k_or_4k(upscale):
    refused("upscale", "2k, 4k", lambda: sd.TextToVideo("x", upscale=upscale))


# ---- media references --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "rule"),
    [
        ("file:///etc/passwd", "not a file: URL"),
        ("ftp://example.com/a.jpg", "not a ftp: URL"),
        ("javascript:alert(1)", "not a javascript: URL"),
        ("data:image/png;base64,AAAA", "not a data: URL"),
        ("hello", "none of these"),
        ("http://", "needs a host"),
        ("https://exa mple.com/a.jpg", "spaces"),
        ("asset://", "asset://<id>"),
        ("", "empty"),
    ],
)
def test_only_http_https_and_asset_references(ref, rule):
    refused("image", rule, lambda: sd.ImageToVideo(ref))


def test_media_of_the_wrong_type():
    refused("image", "not int", lambda: sd.ImageToVideo(3))
    refused("image", "needs one image", lambda: sd.ImageToVideo())
    refused("images", "list", lambda: sd.MultiReference(images=URL))


def test_accepted_references():
    for ref in (
        "https://example.com/a.jpg",
        "http://127.0.0.1:8000/x.png",
        "asset://asset-20260326-abc123",
    ):
        assert sd.ImageToVideo(ref).to_inputs()["urls"] == [ref]


@pytest.mark.parametrize(
    ("missing", "kwargs"), [("first", {"last": URL}), ("last", {"first": URL})]
)
def test_keyframes_need_both_frames(missing, kwargs):
    refused(missing, "both a first and a last frame", lambda: sd.Keyframes(**kwargs))


def test_reference_mode_limits():
    refused("images", "at least one", lambda: sd.MultiReference())
    refused("images", "at most 9", lambda: sd.MultiReference(images=[URL] * 10))
    refused("videos", "at most 3", lambda: sd.MultiReference(videos=[URL] * 4))
    refused("audios", "at most 3", lambda: sd.MultiReference(audios=[URL] * 4))
    refused(
        "images",
        "at most 12",
        lambda: sd.MultiReference(images=[URL] * 9, videos=[URL] * 3, audios=[URL]),
    )
    refused("resolution", "required", lambda: sd.MultiReference(images=[URL], resolution=None))
    refused("images[1]", "not a ftp: URL", lambda: sd.MultiReference(images=[URL, "ftp://x/y"]))
    assert len(sd.MultiReference(images=[URL] * 9, videos=[URL] * 3).media()) == 12


# ---- local files, measured ---------------------------------------------------------------------


def test_local_files_must_exist(tmp_path):
    refused("image", "does not exist", lambda: sd.ImageToVideo(tmp_path / "nope.png"))


def test_local_images_at_least_400px_on_the_short_side(tmp_path):
    assert sd.ImageToVideo(image(tmp_path, 400, 400)).image == tmp_path / "img.png"
    refused("image", "at least 400 px", lambda: sd.ImageToVideo(image(tmp_path, 399, 800)))
    refused("first", "399x800", lambda: sd.Keyframes(image(tmp_path, 399, 800), URL))
    refused(
        "images[0]",
        "at least 400 px",
        lambda: sd.MultiReference(images=[image(tmp_path, 800, 300)]),
    )


def test_a_string_path_to_a_local_file_is_a_local_file(tmp_path):
    path = image(tmp_path, 500, 500)
    assert sd.ImageToVideo(str(path)).image == path


def test_a_file_that_is_not_an_image_is_refused_clearly(tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    refused("image", "not a readable image", lambda: sd.ImageToVideo(junk))


def test_local_video_and_audio_at_most_15_seconds(tmp_path):
    ok = sd.MultiReference(videos=[clip(tmp_path, 3)], audios=[sound(tmp_path, 2)])
    assert len(ok.local_files()) == 2
    refused(
        "videos[0]",
        "at most 15 s",
        lambda: sd.MultiReference(videos=[clip(tmp_path, 16, "long.mp4")]),
    )
    refused(
        "audios[0]",
        "at most 15 s",
        lambda: sd.MultiReference(audios=[sound(tmp_path, 16, "long.wav")]),
    )


def test_media_files_of_the_wrong_kind(tmp_path):
    junk = tmp_path / "x.mp4"
    junk.write_bytes(b"\0" * 100)
    refused("videos[0]", "not a readable video", lambda: sd.MultiReference(videos=[junk]))
    refused("videos[0]", "no video stream", lambda: sd.MultiReference(videos=[sound(tmp_path, 2)]))


# ---- model and callback ------------------------------------------------------------------------


def test_model_must_be_known():
    refused(
        "model",
        "seedance2, seedance2-fast",
        lambda: sd.estimate_credits(sd.TextToVideo("x"), model="seedance3"),
    )


@pytest.mark.parametrize("url", ["ftp://x/hook", "asset://abc", "hook", 5])
def test_callback_url_must_be_http(url):
    from seedance_nb.api import check_callback_url

    with pytest.raises(sd.ValidationError) as info:
        check_callback_url(url)
    assert info.value.field == "callback_url"


def test_client_checks_model_and_callback_before_sending():
    client = sd.Client(api_key="k", base_url="http://127.0.0.1:9/api/v1")  # nothing listens
    try:
        refused("model", "one of", lambda: client.create_task(sd.TextToVideo("x"), model="v3"))
        refused(
            "callback_url",
            "http(s)",
            lambda: client.create_task(sd.TextToVideo("x"), callback_url="ftp://x/y"),
        )
        refused("req", "request object", lambda: client.create_task({"prompt": "x"}))
    finally:
        client.close()


# ---- the wire form -----------------------------------------------------------------------------


def test_wire_inputs_for_each_mode():
    assert sd.TextToVideo("a cat", duration=6, upscale="2k").to_inputs() == {
        "prompt": "a cat",
        "duration": "6s",
        "resolution": "1280x720",
        "upscaleResolution": "2k",
    }
    assert sd.ImageToVideo(URL, prompt="smile").to_inputs() == {
        "prompt": "smile",
        "urls": [URL],
        "duration": "5s",
    }
    assert sd.Keyframes(URL, "asset://b", duration=4).to_inputs() == {
        "urls": [URL, "asset://b"],
        "videoInputMode": "keyframe",
        "duration": "4s",
    }
    assert sd.MultiReference(
        images=[URL],
        videos=["asset://v"],
        audios=["https://a/s.mp3"],
        prompt="walk",
        resolution="720x720",
    ).to_inputs() == {
        "prompt": "walk",
        "urls": [URL],
        "videoUrls": ["asset://v"],
        "audioUrls": ["https://a/s.mp3"],
        "videoInputMode": "reference",
        "duration": "5s",
        "resolution": "720x720",
    }


def test_local_files_must_be_uploaded_before_the_wire(tmp_path):
    path = image(tmp_path, 500, 500)
    req = sd.MultiReference(images=[URL, path])
    refused("images[1]", "upload it first", req.to_inputs)
    assert req.to_inputs(allow_local=True)["urls"] == [URL, str(path.resolve())]
    uploaded = req.with_uploads(lambda p, kind: f"asset://up-{kind}")
    assert uploaded.to_inputs()["urls"] == [URL, "asset://up-image"]
    assert req.images[1] == path  # the original is unchanged


@pytest.mark.parametrize(
    "req",
    [
        sd.TextToVideo("a", duration=9, resolution="720x1280", upscale="4k"),
        sd.ImageToVideo(URL, prompt="b"),
        sd.Keyframes(URL, URL, prompt="c", upscale="2k"),
        sd.MultiReference(images=[URL] * 2, videos=[URL], resolution="1280x540"),
    ],
)
def test_from_inputs_round_trips(req):
    again = from_inputs(req.to_inputs())
    assert type(again) is type(req) and again.to_inputs() == req.to_inputs()


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"prompt": "x", "upscaleResolution": "3k"}, "inputs.upscaleResolution"),
        (
            {
                "urls": [URL] * 3 + ["ftp://x"],
                "videoInputMode": "reference",
                "resolution": "720x720",
            },
            "inputs.urls[3]",
        ),
        ({"prompt": "x", "colour": "red"}, "inputs.colour"),
        ({"prompt": "x", "videoInputMode": "fancy"}, "inputs.videoInputMode"),
        ({"prompt": "x", "videoUrls": [URL]}, "inputs.videoUrls"),
        ({"urls": [URL] * 3}, "inputs.urls"),
        ("a string", "inputs"),
    ],
)
def test_from_inputs_names_wire_fields(inputs, field):
    with pytest.raises(sd.ValidationError) as info:
        from_inputs(inputs)
    assert info.value.field == field


def test_requests_are_values():
    assert sd.TextToVideo("a", duration="5s") == sd.TextToVideo("a", duration=5)
    with pytest.raises(AttributeError):
        sd.TextToVideo("a").prompt = "b"
