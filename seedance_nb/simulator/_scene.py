"""What a prompt asks for, read from a small vocabulary: the plan a clip is drawn from.

The simulator has no model; it maps a handful of words to things a person can see, so two
prompts that differ by one such word give visibly different clips:

- named colours (red, blue, golden, ...) colour the subject they come before ("a red kite"),
  or the ground or sky ("green hills", "a pink sky"); an unattached one colours the subject;
- time of day (dawn, noon, dusk, night and their synonyms) sets the sky, the sun or moon and
  its path, and the light on everything;
- weather (rain, snow, fog) adds falling streaks or flakes, or haze;
- subjects (dog, cat, kite, boat, car, bird, person, tree) are simple moving figures; a plural
  ("birds") gives three;
- motion (running, walking, flying, sailing, jumping; slowly, quickly) sets how they move, and
  camera words (zoom in, zoom out, pan, static) how the view moves;
- setting words (beach, sea, lake, mountains, desert, snow, city, forest) pick the landscape.

Everything else (hill shapes, clouds, default colours, which way things go) comes from the
take's seed, so each take differs and one (prompt, seed) always gives the same plan.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

Rgb = tuple[int, int, int]

COLOURS: dict[str, Rgb] = {
    "red": (214, 38, 38),
    "crimson": (178, 18, 48),
    "scarlet": (230, 36, 26),
    "orange": (246, 128, 26),
    "yellow": (246, 212, 36),
    "golden": (222, 166, 56),
    "gold": (222, 176, 48),
    "green": (46, 160, 66),
    "blue": (36, 86, 222),
    "navy": (26, 36, 120),
    "teal": (24, 160, 160),
    "turquoise": (40, 200, 190),
    "cyan": (40, 200, 220),
    "purple": (128, 56, 182),
    "violet": (140, 80, 210),
    "pink": (242, 118, 172),
    "white": (242, 242, 242),
    "black": (28, 28, 32),
    "grey": (140, 140, 146),
    "gray": (140, 140, 146),
    "silver": (188, 190, 198),
    "brown": (128, 78, 38),
}

TIMES: dict[str, tuple[str, ...]] = {
    "dawn": ("dawn", "sunrise", "daybreak", "morning", "sunup"),
    "noon": ("noon", "midday", "afternoon", "sunny", "daylight", "daytime"),
    "dusk": ("dusk", "sunset", "evening", "twilight", "sundown"),
    "night": ("night", "midnight", "moon", "moonlight", "moonlit", "starry", "stars", "nighttime"),
}

WEATHERS: dict[str, tuple[str, ...]] = {
    "rain": ("rain", "rainy", "raining", "rainstorm", "storm", "stormy", "thunderstorm",
             "drizzle", "downpour"),
    "snow": ("snow", "snowy", "snowing", "snowfall", "blizzard", "snowflakes"),
    "fog": ("fog", "foggy", "mist", "misty", "haze", "hazy"),
}  # fmt: skip

SUBJECTS: dict[str, tuple[str, ...]] = {
    "dog": ("dog", "puppy", "retriever", "labrador", "corgi", "poodle", "hound", "terrier"),
    "cat": ("cat", "kitten", "kitty"),
    "kite": ("kite",),
    "boat": ("boat", "sailboat", "ship", "yacht", "canoe", "kayak"),
    "car": ("car", "truck", "taxi", "jeep", "van"),
    "bird": ("bird", "eagle", "seagull", "gull", "hawk", "pigeon", "crow", "owl", "parrot"),
    "person": ("person", "man", "woman", "girl", "boy", "child", "kid", "runner", "dancer",
               "hiker", "surfer"),
    "tree": ("tree", "oak", "pine", "palm", "willow"),
}  # fmt: skip
PLURALS = {"people": "person", "men": "person", "women": "person", "children": "person",
           "puppies": "dog", "flock": "bird"}  # fmt: skip

MOTIONS: dict[str, tuple[str, ...]] = {
    "run": ("running", "runs", "run", "racing", "races", "sprinting", "galloping", "chasing",
            "dashing", "driving", "speeding"),
    "walk": ("walking", "walks", "walk", "strolling", "wandering", "hiking", "trotting"),
    "fly": ("flying", "flies", "fly", "soaring", "gliding", "fluttering", "hovering"),
    "drift": ("sailing", "sails", "floating", "drifting", "bobbing", "swimming", "rowing"),
    "jump": ("jumping", "jumps", "jump", "leaping", "leaps", "bouncing", "hopping"),
}  # fmt: skip
PACES: dict[float, tuple[str, ...]] = {
    0.5: ("slowly", "slow", "gently", "gentle", "calm", "calmly", "lazily", "leisurely"),
    1.7: ("fast", "quickly", "quick", "rapid", "rapidly", "swift", "swiftly", "speeding"),
}

LANDS: dict[str, tuple[str, ...]] = {
    "mountains": ("mountain", "mountains", "alps", "peak", "peaks", "cliffs", "canyon"),
    "desert": ("desert", "dune", "dunes", "sand", "sandy", "savanna", "mars"),
    "snow": ("snowfield", "glacier", "arctic", "ice", "icy", "frozen", "winter", "tundra"),
    "city": ("city", "street", "streets", "urban", "skyline", "buildings", "downtown", "town",
             "neon", "cyberpunk"),
    "forest": ("forest", "woods", "woodland", "jungle", "grove"),
    "hills": ("hill", "hills", "meadow", "meadows", "field", "fields", "grass", "valley",
              "countryside", "park", "garden", "farm"),
}  # fmt: skip
WATERS = ("ocean", "sea", "beach", "lake", "river", "pond", "water", "waves", "wave", "surf",
          "coast", "shore", "harbour", "harbor", "bay", "island", "seaside")  # fmt: skip
SHORES = ("beach", "shore", "coast", "seaside", "sand", "sandy")
SKY_WORDS = ("sky", "skies", "clouds", "cloud")

LAND_COLOURS: dict[str, Rgb] = {  # the ground by setting, before light and weather
    "hills": (74, 150, 64),
    "forest": (40, 110, 52),
    "mountains": (104, 118, 96),
    "desert": (214, 170, 104),
    "snow": (226, 232, 240),
    "city": (92, 96, 110),
}
DEFAULT_COLOURS: dict[str, tuple[Rgb, ...]] = {  # a subject with no named colour: the seed picks
    "dog": ((196, 140, 64), (120, 74, 40), (40, 36, 34), (226, 214, 190)),
    "cat": ((226, 136, 52), (128, 128, 132), (40, 38, 40)),
    "kite": ((230, 50, 60), (246, 190, 30), (60, 120, 230), (150, 70, 200), (30, 170, 120)),
    "boat": ((214, 54, 48), (246, 240, 228), (40, 110, 200)),
    "car": ((204, 40, 40), (40, 90, 200), (232, 232, 232), (246, 196, 30), (40, 40, 46)),
    "bird": ((60, 60, 66), (236, 236, 236), (110, 80, 60)),
    "person": ((220, 60, 60), (50, 110, 210), (246, 200, 40), (60, 160, 90)),
    "tree": ((52, 132, 58), (70, 150, 60)),
}
ON_GROUND = ("dog", "cat", "car", "person")
MODERATED = (  # refused at createTask with a 400, like the hosted service's safety filter
    "nsfw", "nude", "nudity", "naked", "porn", "gore", "gory", "beheading", "decapitated",
    "massacre", "bloodbath", "terrorist", "bomb",
)  # fmt: skip


@dataclass(frozen=True)
class Subject:
    """One figure: its kind, colour, how many, and how it moves (run, walk, fly, drift, jump)."""

    kind: str
    colour: Rgb
    count: int
    motion: str
    named: bool  # the colour came from the prompt


@dataclass(frozen=True)
class Scene:
    """The plan of a text-to-video clip."""

    time: str  # "dawn" | "noon" | "dusk" | "night" | "day" (nothing said)
    weather: str | None  # "rain" | "snow" | "fog"
    land: str  # a key of LANDS
    land_colour: Rgb
    sky_colour: Rgb | None  # a named sky colour, mixed into the time of day's sky
    water: bool  # a sea or lake in the middle distance
    shore: bool  # sand in the foreground (else, with water, the water comes all the way)
    subjects: tuple[Subject, ...]
    pace: float  # 0.5 slowly, 1 as usual, 1.7 quickly
    camera: str  # "drift" | "pan" | "zoom-in" | "zoom-out" | "static"
    direction: int  # +1: things go (and the camera pans) to the right; -1 to the left
    seed: int


def words(prompt: str) -> list[str]:
    """The prompt's words, lower case, without punctuation."""
    return re.findall(r"[a-z]+(?:-[a-z]+)*", prompt.lower())


def moderated(prompt: str | None) -> str | None:
    """The first word of the prompt on the moderation list, or None."""
    return next((w for w in words(prompt or "") if w in MODERATED), None)


def prompt_seed(prompt: str) -> int:
    """A seed from the prompt alone: what a render without a take's seed uses."""
    return int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")


def _kind(word: str) -> tuple[str, bool] | None:
    """The subject kind a word names and whether it is plural ("dogs" -> ("dog", True))."""
    if word in PLURALS:
        return PLURALS[word], True
    for kind, names in SUBJECTS.items():
        if word in names:
            return kind, False
        if word.endswith("s") and (word[:-1] in names or word[:-2] in names):
            return kind, True
    return None


def _first(tokens: list[str], table: dict[str, tuple[str, ...]]) -> str | None:
    """The key of the first token found in any of the table's word lists."""
    for token in tokens:
        for key, names in table.items():
            if token in names:
                return key
    return None


def scene_of(prompt: str, seed: int | None = None) -> Scene:
    """Read the prompt's vocabulary into a Scene; the seed decides everything left open."""
    seed = prompt_seed(prompt) if seed is None else seed
    rng = random.Random(seed)
    tokens = words(prompt)
    text = " ".join(tokens)
    golden_hour = "golden hour" in text
    if golden_hour:
        text = text.replace("golden hour", "dusk")
        tokens = words(text)

    time = _first(tokens, TIMES) or "day"
    weather = _first(tokens, WEATHERS)
    land = _first(tokens, LANDS) or ("snow" if weather == "snow" else "hills")
    water = any(t in WATERS for t in tokens)
    shore = water and any(t in SHORES for t in tokens)

    # colours bind to the next noun within three words: a subject, the ground or the sky
    bound: dict[int, Rgb] = {}  # token index of a subject -> colour
    land_colour = sky_colour = None
    loose: list[Rgb] = []
    for i, token in enumerate(tokens):
        if token not in COLOURS:
            continue
        for j in range(i + 1, min(len(tokens), i + 4)):
            nxt = tokens[j]
            if _kind(nxt):
                bound.setdefault(j, COLOURS[token])
                break
            if any(nxt in names for names in LANDS.values()) or nxt in WATERS:
                land_colour = land_colour or COLOURS[token]
                break
            if nxt in SKY_WORDS:
                sky_colour = sky_colour or COLOURS[token]
                break
        else:
            loose.append(COLOURS[token])

    numbers = {"two": 2, "three": 3, "four": 3, "five": 3, "several": 3, "many": 3, "pair": 2}
    motion_word = _first(tokens, MOTIONS)
    flyers = any((_kind(t) or ("",))[0] in ("kite", "bird") for t in tokens)
    subjects: list[Subject] = []
    for i, token in enumerate(tokens):
        found = _kind(token)
        if not found or any(s.kind == found[0] for s in subjects):
            continue
        kind, plural = found
        colour = bound.get(i)
        named = colour is not None
        if colour is None and loose and not any(s.named for s in subjects):
            colour, named = loose.pop(0), True
        if colour is None:
            colour = rng.choice(DEFAULT_COLOURS[kind])
            if kind == "dog" and token == "retriever":
                colour = COLOURS["golden"]
        if kind == "kite" or (motion_word == "fly" and kind in ON_GROUND and not flyers):
            motion = "fly"
        elif kind == "bird":
            motion = "fly" if motion_word in (None, "fly") else motion_word
        elif kind == "boat":
            motion = "drift"
        elif kind == "tree":
            motion = "still"
        else:
            motion = motion_word if motion_word in ("run", "walk", "jump") else "walk"
            if kind == "car" and motion == "walk":
                motion = "run"  # cars drive
        said = [numbers[t] for t in tokens[max(0, i - 3) : i] if t in numbers]
        count = (said[-1] if said else 3) if plural else 1
        subjects.append(Subject(kind, colour, count, motion, named))
        if len(subjects) == 2:
            break
    if any(s.kind == "boat" for s in subjects) and not water:
        water = True

    pace = next((p for p, names in PACES.items() if any(t in names for t in tokens)), 1.0)
    camera = "drift"
    if re.search(r"\bzoom(s|ing|ed)? out\b|\bpull(s|ing)? back\b|\bdolly out\b", text):
        camera = "zoom-out"
    elif re.search(r"\bzoom|\bpush(es|ing)? in\b|\bdolly in\b|\bclose-up\b", text):
        camera = "zoom-in"
    elif re.search(r"\bpan(s|ning|ned)?\b|\btracking\b|\bdolly\b", text):
        camera = "pan"
    elif re.search(r"\bstatic\b|\bstill\b|\blocked\b|\btripod\b", text):
        camera = "static"
    direction = 1 if rng.random() < 0.5 else -1
    if re.search(r"\b(pan(s|ning)?|moving|going|heading|to the) left\b|\bleftward", text):
        direction = -1
    elif re.search(r"\b(pan(s|ning)?|moving|going|heading|to the) right\b|\brightward", text):
        direction = 1
    return Scene(
        time=time,
        weather=weather,
        land=land,
        land_colour=land_colour or LAND_COLOURS[land],
        sky_colour=sky_colour,
        water=water,
        shore=shore,
        subjects=tuple(subjects),
        pace=pace,
        camera=camera,
        direction=direction,
        seed=seed,
    )
