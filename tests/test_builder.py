"""RequestBuilder, headless: quiet until used, a price always in view, files named as the user
named them, picks that can be removed, and references to files already on a server."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.widgets import RequestBuilder
from seedance_nb.widgets._builder import safe_name, server_files

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


@pytest.fixture
def studio(sim, make_studio):
    return make_studio(sim)


def picked(path: Path, name: str | None = None) -> dict:
    """What a browser's file picker puts in FileUpload.value for one file."""
    data = path.read_bytes()
    return {
        "name": name or path.name,
        "type": "image/png",
        "size": len(data),
        "content": memoryview(data),
        "last_modified": NOW,
    }


def image(path: Path, size: tuple[int, int], colour=(0, 90, 200)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def test_opens_quietly_with_a_price_and_keeps_the_last_price_with_the_reason(studio):
    builder = studio.builder()
    assert builder.generate.disabled
    assert "sd-invalid" not in builder.message.value and "Type a prompt" in builder.message.value
    assert "200 credits" in builder.estimate.value  # the defaults, priced before any input
    builder.prompt.value = "a red kite over hills"
    assert not builder.generate.disabled and builder.message.value == ""
    assert "200 credits" in builder.estimate.value and "last valid" not in builder.estimate.value
    builder.duration.value = 4
    builder.upscale.value = "2k"
    assert "240 credits" in builder.estimate.value  # 4 x 40 + 4 x 20
    builder.prompt.value = "   "
    assert builder.generate.disabled
    assert (
        "cannot send yet: prompt" in builder.message.value and "sd-invalid" in builder.message.value
    )
    assert (
        "240 credits" in builder.estimate.value and "last valid request" in builder.estimate.value
    )
    builder.mode.value = "reference"
    assert builder.generate.disabled and "at least one" in builder.message.value
    assert "240 credits" in builder.estimate.value


def test_references_can_be_added_and_removed(studio):
    builder = studio.builder()
    builder.prompt.value = "a journey"
    builder.mode.value = "reference"
    images = builder.media["images"]
    images.ref.value = "https://example.com/a.jpg"
    images.ref.value = "ftp://nope"
    assert images.ref.value == ""  # taken into the list
    assert images.refs == ["https://example.com/a.jpg", "ftp://nope"]
    assert "images[1]" in builder.message.value and builder.generate.disabled
    names = [row.children[-1].value for row in images.picked.children]
    assert names == ["https://example.com/a.jpg", "ftp://nope"]
    images.picked.children[1].children[0].click()  # the row's remove button
    assert images.refs == ["https://example.com/a.jpg"] and not builder.generate.disabled
    assert "200 credits" in builder.estimate.value and "last valid" not in builder.estimate.value
    images.ref.value = "https://example.com/a.jpg"  # the same reference twice: listed once
    assert images.refs == ["https://example.com/a.jpg"]


def test_uploads_keep_the_users_file_name_and_can_be_removed(studio, tmp_path):
    builder = studio.builder()
    builder.mode.value = "image-to-video"
    pick = builder.media["image"]
    assert pick.upload.description == "Image"  # the picker reads "Image (0)", "Image (1)"
    small = image(tmp_path / "x.png", (300, 300))
    pick.upload.value = (picked(small, "my holiday.png"),)
    assert builder.generate.disabled
    assert "my holiday.png is 300x300" in builder.message.value
    assert pick.values()[0].name == "my holiday.png"  # saved by content, named by the user
    rows = pick.picked.children
    assert len(rows) == 1 and rows[0].children[-1].value == "my holiday.png"
    assert rows[0].children[1].value[:3] == b"\xff\xd8\xff"  # a JPEG thumbnail
    photo = image(tmp_path / "y.png", (640, 480))
    pick.upload.value = (picked(photo, "beach.png"),)  # one input: a new pick replaces
    assert len(pick.files) == 1 and len(pick.upload.value) == 1 and not builder.generate.disabled
    job = builder._on_generate()
    assert job.result(timeout=60).status is sd.TaskStatus.COMPLETED
    pick.picked.children[0].children[0].click()
    assert pick.values() == [] and pick.upload.value == () and builder.generate.disabled
    assert "image" in builder.message.value


def test_several_picks_add_up_and_the_count_follows(studio, tmp_path):
    builder = studio.builder()
    builder.mode.value = "reference"
    images = builder.media["images"]
    a = image(tmp_path / "a.png", (640, 480))
    b = image(tmp_path / "b.png", (640, 480), (200, 0, 0))
    images.upload.value = (picked(a),)
    images.upload.value = (picked(b),)  # the browser sends each pick on its own
    images.upload.value = (picked(a),)  # the same file again: once
    assert [f["name"] for f in images.files] == ["a.png", "b.png"]
    assert len(images.upload.value) == 2  # so the button reads "Images (2)"
    images.remove(0)
    assert [f["name"] for f in images.files] == ["b.png"] and len(images.upload.value) == 1
    assert [p.name for p in images.values()] == ["b.png"]


def test_a_file_already_on_the_server_can_be_chosen(studio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "media").mkdir()
    image(tmp_path / "media" / "fractal.png", (960, 720))
    (tmp_path / ".hidden").mkdir()
    image(tmp_path / ".hidden" / "secret.png", (960, 720))
    assert server_files("image") == ["media/fractal.png"]
    builder = RequestBuilder(studio)
    builder.mode.value = "image-to-video"
    pick = builder.media["image"]
    assert "media/fractal.png" in pick.ref.options
    pick.ref.value = "media/fractal.png"
    assert not builder.generate.disabled, builder.message.value
    assert Path(builder.request().image).name == "fractal.png"
    pick.ref.value = "asset://img_0042"  # one input: replaces the path
    assert pick.refs == ["asset://img_0042"] and builder.request().image == "asset://img_0042"


def test_safe_names():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\photo.png") == "photo.png"
    assert safe_name("a\x00b.png") == "ab.png" and safe_name("...") == "upload"


def test_failures_show_under_the_builder(studio, monkeypatch):
    builder = studio.builder()
    builder.prompt.value = "a lantern"

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(studio, "submit", broken)
    assert builder._on_generate() is None
    assert "not sent: RuntimeError: disk full" in builder.message.value
    assert "200 credits" in builder.estimate.value


def test_the_budget_is_respected(studio):
    studio.ledger.set_budget("default", 100)
    builder = RequestBuilder(studio)
    builder.prompt.value = "too expensive"
    assert builder.generate.disabled and "over budget" in builder.message.value
    assert "100 left" in builder.estimate.value


def test_generate_again_reuses_and_new_take_asks_for_another_sample(studio):
    builder = studio.builder()
    builder.prompt.value = "a cat in the snow"
    builder.duration.value = 4
    assert builder.new_take.disabled is False and builder.takes.value == ""
    first = builder._on_generate()
    again = builder._on_generate()  # Generate with the same settings: the same job
    assert again is first and first.take == 1
    second = builder._on_new_take()
    assert second is not first and second.take == 2 and "2 takes" in builder.takes.value
    third = builder._on_new_take()
    assert third.take == 3 and "3 takes" in builder.takes.value
    builder.prompt.value = "a dog in the snow"  # another request starts its own count
    assert builder.takes.value == ""
    studio.wait([first, second, third], timeout=60)
    assert len({j.id for j in (first, second, third)}) == 3
