"""Hypothesis on every request constructor and on `from_inputs`: whatever goes in, the answer is
a valid request or `sd.ValidationError` naming a field and a rule, never another exception; and
every valid request survives the wire and back unchanged, with a price."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seedance_nb as sd
from seedance_nb.api import from_inputs
from seedance_nb.api._requests import MAX_AUDIOS, MAX_IMAGES, MAX_VIDEOS, RESOLUTIONS, UPSCALES

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples in every run: CI is repeatable
    suppress_health_check=[HealthCheck.too_slow],
)
CONSTRUCTORS = [sd.TextToVideo, sd.ImageToVideo, sd.Keyframes, sd.MultiReference]
FIELDS = {
    "prompt",
    "duration",
    "resolution",
    "upscale",
    "image",
    "first",
    "last",
    "images",
    "videos",
    "audios",
}
WIRE = {"prompt", "urls", "videoUrls", "audioUrls", "duration", "resolution", "videoInputMode"}
WIRE |= {"upscaleResolution"}

# ---- anything at all ----------------------------------------------------------------------------
plausible = st.sampled_from(
    [
        "5s",
        "15s",
        "3s",
        "5",
        "720p",
        "1280x720",
        "4k",
        "https://example.com/a.png",
        "asset://abc",
        "asset://",
        "http://[::1",
        "~nobody/x.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "C:\\\\x.png",
        "",
        " ",
        "a" * 5000,
        "x\x00y",
        "reference",
        "keyframe",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.binary(max_size=20),
    plausible,
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=14),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)

# ---- valid values ----------------------------------------------------------------------------
urls = st.one_of(
    st.builds(
        "https://cdn.example.com/{}.{}".format,
        st.text(string.ascii_letters + string.digits, min_size=1, max_size=12),
        st.sampled_from(["png", "jpg", "mp4", "wav"]),
    ),
    st.builds("asset://{}".format, st.text(string.ascii_lowercase + string.digits, min_size=1)),
)
# any text but NUL, which no ledger backend can store and validation refuses (tested apart)
prompts = st.text(
    alphabet=st.characters(blacklist_characters="\x00"), min_size=1, max_size=200
).filter(lambda p: p.strip())
common = {
    "duration": st.one_of(st.integers(4, 15), st.integers(4, 15).map("{}s".format)),
    "upscale": st.sampled_from([None, *UPSCALES]),
}


def refused_cleanly(error: sd.ValidationError) -> None:
    """A ValidationError names a real field (Python or wire name, or the unknown key sent)."""
    head = error.field.removeprefix("inputs.").split("[", 1)[0]
    assert head in FIELDS | WIRE | {"inputs"} or "not a parameter" in error.rule, error.field
    assert isinstance(error.rule, str) and error.rule.strip(), error


def build(make: Any, *args: Any, **kwargs: Any) -> sd.Request | None:
    try:
        return make(*args, **kwargs)
    except sd.ValidationError as error:
        refused_cleanly(error)
        return None


@FUZZ
@given(
    make=st.sampled_from(CONSTRUCTORS),
    args=st.lists(anything, max_size=3),
    kwargs=st.dictionaries(st.sampled_from(sorted(FIELDS)), anything, max_size=5),
)
def test_any_input_gives_a_request_or_a_validation_error(make, args, kwargs):
    fields = {f for f in FIELDS if f in make.__dataclass_fields__}
    kwargs = {k: v for k, v in kwargs.items() if k in fields}  # unknown names are a TypeError
    positional = [f.name for f in dataclasses.fields(make) if not f.kw_only]
    args = args[: len(positional)]
    kwargs = {k: v for k, v in kwargs.items() if k not in positional[: len(args)]}
    req = build(make, *args, **kwargs)
    if req is not None:  # whatever was accepted is a request the API takes
        assert from_inputs(req.to_inputs(allow_local=True), allow_local=True) == req


@FUZZ
@given(field=st.sampled_from(["prompt", "duration", "resolution", "upscale"]), value=anything)
def test_one_bad_field_in_a_valid_request_names_that_field(field, value):
    base = {"prompt": "a fox", "duration": 5, "resolution": "1280x720", "upscale": None}
    base[field] = value
    try:
        sd.TextToVideo(**base)
    except sd.ValidationError as error:
        refused_cleanly(error)
        assert error.field == field


@FUZZ
@given(
    inputs=st.one_of(
        anything,
        st.dictionaries(st.sampled_from(sorted(WIRE)), anything),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.none()), anything),
    )
)
def test_from_inputs_gives_a_request_or_a_validation_error(inputs):
    try:
        req = from_inputs(inputs)
    except sd.ValidationError as error:
        refused_cleanly(error)
        assert error.field == "inputs" or error.field.startswith("inputs.")
        return
    assert not req.local_files()  # the wire never names a file on this machine


valid = st.one_of(
    st.builds(
        sd.TextToVideo,
        prompts,
        resolution=st.sampled_from([None, *RESOLUTIONS]),
        **common,
    ),
    st.builds(sd.ImageToVideo, urls, prompt=st.one_of(st.none(), prompts), **common),
    st.builds(sd.Keyframes, urls, urls, prompt=st.one_of(st.none(), prompts), **common),
    st.builds(
        sd.MultiReference,
        images=st.lists(urls, min_size=1, max_size=MAX_IMAGES - MAX_VIDEOS),  # 12 in all
        videos=st.lists(urls, max_size=MAX_VIDEOS),
        audios=st.lists(urls, max_size=MAX_AUDIOS),
        resolution=st.sampled_from(RESOLUTIONS),
        prompt=st.one_of(st.none(), prompts),
        **common,
    ),
)


@FUZZ
@given(req=valid, model=st.sampled_from(["seedance2", "seedance2-fast"]))
def test_every_valid_request_round_trips_the_wire_and_has_a_price(req, model):
    inputs = req.to_inputs()
    assert all(v is not None for v in inputs.values())
    assert from_inputs(inputs) == req
    credits = sd.estimate_credits(req, model=model)
    assert isinstance(credits, int) and credits > 0


@FUZZ
@given(
    where=st.sampled_from(["image", "first", "last", "images", "videos", "audios"]),
    value=st.one_of(plausible, st.text(max_size=300), anything),
)
def test_any_media_reference_gives_a_request_or_a_validation_error(where, value):
    url = "https://cdn.example.com/a.png"
    make = {
        "image": lambda: sd.ImageToVideo(value),
        "first": lambda: sd.Keyframes(value, url),
        "last": lambda: sd.Keyframes(url, value),
        "images": lambda: sd.MultiReference(images=[value]),
        "videos": lambda: sd.MultiReference(images=[url], videos=[value]),
        "audios": lambda: sd.MultiReference(images=[url], audios=[value]),
    }[where]
    try:
        make()
    except sd.ValidationError as error:
        refused_cleanly(error)
        assert error.field.split("[", 1)[0] == where
