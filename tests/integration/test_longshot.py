"""Long shots on the simulator: chains from the last frame, seams measured before the next
payment, re-runs that pay nothing, and one stitched MP4."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import seedance_nb as sd
from seedance_nb.longshot._frames import last_frame, save_png
from seedance_nb.longshot._seams import measure, ssim
from seedance_nb.longshot._stitch import stitch
from seedance_nb.runtime._download import verify_video
from seedance_nb.simulator._render import render_video

CREATE = "requests POST /api/v1/jobs/createTask"
FOX = "a red fox runs through a snowy forest at dusk"


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ [0.2126, 0.7152, 0.0722]


def created(sim) -> int:
    return sim.stats()["counters"].get(CREATE, 0)


# ---- the simulator's image modes start (and end) on their images -------------------------------
def test_image_to_video_starts_on_the_image_and_keyframes_end_on_the_last(tmp_path):
    a = render_video(
        tmp_path / "a.mp4",
        mode="text-to-video",
        width=640,
        height=360,
        seconds=1,
        prompt=FOX,
        images=[],
        seed=1,
    )
    decoded = frames(a)
    start, end = (save_png(f, tmp_path, n) for f, n in ((decoded[0], "s"), (decoded[-1], "e")))
    for seed in range(3):  # every take, whichever way its camera moves
        b = render_video(
            tmp_path / f"b{seed}.mp4",
            mode="image-to-video",
            width=640,
            height=360,
            seconds=1,
            prompt="it keeps running",
            images=[end],
            seed=seed,
        )
        assert ssim(luma(decoded[-1]), luma(frames(b)[0])) >= 0.9
    k = render_video(
        tmp_path / "k.mp4",
        mode="keyframes",
        width=640,
        height=360,
        seconds=1,
        prompt="from dusk to dusk",
        images=[start, end],
        seed=3,
    )
    both = frames(k)
    assert ssim(luma(decoded[0]), luma(both[0])) >= 0.9
    assert ssim(luma(decoded[-1]), luma(both[-1])) >= 0.9
    assert ssim(luma(decoded[0]), luma(both[-1])) < 0.9  # it did move on to the last image


def test_ssim_is_one_for_the_same_picture_and_low_for_noise():
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 255, (64, 80)).astype(np.float64)
    assert ssim(picture, picture) == pytest.approx(1.0)
    assert ssim(picture, rng.integers(0, 255, (64, 80)).astype(np.float64)) < 0.1
    with pytest.raises(ValueError):
        ssim(picture, picture[:10])


# ---- chains ------------------------------------------------------------------------------------
def test_a_three_shot_chain_stitches_to_the_shots_length_less_a_frame_a_seam(
    start_sim, make_studio
):
    sim = start_sim()
    studio = make_studio(sim)
    shots = [(FOX, 4), ("the fox keeps running, camera follows", 5), ("it stops by a river", 4)]
    seq = studio.sequence(shots, name="three", confirm=True)
    assert seq.state == "done", seq.reason
    assert created(sim) == 3
    assert [j.request.mode for j in seq.jobs.values()] == [
        "text-to-video",
        "image-to-video",
        "image-to-video",
    ]
    assert list(seq.seams.index) == [2, 3]
    assert (seq.seams["ssim"] > 0.85).all() and set(seq.seams["verdict"]) <= {"smooth", "visible"}
    rows = studio.ledger.rows(label=[seq.label(n) for n in (1, 2, 3)])
    assert sorted(r["label"] for r in rows) == ["seq:three#1", "seq:three#2", "seq:three#3"]

    out = seq.stitch()
    assert seq.stitch_method == "remux"
    fps = 24
    expected = (4 + 5 + 4) * fps - 2  # one repeated frame dropped at each of the two seams
    assert abs(len(frames(out)) - expected) <= 2
    assert verify_video(out) == pytest.approx(expected / fps, abs=2 / fps)

    again = studio.sequence(shots, name="three", confirm=True)  # the cell run again
    assert again.state == "done" and created(sim) == 3  # nothing paid twice
    assert [j.id for j in again.jobs.values()] == [j.id for j in seq.jobs.values()]


def test_a_text_to_video_in_the_middle_is_broken_and_nothing_is_sent_after_it(
    start_sim, make_studio
):
    sim = start_sim()
    studio = make_studio(sim)
    shots = [
        (FOX, 4),
        ("the fox keeps running", 4),
        sd.TextToVideo("a busy city street at noon, rain", duration=4),  # not from the frame
        ("the street empties", 4),
    ]
    seq = studio.sequence(shots, name="jump", stop_on="broken", confirm=True)
    assert seq.state == "paused" and "shot 3" in seq.reason
    assert seq.seams.loc[3, "verdict"] == "broken"
    assert seq.seams.loc[2, "verdict"] != "broken"
    assert created(sim) == 3 and 4 not in seq.jobs  # the fourth was never sent
    spent = seq.spent
    seq.run()  # still broken: it pauses again and spends nothing
    assert seq.state == "paused" and created(sim) == 3 and seq.spent == spent


def test_a_retake_is_a_new_take_and_the_chain_goes_on_from_it(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    shots = [(FOX, 4), ("the fox keeps running", 4), ("into the night", 4)]
    seq = studio.sequence(shots, name="retake", confirm=True)
    first_take = seq.jobs[2]
    seq.retake(2)
    assert seq.state == "done" and created(sim) == 5  # shot 2 again, and 3 from its new end
    assert seq.jobs[2].id != first_take.id and seq.jobs[2].take == 2
    assert seq.spent == sum(r["credits_used"] for r in studio.ledger.rows())  # both takes count
    again = studio.sequence(shots, name="retake", confirm=True)  # a later kernel
    assert created(sim) == 5 and again.jobs[2].id == seq.jobs[2].id


def test_the_chain_budget_is_checked_before_anything_is_sent(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    seq = studio.sequence([(FOX, 4), ("more", 4)], name="poor", budget=200)
    assert seq.total == 320 and seq.state == "planned" and created(sim) == 0
    with pytest.raises(sd.BudgetExceededError):
        seq.run()
    assert created(sim) == 0


def test_a_tail_reference_shows_its_doubled_price_in_the_plan(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    seq = studio.sequence([(FOX, 4), ("more", 4)], name="tail", tail_reference=2.0)
    plan = seq.plan
    assert list(plan["mode"]) == ["text-to-video", "reference"]
    assert list(plan["credits"]) == [160, 320] and seq.total == 480
    assert "doubled" in plan.loc[2, "from"]


def test_shot_lists_are_checked_before_anything_is_planned(start_sim, make_studio):
    studio = make_studio(start_sim())
    with pytest.raises(sd.ValidationError, match="shots"):
        studio.sequence([])
    with pytest.raises(sd.ValidationError, match=r"shots\[1\]"):
        studio.sequence(["ok", 42])
    with pytest.raises(sd.ValidationError, match="stop_on"):
        studio.sequence(["ok"], stop_on="sometimes")
    with pytest.raises(sd.ValidationError, match="name"):
        studio.sequence(["ok"], name="\x00" * 3)


# ---- seams and stitching on their own ------------------------------------------------------------
@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    a = render_video(
        d / "a.mp4",
        mode="text-to-video",
        width=640,
        height=360,
        seconds=2,
        prompt=FOX,
        images=[],
        seed=1,
    )
    frame = save_png(last_frame(a), d, "a")
    b = render_video(
        d / "b.mp4",
        mode="image-to-video",
        width=640,
        height=360,
        seconds=2,
        prompt="on",
        images=[frame],
        seed=5,
    )
    c = render_video(
        d / "c.mp4",
        mode="text-to-video",
        width=480,
        height=480,
        seconds=2,
        prompt="a city at night",
        images=[],
        seed=2,
    )
    return {"a": a, "b": b, "c": c}


def test_a_jump_cut_is_broken_and_a_chained_cut_is_not(clips):
    from seedance_nb.longshot._seams import first_colour

    start = first_colour(clips["a"])
    assert measure(clips["a"], clips["b"], start, 2).verdict != "broken"
    square = measure(clips["b"], clips["c"], start, 3)  # another size altogether
    assert square.verdict == "broken"


def test_stitching_mismatched_streams_re_encodes_and_still_decodes(clips, tmp_path):
    out, how = stitch([clips["a"], clips["b"], clips["c"]], tmp_path / "mixed.mp4")
    assert how == "re-encode"
    decoded = frames(out)
    assert len(decoded) == 3 * 48 - 2
    assert decoded[-1].shape == (360, 640, 3)  # the first clip's size throughout
    assert verify_video(out) == pytest.approx((3 * 48 - 2) / 24, abs=1 / 24)


def test_a_crossfade_blends_at_the_seam_and_decodes(clips, tmp_path):
    out, how = stitch([clips["a"], clips["b"]], tmp_path / "fade.mp4", crossfade=0.25)
    assert how == "splice"  # one keyframe a clip: the whole join is the stretch re-encoded
    assert len(frames(out)) == 2 * 48 - 1 - 6  # six frames of each side overlap
    verify_video(out)
    out, how = stitch([clips["a"], clips["c"]], tmp_path / "mixed.mp4", crossfade=0.25)
    assert how == "re-encode" and len(frames(out)) == 2 * 48 - 1 - 6


def test_a_crossfade_re_encodes_only_around_the_seam(tmp_path):
    """Clips long enough for a second keyframe keep their packets away from the join."""
    a = render_video(
        tmp_path / "a.mp4",
        mode="text-to-video",
        width=320,
        height=180,
        seconds=12,
        prompt=FOX,
        images=[],
        seed=1,
    )
    frame = save_png(last_frame(a), tmp_path, "a")
    b = render_video(
        tmp_path / "b.mp4",
        mode="image-to-video",
        width=320,
        height=180,
        seconds=12,
        prompt="on",
        images=[frame],
        seed=2,
    )
    out, how = stitch([a, b], tmp_path / "fade.mp4", crossfade=0.25)
    assert how == "splice"
    joined, first, second = frames(out), frames(a), frames(b)
    assert len(joined) == 2 * 288 - 1 - 6
    assert all(np.array_equal(joined[i], first[i]) for i in (0, 100, 249))  # copied as they were
    assert all(np.array_equal(joined[-i], second[-i]) for i in (1, 20, 38))
    assert not np.array_equal(joined[281], first[281])  # inside the fade: blended
    assert verify_video(out) == pytest.approx((2 * 288 - 7) / 24, abs=1 / 24)


def test_nothing_to_stitch_says_so(tmp_path):
    with pytest.raises(ValueError, match="nothing to stitch"):
        stitch([], tmp_path / "none.mp4")


def test_clips_with_reordered_frames_are_re_encoded_not_cut_mid_reference(clips, tmp_path):
    """A stream with B-frames cannot lose a packet safely, however alike the clips are."""
    reordered = []
    for name in ("a", "b"):
        dest = tmp_path / f"{name}-bframes.mp4"
        with av.open(str(clips[name])) as src, av.open(str(dest), "w") as out:
            stream = out.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
            stream.options = {"preset": "medium", "bf": "3"}
            for frame in src.decode(video=0):
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
        reordered.append(dest)
    out, how = stitch(reordered, tmp_path / "joined.mp4")
    assert how == "re-encode"
    assert len(frames(out)) == 2 * 48 - 1
    verify_video(out)


def test_odd_names_are_kept_in_the_ledger_and_made_safe_on_disk(start_sim, make_studio):
    studio = make_studio(start_sim())
    rtl = "\u202eevil\u202c.." + "x" * 80  # an RTL override, dots, as long as a label allows
    seq = studio.sequence([(FOX, 4)], name=rtl, confirm=True)
    assert seq.state == "done", seq.reason
    assert studio.ledger.rows()[0]["label"] == f"seq:{rtl}#1"  # the name as given
    folder = seq.folder.resolve()
    assert folder.parent == (studio.outputs / "sequences").resolve()  # never climbs out
    assert ".." not in folder.name and "\u202e" not in folder.name
    for bad in ("y" * 300, "a/b", "nul\x00here", "   "):
        with pytest.raises(sd.ValidationError, match="name"):
            studio.sequence([(FOX, 4)], name=bad)
    assert created_nothing_more(studio, 1)


def created_nothing_more(studio, rows: int) -> bool:
    return len(studio.ledger.rows()) == rows


def test_a_shot_that_fails_stops_the_chain_and_nothing_more_is_sent(start_sim, make_studio):
    sim = start_sim(fail_rate=1.0)
    studio = make_studio(sim)
    seq = studio.sequence([(FOX, 4), ("on", 4)], name="fails", confirm=True)
    assert seq.state == "failed" and "failed" in seq.reason
    assert created(sim) == 1 and 2 not in seq.jobs  # nothing sent after the failure


def test_a_tail_reference_chain_pays_double_once_and_its_rerun_nothing(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    shots = [(FOX, 4), ("it keeps running", 4)]
    seq = studio.sequence(shots, name="tail-run", tail_reference=2.0, confirm=True)
    assert seq.state == "done", seq.reason
    second = seq.jobs[2]
    assert second.request.mode == "reference" and second.credits_used == 320  # doubled
    assert len(second.request.videos) == 1 and Path(second.request.videos[0]).exists()
    again = studio.sequence(shots, name="tail-run", tail_reference=2.0, confirm=True)
    assert created(sim) == 2 and again.jobs[2].id == second.id  # the tail hashed the same


def test_colour_match_moves_the_frame_to_the_reference_statistics_and_repeats():
    from seedance_nb.longshot._frames import colour_match, colour_stats

    rng = np.random.default_rng(3)
    frame = rng.integers(60, 200, (90, 160, 3)).astype(np.uint8)
    reference = np.clip(frame.astype(int) * 0.7 + [40, 0, 10], 0, 255).astype(np.uint8)
    matched = colour_match(frame, reference)
    (mean, std), (ref_mean, ref_std) = colour_stats(matched), colour_stats(reference)
    assert np.allclose(mean, ref_mean, atol=1.0) and np.allclose(std, ref_std, atol=1.5)
    assert np.array_equal(matched, colour_match(frame, reference))  # the same bytes every time
    assert np.array_equal(colour_match(frame, reference, strength=0.0), frame)


def test_a_colour_matched_chain_is_reused_on_a_rerun(start_sim, make_studio):
    sim = start_sim()
    studio = make_studio(sim)
    shots = [(FOX, 4), ("on", 4), ("further", 4)]
    seq = studio.sequence(shots, name="matched", colour_match=True, confirm=True)
    assert seq.state == "done" and created(sim) == 3
    studio.sequence(shots, name="matched", colour_match=True, confirm=True)
    assert created(sim) == 3


def test_a_shot_with_an_end_image_is_sent_as_keyframes_and_ends_on_it(
    start_sim, make_studio, tmp_path
):
    sim = start_sim()
    studio = make_studio(sim)
    end = tmp_path / "end.png"
    Image.effect_mandelbrot((1280, 720), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(end)
    shots = [(FOX, 4), {"prompt": "towards the spiral", "duration": 4, "end_image": end}]
    seq = studio.sequence(shots, name="keys", confirm=True)
    assert seq.state == "done", seq.reason
    assert seq.plan.loc[2, "mode"] == "keyframes" and seq.jobs[2].request.mode == "keyframes"
    target = luma(np.asarray(Image.open(end).convert("RGB")))
    assert ssim(target, luma(last_frame(seq.jobs[2].local_path))) >= 0.9


def _with_sound(video: Path, dest: Path, freq: float) -> Path:
    """The clip's video packets with a 2 s AAC tone beside them."""
    from fractions import Fraction

    with av.open(str(video)) as src, av.open(str(dest), "w") as out:
        picture = out.add_stream_from_template(src.streams.video[0])
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "mono"
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = picture
                out.mux(packet)
        tone = (0.3 * np.sin(2 * np.pi * freq * np.arange(96000) / 48000)).astype(np.float32)
        for i in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[None, i : i + 1024], format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts, frame.time_base = 48000, i, Fraction(1, 48000)
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return dest


def test_remuxing_carries_the_clips_sound_along(clips, tmp_path):
    parts = [_with_sound(clips["a"], tmp_path / f"s{i}.mp4", 440 * (i + 1)) for i in range(3)]
    out, how = stitch(parts, tmp_path / "joined.mp4")
    assert how == "remux"
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        heard = sum(f.samples for f in container.decode(audio=0)) / 48000
    seen = verify_video(out)
    assert seen == pytest.approx((3 * 48 - 2) / 24, abs=1 / 24)
    assert heard == pytest.approx(seen, abs=0.05)  # the dropped frames' sound went with them


def test_sound_on_some_clips_only_is_left_out_and_the_video_still_joins(clips, tmp_path):
    parts = [_with_sound(clips["a"], tmp_path / "s.mp4", 440), clips["a"]]
    out, how = stitch(parts, tmp_path / "joined.mp4")
    assert how == "remux"
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video"]
    assert verify_video(out) == pytest.approx((2 * 48 - 1) / 24, abs=1 / 24)
