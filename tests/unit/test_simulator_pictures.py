"""The simulator's videos show the prompt: one changed word (a colour, the time of day, the
subject, the weather) changes the picture by a measured margin, each take is its own video,
and one (prompt, seed) always renders the same clip."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter

from seedance_nb.simulator._render import render_video
from seedance_nb.simulator._scene import scene_of

W, H = 320, 180
SCENE_ROWS = slice(20, 150)  # below the SIMULATED tag, above the caption band


def frames(tmp_path: Path, prompt: str, seed: int = 4, **options: object) -> list[np.ndarray]:
    """Every frame of a 1 s clip, as int RGB arrays."""
    name = f"{abs(hash((prompt, seed, repr(options))))}.mp4"
    params: dict = {"mode": "text-to-video", "images": [], **options}
    dest = render_video(
        tmp_path / name, width=W, height=H, seconds=1, prompt=prompt, seed=seed, **params
    )
    with av.open(str(dest)) as container:
        return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]


def middle(tmp_path: Path, prompt: str, seed: int = 4) -> np.ndarray:
    return frames(tmp_path, prompt, seed)[12]


def changed(a: np.ndarray, b: np.ndarray, threshold: int = 150) -> np.ndarray:
    """Where two frames differ strongly (sum of the RGB differences), outside the tag and the
    caption (which differ whenever the prompts do)."""
    mask = np.abs(a - b).sum(axis=2) > threshold
    mask[: SCENE_ROWS.start] = mask[SCENE_ROWS.stop :] = False
    return mask


# ---- one word changes the picture -------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_a_colour_word_colours_the_subject(tmp_path, seed):
    red = middle(tmp_path, "a red kite over green hills at noon", seed)
    blue = middle(tmp_path, "a blue kite over green hills at noon", seed)
    where = changed(red, blue)
    assert where.mean() > 0.005  # the kite: about 1% of the frame, the rest is the same
    r, g, b = np.median(red[where], axis=0)
    assert r - b > 80 and r - g > 80, (r, g, b)
    r, g, b = np.median(blue[where], axis=0)
    assert b - r > 80 and b - g > 60, (r, g, b)
    assert changed(red, blue, 30).mean() < 0.1  # nothing else changed


def test_the_time_of_day_changes_sky_and_light(tmp_path):
    sky = np.s_[20:80]
    looks = {
        time: middle(tmp_path, f"a red kite over green hills at {time}")
        for time in ("dawn", "noon", "dusk", "night")
    }
    means = {time: frame[sky].reshape(-1, 3).mean(axis=0) for time, frame in looks.items()}
    for a, b in (("dawn", "dusk"), ("dawn", "noon"), ("noon", "dusk"), ("dusk", "night")):
        assert np.abs(means[a] - means[b]).sum() > 60, (a, b, means[a], means[b])
    assert means["noon"][2] > means["noon"][0] + 60  # a blue midday sky
    assert means["dusk"][0] > means["dusk"][2]  # a red-orange evening
    brightness = {time: frame[SCENE_ROWS].mean() for time, frame in looks.items()}
    assert brightness["night"] < 0.5 * brightness["noon"]


def test_the_subject_word_changes_what_is_drawn_and_where(tmp_path):
    empty = middle(tmp_path, "green hills at noon")
    rows = np.arange(H)[:, None] * np.ones((1, W))
    where = {}
    for subject in ("dog", "kite", "car", "bird"):
        mask = changed(middle(tmp_path, f"a red {subject} over green hills at noon"), empty)
        assert mask.mean() > 0.003, subject  # it is there, and big enough to see
        where[subject] = float(np.median(rows[mask])) / H
    assert where["dog"] > 0.6 and where["car"] > 0.6  # on the ground
    assert where["kite"] < 0.45 and where["bird"] < 0.45  # in the sky
    dog = changed(middle(tmp_path, "a red dog over green hills at noon"), empty)
    car = changed(middle(tmp_path, "a red car over green hills at noon"), empty)
    overlap = (dog & car).sum() / (dog | car).sum()
    assert overlap < 0.6  # two shapes, not one in two colours


def specks(frame: np.ndarray) -> float:
    """The share of sky pixels clearly brighter than their surroundings: streaks and flakes,
    which a smooth sky with soft clouds does not have."""
    luma = Image.fromarray(frame.mean(axis=2).astype(np.uint8))
    blurred = np.asarray(luma.filter(ImageFilter.BoxBlur(3)), int)
    sky = np.s_[SCENE_ROWS.start : 70, :]
    return float(((np.asarray(luma, int) - blurred)[sky] > 20).mean())


@pytest.mark.parametrize("weather", ["rain", "snow"])
def test_rain_and_snow_fall(tmp_path, weather):
    clear = frames(tmp_path, "green hills at noon", seed=1)
    wet = frames(tmp_path, f"green hills at noon in the {weather}", seed=1)
    assert max(specks(f) for f in clear[::6]) < 0.003
    assert min(specks(f) for f in wet[::6]) > 0.008  # a quarter of a second apart, all through
    # and they fall: the specks are somewhere else half a second later
    assert changed(wet[2], wet[14], 40)[SCENE_ROWS.start : 70].mean() > 0.01


def test_fog_lowers_the_contrast(tmp_path):
    clear = middle(tmp_path, "green hills at noon")[SCENE_ROWS]
    foggy = middle(tmp_path, "green hills in thick fog at noon")[SCENE_ROWS]
    assert foggy.std() < 0.8 * clear.std()


def test_the_prompts_of_the_ab_notebook_look_different(tmp_path):
    a = middle(tmp_path, "a red kite over green hills at dawn", seed=10)
    b = middle(tmp_path, "a blue kite over green hills at dusk", seed=11)
    assert np.abs(a[SCENE_ROWS] - b[SCENE_ROWS]).mean() > 30


def test_a_golden_retriever_is_a_golden_dog_on_a_beach():
    scene = scene_of("A golden retriever running on the beach at sunset", seed=1)
    (dog,) = scene.subjects
    assert (dog.kind, dog.motion, dog.named) == ("dog", "run", True)
    assert dog.colour[0] > dog.colour[2] + 100  # golden
    assert scene.water and scene.shore and scene.time == "dusk"


@pytest.mark.parametrize(
    ("prompt", "expect"),
    [
        ("a red kite over green hills at dawn", {"kite": (214, 38, 38)}),
        ("a person flying a yellow kite", {"person": None, "kite": (246, 212, 36)}),
        ("two white birds", {"bird": (242, 242, 242)}),
        ("a cat", {"cat": None}),
    ],
)
def test_colours_bind_to_the_next_subject(prompt, expect):
    scene = scene_of(prompt, seed=3)
    assert {s.kind for s in scene.subjects} == set(expect)
    for subject in scene.subjects:
        if expect[subject.kind] is not None:
            assert subject.colour == expect[subject.kind]
    if "birds" in prompt:
        assert scene.subjects[0].count == 2
    if "person" in prompt:  # the kite flies, the person holding it stays on the ground
        motions = {s.kind: s.motion for s in scene.subjects}
        assert motions == {"person": "walk", "kite": "fly"}


# ---- takes ------------------------------------------------------------------------------------


def test_two_takes_of_one_prompt_differ_and_one_take_repeats(tmp_path):
    prompt = "a red kite over green hills at dawn"
    one, again = middle(tmp_path, prompt, seed=1), middle(tmp_path, prompt, seed=1)
    other = middle(tmp_path, prompt, seed=2)
    assert np.array_equal(one, again)
    assert np.abs(one - other)[SCENE_ROWS].mean() > 5


def test_two_takes_of_an_image_move_differently(tmp_path):
    photo = tmp_path / "photo.png"
    Image.effect_mandelbrot((800, 600), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(photo)
    clips = [
        frames(tmp_path, "the spiral", seed, mode="image-to-video", images=[photo])
        for seed in (1, 2, 1)
    ]
    assert np.array_equal(clips[0][-1], clips[2][-1])
    assert np.abs(clips[0][-1] - clips[1][-1])[SCENE_ROWS].mean() > 5


def test_zoom_words_move_the_camera_in(tmp_path):
    clip = frames(tmp_path, "a pink tree on a hill at noon, zoom in")
    still = frames(tmp_path, "a pink tree on a hill at noon, static")
    # how much of the frame the tree covers grows when zooming in, and stays when static
    pink = [((f[..., 0] > 150) & (f[..., 1] < 150)).mean() for f in (clip[0], clip[-1])]
    assert pink[1] > 1.3 * pink[0]
    pink = [((f[..., 0] > 150) & (f[..., 1] < 150)).mean() for f in (still[0], still[-1])]
    assert abs(pink[1] - pink[0]) < 0.1 * pink[0]
