"""RequestBuilder, headless: quiet until used, a price always in view, files named as the user
named them, picks that can be removed, references to files already on a server, and the same
messages the browser's form sends."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.widgets import RequestBuilder, TaskView
from seedance_nb.widgets._builder import article, safe_name, server_files


@pytest.fixture
def studio(sim, make_studio):
    return make_studio(sim)


def image(path: Path, size: tuple[int, int], colour=(0, 90, 200)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def send(builder: RequestBuilder, content: dict, buffers: list[bytes] | None = None) -> dict:
    """What the form's JavaScript sends (anywidget's command wire format, a file's bytes as a
    buffer); returns the reply."""
    replies = []
    builder.send = lambda content, buffers=None: replies.append(content)
    message = {"id": 1, "kind": "anywidget-command", "name": "_act", "msg": content}
    builder._handle_custom_msg(message, buffers or [])
    del builder.send
    [reply] = replies
    assert reply["kind"] == "anywidget-command-response" and reply["id"] == 1
    return reply["response"]


def pick(builder: RequestBuilder, name: str, path: Path, filename: str | None = None) -> None:
    send(
        builder, {"type": "file", "input": name, "name": filename or path.name}, [path.read_bytes()]
    )


def names(builder: RequestBuilder, name: str) -> list[str]:
    return [p["name"] for p in builder.picks[name]]


def test_opens_quietly_with_a_price_and_keeps_the_last_price_with_the_reason(studio):
    builder = studio.builder()
    assert not builder.valid and builder.message == "" and builder.request is None
    assert builder.hint == "Type a prompt, then press Generate."
    assert builder.price == 200 and builder.price_note  # the defaults, priced before any input
    builder.duration = 6  # a slider moved before any prompt: still no complaint
    assert builder.message == "" and builder.price == 240 and builder.hint
    builder.duration = 5
    builder.prompt = "a red kite over hills"
    assert builder.valid and builder.message == "" and builder.hint == ""
    assert builder.price == 200 and builder.price_note == ""
    assert builder.request == {"model": "seedance2", **builder.build().to_inputs(allow_local=True)}
    builder.duration = 4
    builder.upscale = "2k"
    assert builder.price == 240  # 4 x 40 + 4 x 20
    builder.prompt = "   "
    assert not builder.valid and builder.request is None
    assert builder.message.startswith("cannot send yet: prompt") and builder.field == "prompt"
    assert builder.price == 240 and builder.price_note == "last valid request"
    builder.mode = "reference"  # no media yet: what to add, not a complaint
    assert not builder.valid and builder.message == "" and "an audio file" in builder.hint
    assert builder.price == 240


def test_image_modes_show_a_price_and_the_first_step_before_the_media(studio):
    builder = studio.builder()
    builder.mode = "image-to-video"  # a mode picked before anything else: a step, no red
    assert builder.price == 200 and builder.price_note == "once the media is in"
    assert builder.message == "" and builder.hint == "Add an image, then press Generate."
    builder.upscale = "4k"  # the price follows the settings while the media is pending
    assert builder.price > 200 and builder.price_note == "once the media is in"
    builder.mode = "keyframes"
    assert builder.message == ""
    assert builder.hint == "Add the first frame and the last frame, then press Generate."
    builder.generate()  # pressed anyway: now the fault is named
    assert builder.message.startswith("cannot send yet: first") and builder.field == "first"
    assert article("image") == "an image" and article("audio file") == "an audio file"
    assert article("video") == "a video"


def test_references_can_be_added_and_removed(studio):
    builder = studio.builder()
    builder.prompt = "a journey"
    builder.mode = "reference"
    send(builder, {"type": "ref", "input": "images", "text": "https://example.com/a.jpg"})
    send(builder, {"type": "ref", "input": "images", "text": " ftp://nope "})
    assert names(builder, "images") == ["https://example.com/a.jpg", "ftp://nope"]
    assert "images[1]" in builder.message and builder.field == "images[1]" and not builder.valid
    send(builder, {"type": "remove", "input": "images", "index": 1})
    assert names(builder, "images") == ["https://example.com/a.jpg"] and builder.valid
    assert builder.price == 200 and builder.price_note == ""
    send(builder, {"type": "ref", "input": "images", "text": "https://example.com/a.jpg"})
    assert names(builder, "images") == ["https://example.com/a.jpg"]  # the same one: once
    send(builder, {"type": "ref", "input": "nonsense", "text": "x"})  # an unknown input: ignored
    send(builder, {"type": "remove", "input": "images", "index": 9})  # out of range: ignored
    assert names(builder, "images") == ["https://example.com/a.jpg"]


def test_uploads_keep_the_users_file_name_and_can_be_removed(studio, tmp_path):
    builder = studio.builder()
    builder.mode = "image-to-video"
    small = image(tmp_path / "x.png", (300, 300))
    pick(builder, "image", small, "../my holiday.png")
    assert not builder.valid and "my holiday.png is 300x300" in builder.message
    assert builder.values("image")[0].name == "my holiday.png"  # saved by content, user's name
    [shown] = builder.picks["image"]
    assert shown["name"] == "my holiday.png" and shown["upload"]
    assert shown["thumb"].startswith("data:image/jpeg;base64,/9j/")  # a JPEG thumbnail
    photo = image(tmp_path / "y.png", (640, 480))
    pick(builder, "image", photo, "beach.png")  # one input: a new pick replaces
    assert names(builder, "image") == ["beach.png"] and builder.valid
    job = builder.generate()
    assert job.result(timeout=60).status is sd.TaskStatus.COMPLETED
    send(builder, {"type": "remove", "input": "image", "index": 0})
    assert builder.values("image") == [] and not builder.valid and builder.field == "image"


def test_several_picks_add_up_and_a_bad_file_is_named(studio, tmp_path):
    builder = studio.builder()
    builder.mode = "reference"
    a = image(tmp_path / "a.png", (640, 480))
    b = image(tmp_path / "b.png", (640, 480), (200, 0, 0))
    pick(builder, "images", a)
    pick(builder, "images", b)  # the browser sends each file on its own
    pick(builder, "images", a)  # the same file again: once
    assert names(builder, "images") == ["a.png", "b.png"]
    builder.remove("images", 0)
    assert [p.name for p in builder.values("images")] == ["b.png"]
    (tmp_path / "n.png").write_bytes(b"\x00not a png")
    pick(builder, "images", tmp_path / "n.png", "\u202enot\x00.png")
    assert builder.picks["images"][1]["thumb"] == "" and not builder.valid
    assert "images[1]" in builder.message


def test_a_file_already_on_the_server_can_be_chosen(studio, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "media").mkdir()
    image(tmp_path / "media" / "fractal.png", (960, 720))
    (tmp_path / ".hidden").mkdir()
    image(tmp_path / ".hidden" / "secret.png", (960, 720))
    assert server_files("image") == ["media/fractal.png"]
    builder = RequestBuilder(studio)
    builder.mode = "image-to-video"
    assert builder.options["files"]["image"] == ["media/fractal.png"]
    builder.add_ref("image", "media/fractal.png")
    assert builder.valid, builder.message
    assert Path(builder.build().image).name == "fractal.png"
    builder.add_ref("image", "asset://img_0042")  # one input: replaces the path
    assert names(builder, "image") == ["asset://img_0042"]
    assert builder.build().image == "asset://img_0042"


def test_safe_names():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\photo.png") == "photo.png"
    assert safe_name("a\x00b.png") == "ab.png" and safe_name("...") == "upload"


def test_failures_show_under_the_builder(studio, monkeypatch):
    builder = studio.builder()
    builder.prompt = "a lantern"

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(studio, "submit", broken)
    reply = send(builder, {"type": "generate"})
    assert reply == {"ok": False, "message": "not sent: RuntimeError: disk full"}
    assert builder.message == "not sent: RuntimeError: disk full" and not builder.valid
    assert builder.price == 200 and builder.jobs == []


def test_the_budget_is_respected(studio):
    studio.ledger.set_budget("default", 100)
    builder = RequestBuilder(studio)
    builder.prompt = "too expensive"
    assert not builder.valid and builder.message == "over budget: 200 credits needed, 100 left"
    assert builder.left == 100 and builder.field == "budget"


def test_generate_again_reuses_and_new_take_asks_for_another_sample(studio):
    builder = studio.builder()
    builder.prompt = "a cat in the snow"
    builder.duration = 4
    assert builder.valid and builder.takes == 0
    assert send(builder, {"type": "generate"}) == {"ok": True, "message": ""}
    [first] = builder.jobs
    assert builder.notice == f"#{first.id} sent: ~160 credits (estimate)"
    send(builder, {"type": "generate"})  # Generate with the same settings: the same job
    assert builder.jobs == [first] and first.take == 1 and len(builder.cards) == 1
    assert builder.takes == 1 and builder.cards[0].reused == 1  # its card says so
    assert builder.notice == f"#{first.id} again: reused, nothing spent"
    assert isinstance(builder.cards[0], TaskView) and builder.cards[0].job is first
    send(builder, {"type": "new-take"})
    second = builder.jobs[-1]
    assert second is not first and second.take == 2 and builder.takes == 2
    third = builder.new_take()
    assert third.take == 3 and builder.takes == 3 and len(builder.cards) == 3
    builder.prompt = "a dog in the snow"  # another request starts its own count
    assert builder.takes == 0
    studio.wait([first, second, third], timeout=60)
    assert len({j.id for j in (first, second, third)}) == 3


def test_the_cards_travel_as_widget_references(studio):
    builder = studio.builder()
    builder.prompt = "a lighthouse"
    job = builder.generate()
    state = builder.get_state()
    assert state["cards"] == [f"IPY_MODEL_{builder.cards[0].model_id}"]
    assert "export default" in state["_card_esm"] and ".sd-task" in state["_card_css"]
    assert builder.cards[0].job is job


def test_a_job_alone_displays_as_its_live_card_in_marimo(studio):
    """marimo's display protocol (`_display_`) gives the job's card, a fresh widget each time
    (marimo closes a cell's widgets when the cell re-runs)."""
    job = studio.submit(sd.TextToVideo("a kite at dusk", duration=4))
    card = job._display_()
    assert isinstance(card, TaskView) and card.job is job and card.prompt == "a kite at dusk"
    assert job._display_() is not card


def test_an_edit_reads_the_budget_once_and_a_pick_decodes_only_its_own_file(
    studio, tmp_path, monkeypatch
):
    import seedance_nb.widgets._builder as builder_module

    builder = studio.builder()
    reads, decoded, hashed = [], [], []
    remaining, thumbnail = studio.ledger.remaining, builder_module.thumbnail
    sha256 = builder_module.hashlib.sha256
    monkeypatch.setattr(studio.ledger, "remaining", lambda *a: reads.append(a) or remaining(*a))
    monkeypatch.setattr(builder_module, "thumbnail", lambda d: decoded.append(d) or thumbnail(d))
    counted = SimpleNamespace(sha256=lambda d: hashed.append(d) or sha256(d))
    monkeypatch.setattr(builder_module, "hashlib", counted)  # the builder's hashing only
    builder.mode = "reference"
    builder.prompt = "three kites"
    reads.clear()
    for i in range(3):
        pick(builder, "images", image(tmp_path / f"{i}.png", (640, 480), (40 * i, 90, 200)))
    assert names(builder, "images") == ["0.png", "1.png", "2.png"] and builder.valid
    assert all(p["thumb"].startswith("data:image/jpeg") for p in builder.picks["images"])
    assert len(decoded) == 3  # each file once, not every file on every pick
    assert len(hashed) == 3  # and each saved (hashed) once
    assert len(reads) == 3  # one budget read per pick
    builder.prompt = "three kites at dusk"
    assert len(reads) == 4 and len(decoded) == 3 and len(hashed) == 3
    assert builder.valid and builder.request["prompt"] == "three kites at dusk"
