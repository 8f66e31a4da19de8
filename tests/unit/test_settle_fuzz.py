"""A model-based fuzz of `_settle.decide`: random true worlds (the server's events and the ledger's
writes on one timeline), the balances and ledger pictures they give, and the one property that
costs money: `decide` never says CHARGED when this send's task was never created, and never
NOT_CHARGED when it was created and has not failed (Wait and AMBIGUOUS are always allowed).

The timeline (arbitrary units): the reading before the send is the picture P0 = 10 (`first`,
its `top`), the balance at 20 and the picture P1 = 30 (`last`, its `newest`); after-reading k
is the picture 40 + 30k, the balance 50 + 30k and the picture 60 + 30k (k = 0, 1). Every event
is drawn in one of the buckets between those marks, or "never" (1000).

What the model assumes the world can do (the module's own design assumptions, and what the
lifecycle in runtime/_lifecycle.py writes):

* the server: creating a task reserves its estimate (available falls), completing charges it
  (credits fall by the charge = the estimate, as the simulator does, the reservation goes),
  failing gives the reservation back. Nothing outside the ledger spends on the account;
* every ledger write comes after the server event it reports, and a row's writes move forward:
  QUEUED -> SENDING -> PENDING -> [PROCESSING] -> DOWNLOADING -> COMPLETED | DOWNLOAD_FAILED,
  or -> FAILED (server failed it), or PENDING/PROCESSING -> UNKNOWN (quiet; the task ends on
  the server whenever it does); SENDING -> FAILED (refused: never created); QUEUED ->
  CANCELLED; an unclear send SENDING -> [SENDING settling] -> SEND_FAILED (settled charged,
  ambiguous or None) | FAILED settled not_charged. (The 429 bounce SENDING -> QUEUED is left
  out: it moves backwards);
* a task does not end on the server before its createTask answer (PENDING) is in the ledger
  (rendering takes far longer than writing a row); a task of an unclear send is created, if at
  all, before its row's verdict is written (the grace), and that verdict is true: "charged"
  only if it was created, "not_charged" only if it was never created or failed before it;
* pictures are what account_moves returns: before the send (since=None) the rows in flight
  (QUEUED..DOWNLOADING) or unclear (SEND_FAILED, UNKNOWN: all written within the day); after
  it (since=top of P0) those plus every row written after P0. Row ids follow insertion
  order; `newest` is the highest id inserted by P1 (our own row, `me`, included);
* our own task, if created, is created after the balance before the send and before the
  first after-reading taken `grace` or more after the send ended (a first reading taken
  sooner may come before it); it may complete or fail later. A task of ours that failed
  before the last balance read holds nothing: NOT_CHARGED is then true;
* with QUICK (below), nothing stops a task from being answered and ending between P0 and the
  balance (B0); rows whose ledger had ended before P0 are left out (they move nothing).

What it found, now fixed and kept as regressions: `stories` left out a row's true story in
two ways, and `decide` then misjudged (counterexamples A and B, at the end of this file):
A. `_made_by` reads a not_charged verdict in `last` (after the balance) as "not created by the
   balance"; the row's own reading may come after ours, its task failing in between;
B. `stories` drops "ended before the reading" for a row not yet answered in `first`, though
   `first` precedes the balance: only `last` shows a row still unanswered at the balance.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field

from seedance_nb.runtime._settle import (
    AMBIGUOUS,
    CHARGED,
    NOT_CHARGED,
    SETTLING,
    Reading,
    Row,
    Settlement,
    decide,
    stories,
)

R = 128

GRACE = 10.0
NEVER = 1000.0
EDGES = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, NEVER)
P0, B0, P1 = 10.0, 20.0, 30.0
PRICES = (128, 128, 192)
SEEDS = 6000
# worlds (with QUICK) that a longer run (300 000 seeds) found `decide` misjudges
FOUND = (51216, 72306, 104058, 142549, 211035)
# a task whose createTask answers after P0 (QUEUED or SENDING in `first`) may still end before
# the balance is read (B0): sent, rendered and ended inside one GET /account/credits. False:
# the stronger timing assumption `stories` makes for a row not yet answered in `first` ("not
# rendered and ended before its own createTask has answered", read as: before B0), under
# which counterexample B cannot happen (and FOUND names other worlds)
QUICK = True
IN_FLIGHT = {"QUEUED", "SENDING", "PENDING", "PROCESSING", "DOWNLOADING"}
UNCLEAR = {"SEND_FAILED", "UNKNOWN"}


def after_marks(k: int) -> tuple[float, float, float]:
    return 40.0 + 30 * k, 50.0 + 30 * k, 60.0 + 30 * k


def later(rng: random.Random, t: float) -> float:
    """A time after `t`: often in the same bucket (so close races are common), else in a bucket
    drawn evenly among those ending after it, or NEVER."""
    if t >= NEVER:
        return NEVER
    buckets = [(lo, hi) for lo, hi in itertools.pairwise(EDGES) if hi > t]
    if rng.random() < 0.3:
        lo, hi = buckets[0]
    else:
        lo, hi = rng.choice([*buckets, None]) or (NEVER, NEVER)
    if lo >= NEVER:
        return NEVER
    lo = max(lo, t)
    return lo + (hi - lo) * (0.01 + 0.98 * rng.random())


def between(rng: random.Random, lo: float, hi: float) -> float:
    return lo + (hi - lo) * (0.01 + 0.98 * rng.random())


@dataclass
class Other:
    """Another row: its ledger writes (time, Row), in order, and its task on the server."""

    estimate: int
    writes: list[tuple[float, Row]] = field(default_factory=list)
    created: float = NEVER
    ended: float = NEVER
    paid: bool = False

    def write(self, t: float, status: str, *, charge: int | None = None, settled=None) -> bool:
        if t >= NEVER:
            return False
        assert not self.writes or self.writes[-1][0] < t
        self.writes.append((t, Row(status, self.estimate, charge, settled)))
        return True

    @property
    def inserted(self) -> float:
        return self.writes[0][0]

    def at(self, t: float) -> tuple[float, Row] | None:
        seen = [w for w in self.writes if w[0] <= t]
        return seen[-1] if seen else None


def clear_send(rng: random.Random, o: Other, t_s: float) -> None:
    """A send that got its answer (or is still on its way at the end of the window)."""
    o.created = later(rng, t_s)
    t_p = later(rng, o.created)
    if not o.write(t_p, "PENDING"):
        return  # never answered in the window; nothing ends before its answer is written
    o.ended, o.paid = later(rng, t_p), rng.random() < 0.5
    if not QUICK and t_p > P0:  # not answered at P0: it cannot end before the balance
        o.ended = later(rng, max(t_p, B0))
    if rng.random() < 0.25:  # given up on: UNKNOWN, whenever the server ends it
        if rng.random() < 0.5:
            t_pr = later(rng, t_p)
            o.write(t_pr, "PROCESSING")
            t_p = t_pr
        o.write(later(rng, t_p), "UNKNOWN")
        return
    t_pr = later(rng, t_p) if rng.random() < 0.6 else None
    t_f = later(rng, max(o.ended, t_pr or t_p))
    if t_pr is not None and t_pr < t_f:
        o.write(t_pr, "PROCESSING")
    if not o.paid:
        o.write(t_f, "FAILED", charge=rng.choice([None, 0]))
        return
    if o.write(t_f, "DOWNLOADING", charge=o.estimate):
        o.write(later(rng, t_f), rng.choice(["COMPLETED", "DOWNLOAD_FAILED"]), charge=o.estimate)


def unclear_send(rng: random.Random, o: Other, t_s: float) -> None:
    """A send that got no clear answer: settled by its own studio (truthfully), or not."""
    o.created = later(rng, t_s) if rng.random() < 0.6 else NEVER
    o.ended, o.paid = later(rng, o.created), rng.random() < 0.5
    t_v = later(rng, t_s if o.created >= NEVER else o.created)
    if rng.random() < 0.5:
        t_set = later(rng, t_s)
        if t_set < t_v:
            o.write(t_set, "SENDING", settled=SETTLING)
    verdicts = ["ambiguous", None]
    if o.created < NEVER:
        verdicts.append("charged")
    if o.created >= NEVER or (not o.paid and o.ended < t_v):
        verdicts.append("not_charged")
    settled = rng.choice(verdicts)
    if settled == "not_charged":
        o.write(t_v, "FAILED", settled=NOT_CHARGED)
    else:
        o.write(t_v, "SEND_FAILED", settled=settled)


def other(rng: random.Random) -> Other:
    o = Other(rng.choice(PRICES))
    t_q = later(rng, -1.0)
    o.write(t_q if t_q < NEVER else 99.0, "QUEUED")
    kind = rng.choice(["clear", "clear", "unclear", "unclear", "refused", "cancelled", "lost"])
    if kind == "lost":  # an earlier unclear send, quiet in the ledger before the first picture
        o.writes.clear()
        o.write(between(rng, -10, 0), "QUEUED")
        o.write(between(rng, 0, 0.5), "SENDING")
        o.created = between(rng, 0.5, 1)
        o.ended, o.paid = later(rng, 1.0), rng.random() < 0.5
        o.write(between(rng, 1, 2), "SEND_FAILED", settled=rng.choice(["charged", "ambiguous"]))
        return o
    if kind == "cancelled":
        o.write(later(rng, o.inserted), "CANCELLED")
        return o
    t_s = later(rng, o.inserted)
    if not o.write(t_s, "SENDING"):
        return o
    if kind == "refused":
        o.write(later(rng, t_s), "FAILED", charge=None)
    elif kind == "clear":
        clear_send(rng, o, t_s)
    else:
        unclear_send(rng, o, t_s)
    return o


@dataclass
class World:
    estimate: int
    others: list[Other]
    afters: int  # after-readings taken (1 or 2)
    early: bool  # the first after-reading comes before the grace
    created: float  # our task (NEVER: never created)
    ended: float
    paid: bool
    me_inserted: float


def world(rng: random.Random) -> World:
    afters = rng.choice([1, 2])
    early = afters == 2 and rng.random() < 0.3
    last_balance = after_marks(1 if early else 0)[1]
    created = between(rng, B0, last_balance) if rng.random() < 0.5 else NEVER
    ended = later(rng, created)
    others = [other(rng) for _ in range(rng.randint(0, 4))]
    return World(
        rng.choice(PRICES),
        others,
        afters,
        early,
        created,
        ended,
        rng.random() < 0.5,
        between(rng, 0, P0),
    )


def balance(w: World, t: float) -> tuple[int, int]:
    """(available, credits) at `t`, by the server's model."""
    available = credits = 100_000
    tasks = [(o.estimate, o.created, o.ended, o.paid) for o in w.others]
    for estimate, created, ended, paid in [*tasks, (w.estimate, w.created, w.ended, w.paid)]:
        if created > t:
            continue
        if ended > t:
            available -= estimate
        elif paid:
            available -= estimate
            credits -= estimate
    return available, credits


def picture(w: World, ids: dict[int, Other], t: float, since_top: bool) -> dict[int, Row]:
    rows = {}
    for rid, o in ids.items():
        seen = o.at(t)
        if seen is None:
            continue
        written, row = seen
        if row.status in IN_FLIGHT | UNCLEAR or (since_top and written > P0):
            rows[rid] = row
    return rows


def readings(w: World) -> tuple[Reading, list[Reading], int]:
    order = sorted([(o.inserted, i) for i, o in enumerate(w.others)] + [(w.me_inserted, -1)])
    ids = {rid: w.others[i] for rid, (_, i) in enumerate(order, start=1) if i >= 0}
    me = next(rid for rid, (_, i) in enumerate(order, start=1) if i < 0)
    newest = max(rid for rid, (t, _) in enumerate(order, start=1) if t < P1)
    before = Reading(
        *balance(w, B0), picture(w, ids, P0, False), picture(w, ids, P1, False), 1, newest, -1.0
    )
    afters = []
    for k in range(w.afters):
        first, read, last = after_marks(k)
        at = GRACE / 2 if (w.early and k == 0) else GRACE + 5 * k
        afters.append(
            Reading(
                *balance(w, read),
                picture(w, ids, first, True),
                picture(w, ids, last, True),
                2 + k,
                newest,
                at,
            )
        )
    return before, afters, me


def wrong(w: World, found: object) -> str | None:
    """What is wrong with the verdict in world `w`, or None."""
    if not isinstance(found, Settlement):
        return None
    last_balance = after_marks(w.afters - 1)[1]
    failed = w.created < NEVER and not w.paid and w.ended <= last_balance
    if found.kind == CHARGED and w.created >= NEVER:
        return "CHARGED, but this send's task was never created"
    if found.kind == NOT_CHARGED and w.created < NEVER and not failed:
        return "NOT_CHARGED, but this send's task exists (and holds or paid its estimate)"
    return None


def run(seed: int) -> tuple[str, str | None]:
    w = world(random.Random(seed))
    before, afters, me = readings(w)
    found = decide(before, afters, w.estimate, afters[-1].at, grace=GRACE, me=me)
    kind = found.kind if isinstance(found, Settlement) else "wait"
    return kind, wrong(w, found)


def held(o: Other, t: float) -> tuple[int, int, int]:
    """What row `o`'s task moves by `t`: (available, credits, reserved)."""
    if o.created > t:
        return 0, 0, 0
    if o.ended > t:
        return -o.estimate, 0, o.estimate
    return (-o.estimate, -o.estimate, 0) if o.paid else (0, 0, 0)


def missed(seed: int) -> list[tuple[int, int, tuple[int, int, int], list]]:
    """Rows whose true story (between the balance before and after-reading k) `stories` leaves
    out: (k, row id, the true story, the stories given)."""
    w = world(random.Random(seed))
    before, afters, _ = readings(w)
    order = sorted([(o.inserted, i) for i, o in enumerate(w.others)] + [(w.me_inserted, -1)])
    ids = {rid: w.others[i] for rid, (_, i) in enumerate(order, start=1) if i >= 0}
    out = []
    for k, after in enumerate(afters):
        shown = {*before.first, *before.last, *after.first, *after.last}
        for rid, o in ids.items():
            (a0, c0, r0), (a1, c1, _) = held(o, B0), held(o, after_marks(k)[1])
            true = (a1 - a0, c1 - c0, r0)
            if rid not in shown:
                assert true == (0, 0, 0), (seed, rid)  # the model: unseen rows move nothing
                continue
            given = stories(rid, before, after, afters[-1].last.get(rid))
            if true not in given:
                out.append((k, rid, true, sorted(given)))
    return out


def test_decide_never_misjudges_a_consistent_world():
    kinds: Counter[str] = Counter()
    bad = []
    for seed in range(SEEDS):
        kind, why = run(seed)
        kinds[kind] += 1
        if why is not None:
            bad.append((seed, why))
    # about 83% of worlds reach a verdict (CHARGED or NOT_CHARGED)
    assert kinds[CHARGED] + kinds[NOT_CHARGED] > SEEDS * 3 // 4, kinds
    assert kinds[AMBIGUOUS] + kinds["wait"] > 0, kinds
    assert not bad, bad[:5]


def test_found_seeds_are_misjudged_no_longer():
    # (counterexample B below): all five said NOT_CHARGED while this send's task existed,
    # while `stories` excluded "ended before the balance" for a row SENDING only in `first`
    bad = [(seed, why) for seed in FOUND if (why := run(seed)[1]) is not None]
    assert not bad, bad


def test_every_row_s_true_story_is_among_its_stories():
    """The invariant the verdicts rest on: each row's true story is one `stories` gives (then
    the true combination matches the balance exactly, and a verdict cannot be wrong)."""
    # (failed on both counterexamples below, A and, with QUICK, B, before they were fixed)
    bad = [(seed, found) for seed in range(SEEDS) if (found := missed(seed))]
    assert not bad, bad[:3]


def test_counterexample_a_a_verdict_written_after_the_balance_is_not_the_row_at_the_balance():
    """Row 11 (written after the reading before the send) was created on the server before
    the later balance read and failed just after it; its own studio's reading (after the
    failure) settled it "not_charged", written before our `last` picture. At the balance it
    still held R, but `_made_by` reads `last`'s not_charged as "not created by the balance",
    leaving only the story (0, 0, 0): the R it held is taken for this send's estimate."""
    before = Reading(100_000, 100_000, {}, {}, 1, 10, -1.0)
    after = Reading(
        100_000 - R,
        100_000,
        {11: Row("SENDING", R)},
        {11: Row("FAILED", R, settled=NOT_CHARGED)},
        2,
        10,
        GRACE,
    )
    found = decide(before, [after], R, GRACE, grace=GRACE)
    # this send's task was never created; decide said CHARGED
    assert not (isinstance(found, Settlement) and found.kind == CHARGED), found
    assert (-R, 0, 0) in stories(11, before, after, after.last[11])  # the true story


def test_counterexample_b_a_row_sending_in_first_may_answer_and_end_before_the_balance():
    """Row 1 was SENDING at `first`; its createTask answered and its task completed (charged
    R) after that picture but before the balance was read; the ledger still shows it
    PROCESSING at `last` (it lags). This send's task was created and holds E. `stories`
    drops "ended before the reading" because the row was sending in `first` and answered,
    but `first` precedes the balance; only `last` (after it) shows a row still being sent.
    The only story left with nothing held at the first reading is row 1 "created after it,
    still running", which explains the fall of E: NOT_CHARGED, and a resend pays twice."""
    before = Reading(
        100_000 - R, 100_000 - R, {1: Row("SENDING", R)}, {1: Row("PROCESSING", R)}, 1, 2, -1.0
    )
    after = Reading(
        100_000 - R - R,
        100_000 - R,
        {1: Row("PROCESSING", R)},
        {1: Row("DOWNLOADING", R, R)},
        2,
        2,
        GRACE,
    )
    found = decide(before, [after], R, GRACE, grace=GRACE)
    # this send's task exists (holds E); decide said NOT_CHARGED, and a resend paid twice
    assert not (isinstance(found, Settlement) and found.kind == NOT_CHARGED), found
    assert (0, 0, 0) in stories(1, before, after, after.last[1])  # the true story
