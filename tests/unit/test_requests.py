"""Every rule of the API is checked locally, before anything is sent, naming the field and rule."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.api import check_callback_url, check_model, from_inputs

URL = "https://example.com/a.jpg"
VIDEO_URL = "https://example.com/motion.mp4"
AUDIO_URL = "https://example.com/voice.mp3"


# ---- helpers -----------------------------------------------------------------------------------


def image(tmp_path, w, h, name="img.png") -> Path:
    path = tmp_path / name
    Image.new("RGB", (w, h), (10, 200, 30)).save(path)
    return path


def clip(tmp_path, seconds, name="clip.mp4", codec="libx264") -> Path:
    """A cheap MP4 of `seconds` seconds: one small frame per second."""
    path = tmp_path / name
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(seconds):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def sound(tmp_path, seconds, name="sound.wav") -> Path:
    """A silent mono WAV of `seconds` seconds, written with the stdlib."""
    path = tmp_path / name
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)
    return path


def refused(field, rule, make):
    """`make()` raises a ValidationError for `field` whose message states `rule`."""
    with pytest.raises(sd.ValidationError) as info:
        make()
    error = info.value
    assert isinstance(error, sd.SeedanceError) and isinstance(error, ValueError)
    assert error.field == field
    assert rule in error.rule
    assert str(error) == f"{field}: {error.rule}"
    return error


# ---- prompt ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", [None, "", "   ", " \n\t"])
def test_text_to_video_needs_a_non_blank_prompt(prompt):
    refused("prompt", "is required for text-to-video", lambda: sd.TextToVideo(prompt))


@pytest.mark.parametrize("prompt", [42, 4.2, b"a cat", ["a cat"], {"text": "a cat"}])
def test_prompt_must_be_a_string(prompt):
    refused("prompt", "must be a string", lambda: sd.TextToVideo(prompt))
    refused("prompt", "must be a string", lambda: sd.ImageToVideo(URL, prompt=prompt))


def test_prompt_is_optional_outside_text_to_video():
    assert sd.ImageToVideo(URL).prompt is None
    assert sd.Keyframes(URL, URL, prompt="  ").prompt is None  # blank means none
    assert "prompt" not in sd.MultiReference(images=[URL], prompt="").to_inputs()


# ---- duration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "duration",
    [5.0, 5.5, True, False, None, [5], b"5s", "5.5s", "5", "five", "5 s", "5S", "s", "-5s"],
)
def test_duration_must_be_whole_seconds(duration):
    refused("duration", "whole", lambda: sd.TextToVideo("x", duration=duration))


@pytest.mark.parametrize("duration", [3, 16, 0, -5, 100, "3s", "16s", "0s", "100s"])
def test_duration_must_be_from_4_to_15(duration):
    refused("duration", "from 4 to 15 seconds", lambda: sd.TextToVideo("x", duration=duration))


@pytest.mark.parametrize(
    ("given", "wire"), [(4, "4s"), (5, "5s"), (15, "15s"), ("4s", "4s"), ("15s", "15s")]
)
def test_valid_durations(given, wire):
    assert sd.TextToVideo("x", duration=given).to_inputs()["duration"] == wire


def test_duration_defaults_to_5_seconds_in_every_mode():
    for req in (
        sd.TextToVideo("x"),
        sd.ImageToVideo(URL),
        sd.Keyframes(URL, URL),
        sd.MultiReference(images=[URL]),
    ):
        assert req.duration == 5 and req.to_inputs()["duration"] == "5s"


# ---- resolution and upscale --------------------------------------------------------------------


@pytest.mark.parametrize("resolution", ["1920x1080", "1280X720", "1280*720", "", 720, "720x720 "])
def test_resolution_must_be_one_of_six(resolution):
    refused(
        "resolution", "must be one of 720x720", lambda: sd.TextToVideo("x", resolution=resolution)
    )
    refused(
        "resolution",
        "must be one of",
        lambda: sd.MultiReference(images=[URL], resolution=resolution),
    )


@pytest.mark.parametrize(
    "resolution", ["720x720", "720x960", "960x720", "1280x720", "720x1280", "1280x540"]
)
def test_all_six_resolutions_are_accepted(resolution):
    assert sd.TextToVideo("x", resolution=resolution).to_inputs()["resolution"] == resolution
    assert sd.MultiReference(images=[URL], resolution=resolution).resolution == resolution
    assert resolution in sd.RESOLUTIONS and len(sd.RESOLUTIONS) == 6


def test_resolution_is_required_for_multi_reference():
    refused(
        "resolution",
        "is required",
        lambda: sd.MultiReference(images=[URL], resolution=None),
    )
    assert "resolution" not in sd.ImageToVideo(URL).to_inputs()  # optional elsewhere


@pytest.mark.parametrize("upscale", ["8k", "2K", "1080p", "", 2, 4.0, True])
def test_upscale_must_be_2k_or_4k(upscale):
    refused("upscale", "must be one of 2k, 4k", lambda: sd.TextToVideo("x", upscale=upscale))


@pytest.mark.parametrize("upscale", ["2k", "4k"])
def test_upscale_goes_on_the_wire_as_upscale_resolution(upscale):
    assert sd.ImageToVideo(URL, upscale=upscale).to_inputs()["upscaleResolution"] == upscale


# ---- media references: URLs --------------------------------------------------------------------

BAD_URLS = [
    ("file:///etc/passwd", "not a file: URL"),
    ("FILE:///etc/passwd", "not a file: URL"),
    ("ftp://example.com/a.jpg", "not a ftp: URL"),
    ("javascript:alert(1)", "not a javascript: URL"),
    ("data:image/png;base64,AAAA", "not a data: URL"),
    ("mailto:someone@example.com", "not a mailto: URL"),
    ("cat", "none of these"),
    ("example.com/a.jpg", "none of these"),
    ("//example.com/a.jpg", "none of these"),
    ("http://", "needs a host"),
    ("https://", "needs a host"),
    ("https:example.com/a.jpg", "needs a host"),
    ("http:///a.jpg", "needs a host"),
    ("https://exa mple.com/a.jpg", "must not contain spaces"),
    ("https://example.com/a b.jpg", "must not contain spaces"),
    ("https://example.com/a\tb.jpg", "must not contain spaces"),
    ("https://example.com/a\nb.jpg", "must not contain spaces"),
    ("https://example.com/a\x00.jpg", "control characters"),
    ("asset://", "asset://<id>"),
    ("asset://../../etc/passwd", "asset://<id>"),
    ("asset://a b", "must not contain spaces"),
    ("", "must not be empty"),
    ("   ", "must not be empty"),
]


@pytest.mark.parametrize(("ref", "rule"), BAD_URLS)
def test_only_http_https_and_asset_references(ref, rule):
    refused("image", rule, lambda: sd.ImageToVideo(ref))


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("image", lambda bad: sd.ImageToVideo(bad)),
        ("first", lambda bad: sd.Keyframes(bad, URL)),
        ("last", lambda bad: sd.Keyframes(URL, bad)),
        ("images[1]", lambda bad: sd.MultiReference(images=[URL, bad])),
        ("videos[0]", lambda bad: sd.MultiReference(videos=[bad])),
        ("audios[2]", lambda bad: sd.MultiReference(audios=[AUDIO_URL, AUDIO_URL, bad])),
    ],
)
@pytest.mark.parametrize(("bad", "rule"), [("ftp://x/y.jpg", "not a ftp: URL"), ("cat", "none")])
def test_every_media_field_checks_its_urls(field, make, bad, rule):
    refused(field, rule, lambda: make(bad))


@pytest.mark.parametrize(
    "ref",
    [
        "https://example.com/a.jpg",
        "http://127.0.0.1:8000/x.png",
        "HTTPS://EXAMPLE.COM/A.JPG",
        "https://example.com/a.jpg?sig=abc&x=1#frag",
        "asset://asset-20260326-abc123",
    ],
)
def test_accepted_references(ref):
    assert sd.ImageToVideo(ref).to_inputs()["urls"] == [ref]


@pytest.mark.parametrize("ref", ["http://:80/a.jpg", "https://:443/a.jpg"])
def test_a_url_with_a_port_but_no_host_is_refused(ref):
    refused("image", "needs a host", lambda: sd.ImageToVideo(ref))


@pytest.mark.parametrize(("value", "kind"), [(3, "int"), (b"https://x/y", "bytes"), (None, "")])
def test_media_of_the_wrong_type(value, kind):
    if value is None:
        refused("image", "needs one image", lambda: sd.ImageToVideo(value))
    else:
        refused("image", f"not {kind}", lambda: sd.ImageToVideo(value))


@pytest.mark.parametrize("field", ["images", "videos", "audios"])
@pytest.mark.parametrize("value", [URL, Path("a.png"), 5, {URL}])
def test_reference_lists_must_be_lists(field, value):
    refused(field, "must be a list", lambda: sd.MultiReference(**{field: value}))


# ---- keyframes and reference mode --------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "args", "kwargs"),
    [
        ("first", (), {"last": URL}),
        ("last", (URL,), {}),
        ("last", (), {"first": URL}),
        ("first", (), {}),
    ],
)
def test_keyframes_need_both_frames(missing, args, kwargs):
    refused(missing, "both a first and a last frame", lambda: sd.Keyframes(*args, **kwargs))


def test_reference_mode_needs_at_least_one_reference():
    refused("images", "at least one reference", lambda: sd.MultiReference())
    refused("images", "at least one reference", lambda: sd.MultiReference(images=[], videos=[]))


@pytest.mark.parametrize(
    ("field", "rule", "kwargs"),
    [
        ("images", "at most 9 images; got 10", {"images": [URL] * 10}),
        ("videos", "at most 3 videos; got 4", {"videos": [VIDEO_URL] * 4}),
        ("audios", "at most 3 audios; got 4", {"audios": [AUDIO_URL] * 4}),
        (
            "images",
            "at most 12 reference files in all; got 13",
            {"images": [URL] * 9, "videos": [VIDEO_URL] * 3, "audios": [AUDIO_URL]},
        ),
        (
            "images",
            "at most 12 reference files in all; got 15",
            {"images": [URL] * 9, "videos": [VIDEO_URL] * 3, "audios": [AUDIO_URL] * 3},
        ),
    ],
)
def test_reference_mode_limits(field, rule, kwargs):
    refused(field, rule, lambda: sd.MultiReference(**kwargs))


@pytest.mark.parametrize(
    "counts", [(9, 0, 0), (0, 3, 0), (0, 0, 3), (9, 3, 0), (9, 0, 3), (6, 3, 3), (1, 1, 1)]
)
def test_reference_mode_within_the_limits(counts):
    images, videos, audios = counts
    req = sd.MultiReference(
        images=[URL] * images, videos=[VIDEO_URL] * videos, audios=[AUDIO_URL] * audios
    )
    assert len(req.media()) == sum(counts)


# ---- local files, measured ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("image", lambda p: sd.ImageToVideo(p)),
        ("last", lambda p: sd.Keyframes(URL, p)),
        ("images[0]", lambda p: sd.MultiReference(images=[p])),
        ("videos[0]", lambda p: sd.MultiReference(videos=[p])),
        ("audios[0]", lambda p: sd.MultiReference(audios=[p])),
    ],
)
def test_local_files_must_exist(tmp_path, field, make):
    refused(field, "does not exist", lambda: make(tmp_path / "nope.bin"))
    refused(field, "does not exist", lambda: make(tmp_path))  # a folder is not a file


def test_a_missing_file_given_as_a_string_is_refused(tmp_path):
    refused("image", "none of these", lambda: sd.ImageToVideo(str(tmp_path / "nope.png")))


@pytest.mark.parametrize(("w", "h"), [(400, 400), (400, 2000), (2000, 400), (1280, 720)])
def test_local_images_of_400px_or_more_pass(tmp_path, w, h):
    path = image(tmp_path, w, h)
    assert sd.ImageToVideo(path).image == path
    assert sd.MultiReference(images=[path]).images == (path,)


@pytest.mark.parametrize(("w", "h"), [(399, 800), (800, 399), (399, 399), (64, 64)])
def test_local_images_under_400px_on_the_short_side_fail(tmp_path, w, h):
    path = image(tmp_path, w, h)
    rule = f"at least 400 px on the short side; img.png is {w}x{h}"
    refused("image", rule, lambda: sd.ImageToVideo(path))
    refused("first", rule, lambda: sd.Keyframes(path, URL))
    refused("images[1]", rule, lambda: sd.MultiReference(images=[URL, path]))


@pytest.mark.parametrize("as_string", [False, True])
def test_local_video_and_audio_up_to_15_seconds_pass(tmp_path, as_string):
    video, audio = clip(tmp_path, 15), sound(tmp_path, 2)
    wrap = str if as_string else (lambda p: p)
    req = sd.MultiReference(videos=[wrap(video)], audios=[wrap(audio), wrap(sound(tmp_path, 15))])
    assert req.local_files() == [
        ("videos[0]", "video", video),
        ("audios[0]", "audio", audio),
        ("audios[1]", "audio", tmp_path / "sound.wav"),
    ]


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_local_video_over_15_seconds_fails(tmp_path, codec):
    long = clip(tmp_path, 16, "long.mp4", codec)
    refused(
        "videos[0]",
        "video references must be at most 15 s long; long.mp4 is 16.0 s",
        lambda: sd.MultiReference(videos=[long]),
    )


def test_local_audio_over_15_seconds_fails(tmp_path):
    long = sound(tmp_path, 16, "long.wav")
    refused(
        "audios[1]",
        "audio references must be at most 15 s long; long.wav is 16.0 s",
        lambda: sd.MultiReference(audios=[AUDIO_URL, long]),
    )


@pytest.mark.parametrize(
    ("field", "make", "rule"),
    [
        ("image", lambda p: sd.ImageToVideo(p), "is not a readable image"),
        ("videos[0]", lambda p: sd.MultiReference(videos=[p]), "is not a readable video file"),
        ("audios[0]", lambda p: sd.MultiReference(audios=[p]), "is not a readable audio file"),
    ],
)
@pytest.mark.parametrize("content", [b"", b"not media at all\n", b"\0" * 1000])
def test_a_file_that_is_not_media_is_refused_clearly(tmp_path, field, make, rule, content):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(content)
    error = refused(field, rule, lambda: make(junk))
    assert "junk.bin" in error.rule


def test_media_files_of_the_wrong_kind(tmp_path):
    refused(
        "videos[0]", "has no video stream", lambda: sd.MultiReference(videos=[sound(tmp_path, 2)])
    )
    refused(
        "audios[0]",
        "has no audio stream",
        lambda: sd.MultiReference(audios=[image(tmp_path, 500, 500)]),
    )
    refused("image", "not a readable image", lambda: sd.ImageToVideo(sound(tmp_path, 2)))


def test_a_huge_image_is_a_validation_error_not_a_crash(tmp_path):
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # 400 Mpx, a few bytes
    path = tmp_path / "huge.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    refused("image", "huge.png", lambda: sd.ImageToVideo(path))


@pytest.mark.parametrize(
    ("make", "get"),
    [
        (lambda p: sd.ImageToVideo(p), lambda r: r.image),
        (lambda p: sd.Keyframes(p, p), lambda r: r.last),
        (lambda p: sd.MultiReference(images=[p]), lambda r: r.images[0]),
    ],
)
def test_a_string_path_to_a_local_file_is_a_local_path(tmp_path, make, get):
    path = image(tmp_path, 500, 500)
    req = make(str(path))
    assert isinstance(get(req), Path) and get(req) == path
    assert req.local_files()[0][2] == path


def test_a_relative_string_path_is_a_local_path(tmp_path, monkeypatch):
    image(tmp_path, 500, 500, "cat.png")
    monkeypatch.chdir(tmp_path)
    assert sd.ImageToVideo("cat.png").image == Path("cat.png")


# ---- model and callback ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["seedance3", "Seedance2", "seedance2 ", "", None, 2])
def test_model_must_be_known_to_estimate_credits(model):
    refused(
        "model",
        "must be one of seedance2, seedance2-fast",
        lambda: sd.estimate_credits(sd.TextToVideo("x"), model=model),
    )


@pytest.mark.parametrize("model", ["seedance2", "seedance2-fast"])
def test_known_models(model):
    assert check_model(model) == model
    assert sd.estimate_credits(sd.TextToVideo("x"), model=model) > 0


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/hook", "not a ftp: URL"),
        ("file:///tmp/hook", "not a file: URL"),
        ("javascript:alert(1)", "not a javascript: URL"),
        ("asset://abc", "not an asset reference"),
        ("hook", "http(s)"),
        ("https://", "needs a host"),
        ("https://hooks.example.com/a b", "must not contain spaces"),
        (5, "http(s) URL string"),
        (b"https://hooks.example.com/x", "http(s) URL string"),
    ],
)
def test_callback_url_must_be_http(url, rule):
    refused("callback_url", rule, lambda: check_callback_url(url))


@pytest.mark.parametrize("url", ["https://hooks.example.com/seedance", "http://127.0.0.1:9/x"])
def test_good_callback_urls(url):
    assert check_callback_url(url) == url
    assert check_callback_url(None) is None


@pytest.mark.parametrize(
    ("field", "rule", "call"),
    [
        ("model", "must be one of", lambda c: c.create_task(sd.TextToVideo("x"), model="v3")),
        (
            "callback_url",
            "http(s)",
            lambda c: c.create_task(sd.TextToVideo("x"), callback_url="ftp://x/y"),
        ),
        ("req", "request object", lambda c: c.create_task({"prompt": "x"})),
        ("task_id", "non-empty string", lambda c: c.get_task("  ")),
    ],
)
def test_client_checks_before_sending(field, rule, call):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={"taskId": "t"})

    async def main():
        client = sd.AsyncClient(
            api_key="k", base_url="https://api.test/v1", transport=httpx.MockTransport(handler)
        )
        try:
            with pytest.raises(sd.ValidationError) as info:
                await call(client)
            return info.value
        finally:
            await client.aclose()

    error = asyncio.run(main())
    assert error.field == field and rule in error.rule
    assert calls == []


def test_sync_client_checks_the_model_before_sending():
    calls = []
    client = sd.Client(
        api_key="k",
        base_url="https://api.test/v1",
        transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(500)),
    )
    try:
        refused(
            "model",
            "seedance2, seedance2-fast",
            lambda: client.create_task(sd.TextToVideo("x"), model="x"),
        )
    finally:
        client.close()
    assert calls == []


# ---- the wire form -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("req", "wire"),
    [
        (
            sd.TextToVideo("a cat", duration=6, upscale="2k"),
            {
                "prompt": "a cat",
                "duration": "6s",
                "resolution": "1280x720",
                "upscaleResolution": "2k",
            },
        ),
        (
            sd.TextToVideo("a cat", resolution=None),
            {"prompt": "a cat", "duration": "5s"},
        ),
        (
            sd.ImageToVideo(URL, prompt="smile"),
            {"prompt": "smile", "urls": [URL], "duration": "5s"},
        ),
        (
            sd.ImageToVideo("asset://asset-1", duration="8s", upscale="4k"),
            {"urls": ["asset://asset-1"], "duration": "8s", "upscaleResolution": "4k"},
        ),
        (
            sd.Keyframes(URL, "asset://b", duration=4),
            {"urls": [URL, "asset://b"], "videoInputMode": "keyframe", "duration": "4s"},
        ),
        (
            sd.Keyframes(URL, URL, prompt="day to night", resolution="960x720"),
            {
                "prompt": "day to night",
                "urls": [URL, URL],
                "videoInputMode": "keyframe",
                "duration": "5s",
                "resolution": "960x720",
            },
        ),
        (
            sd.MultiReference(
                images=[URL],
                videos=["asset://v"],
                audios=[AUDIO_URL],
                prompt="walk",
                resolution="720x720",
                upscale="2k",
            ),
            {
                "prompt": "walk",
                "urls": [URL],
                "videoUrls": ["asset://v"],
                "audioUrls": [AUDIO_URL],
                "videoInputMode": "reference",
                "duration": "5s",
                "resolution": "720x720",
                "upscaleResolution": "2k",
            },
        ),
        (
            sd.MultiReference(audios=[AUDIO_URL], duration=15),
            {
                "audioUrls": [AUDIO_URL],
                "videoInputMode": "reference",
                "duration": "15s",
                "resolution": "1280x720",
            },
        ),
    ],
    ids=["t2v", "t2v-bare", "i2v", "i2v-asset", "keyframes", "keyframes-full", "ref", "ref-audio"],
)
def test_wire_inputs_for_each_mode(req, wire):
    inputs = req.to_inputs()
    assert inputs == wire
    assert None not in inputs.values()
    assert all(isinstance(v, str | list) for v in inputs.values())


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda p: sd.ImageToVideo(p), "image"),
        (lambda p: sd.Keyframes(URL, p), "last"),
        (lambda p: sd.MultiReference(images=[URL, p]), "images[1]"),
        (lambda p: sd.MultiReference(images=[URL], videos=[p]), "videos[0]"),
    ],
)
def test_to_inputs_refuses_local_files(tmp_path, make, field):
    path = image(tmp_path, 500, 500) if field != "videos[0]" else clip(tmp_path, 3)
    req = make(path)
    refused(field, "is a local file; upload it first", req.to_inputs)
    assert str(path.resolve()) in str(req.to_inputs(allow_local=True))


def test_with_uploads_replaces_local_paths_with_urls(tmp_path):
    png, mp4, wav = image(tmp_path, 500, 500), clip(tmp_path, 3), sound(tmp_path, 2)
    req = sd.MultiReference(images=[URL, png], videos=[mp4], audios=[wav, AUDIO_URL])
    uploads = []

    def upload(path, kind):
        uploads.append((path, kind))
        return f"asset://up-{kind}"

    done = req.with_uploads(upload)
    assert uploads == [(png, "image"), (mp4, "video"), (wav, "audio")]
    assert done.local_files() == []
    assert done.to_inputs() == {
        "urls": [URL, "asset://up-image"],
        "videoUrls": ["asset://up-video"],
        "audioUrls": ["asset://up-audio", AUDIO_URL],
        "videoInputMode": "reference",
        "duration": "5s",
        "resolution": "1280x720",
    }
    assert req.images[1] == png  # the original is unchanged


def test_with_uploads_for_single_image_modes(tmp_path):
    png = image(tmp_path, 500, 500)
    upload = lambda path, kind: f"https://cdn.test/{path.name}"  # noqa: E731
    assert sd.ImageToVideo(png).with_uploads(upload).to_inputs()["urls"] == [
        "https://cdn.test/img.png"
    ]
    assert sd.Keyframes(URL, png).with_uploads(upload).to_inputs()["urls"] == [
        URL,
        "https://cdn.test/img.png",
    ]


def test_with_uploads_leaves_remote_requests_alone():
    req = sd.Keyframes(URL, URL)
    assert req.with_uploads(lambda p, k: pytest.fail("nothing to upload")) == req


def test_with_uploads_checks_what_the_upload_returns(tmp_path):
    req = sd.ImageToVideo(image(tmp_path, 500, 500))
    refused("image", "not a ftp: URL", lambda: req.with_uploads(lambda p, k: "ftp://x/y"))


def test_requests_are_values():
    assert sd.TextToVideo("a", duration="5s") == sd.TextToVideo("a", duration=5)
    assert hash(sd.MultiReference(images=[URL])) == hash(sd.MultiReference(images=(URL,)))
    with pytest.raises(AttributeError):
        sd.TextToVideo("a").prompt = "b"


# ---- from_inputs: the wire back to a request ---------------------------------------------------

ROUND_TRIPS = [
    sd.TextToVideo("a", duration=9, resolution="720x1280", upscale="4k"),
    sd.TextToVideo("a"),
    sd.ImageToVideo(URL, prompt="b"),
    sd.ImageToVideo("asset://asset-20260326-abc123", duration=15, upscale="2k"),
    sd.Keyframes(URL, URL, prompt="c", upscale="2k"),
    sd.Keyframes("asset://a", "asset://b", resolution="1280x540", duration=4),
    sd.MultiReference(images=[URL] * 2, videos=[VIDEO_URL], resolution="1280x540"),
    sd.MultiReference(audios=[AUDIO_URL] * 3, prompt="d", upscale="4k"),
    sd.MultiReference(images=[URL] * 9, videos=[VIDEO_URL] * 3),
]


@pytest.mark.parametrize("req", ROUND_TRIPS, ids=lambda r: type(r).__name__)
def test_from_inputs_round_trips(req):
    again = from_inputs(req.to_inputs())
    assert type(again) is type(req)
    assert again.to_inputs() == req.to_inputs()
    assert again == req


def test_from_inputs_reads_the_seed_examples():
    assert from_inputs({"prompt": "cat", "duration": "5s"}) == sd.TextToVideo(
        "cat", resolution=None
    )
    assert from_inputs({"urls": [URL]}) == sd.ImageToVideo(URL)
    assert from_inputs({"urls": [URL, URL], "videoInputMode": "keyframe"}) == sd.Keyframes(URL, URL)


@pytest.mark.parametrize(
    ("inputs", "field", "rule"),
    [
        ({"prompt": "x", "upscaleResolution": "3k"}, "inputs.upscaleResolution", "2k, 4k"),
        ({"prompt": "x", "duration": "5.5s"}, "inputs.duration", "whole"),
        ({"prompt": "x", "duration": "16s"}, "inputs.duration", "from 4 to 15"),
        ({"prompt": "x", "resolution": "4k"}, "inputs.resolution", "one of"),
        ({"duration": "5s"}, "inputs.prompt", "required"),
        (
            {
                "urls": [URL] * 3 + ["ftp://x"],
                "videoInputMode": "reference",
                "resolution": "720x720",
            },
            "inputs.urls[3]",
            "not a ftp: URL",
        ),
        (
            {
                "urls": [URL],
                "videoUrls": [VIDEO_URL, "x"],
                "videoInputMode": "reference",
                "resolution": "720x720",
            },
            "inputs.videoUrls[1]",
            "local path cannot be sent",
        ),
        (
            {"videoUrls": [VIDEO_URL], "videoInputMode": "reference"},
            "inputs.resolution",
            "required",
        ),
        ({"videoInputMode": "reference", "resolution": "720x720"}, "inputs.urls", "at least one"),
        (
            {"urls": [URL] * 10, "videoInputMode": "reference", "resolution": "720x720"},
            "inputs.urls",
            "at most 9",
        ),
        ({"urls": ["javascript:alert(1)"]}, "inputs.urls[0]", "not a javascript: URL"),
        ({"urls": [URL, "ftp://x/y"]}, "inputs.urls[1]", "not a ftp: URL"),
        ({"urls": [URL], "videoInputMode": "keyframe"}, "inputs.urls[1]", "both"),
        ({"prompt": "x", "videoInputMode": "keyframe"}, "inputs.urls[0]", "both"),
        ({"prompt": "x", "colour": "red"}, "inputs.colour", "not a parameter"),
        ({"prompt": "x", "callBackUrl": URL}, "inputs.callBackUrl", "not a parameter"),
        ({"prompt": "x", "videoInputMode": "fancy"}, "inputs.videoInputMode", "'fancy'"),
        ({"prompt": "x", "videoUrls": [VIDEO_URL]}, "inputs.videoUrls", "only with"),
        ({"urls": URL}, "inputs.urls", "list of URL strings"),
        ({"urls": [1]}, "inputs.urls", "list of URL strings"),
        ({"urls": [URL] * 3}, "inputs.urls", "at most 2 images"),
        ("a string", "inputs", "JSON object"),
        (None, "inputs", "JSON object"),
    ],
)
def test_from_inputs_errors_name_wire_fields(inputs, field, rule):
    refused(field, rule, lambda: from_inputs(inputs))


@pytest.mark.parametrize("key", ["upscale", "image", "images", "first", "videos"])
def test_from_inputs_names_unknown_keys_as_sent(key):
    refused(f"inputs.{key}", "not a parameter", lambda: from_inputs({"prompt": "x", key: "2k"}))


def test_from_inputs_refuses_local_paths_on_the_wire(tmp_path):
    path = image(tmp_path, 500, 500)
    refused("inputs.urls[0]", "asset://", lambda: from_inputs({"urls": [str(path)]}))
    assert from_inputs({"urls": [str(path)]}, allow_local=True).media() == [
        ("image", "image", path)
    ]
