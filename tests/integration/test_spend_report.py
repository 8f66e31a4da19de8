"""The spend report's figures against a ledger built by hand, on SQLite and a real PostgreSQL;
the HTML page and `seedance-nb report`; reconcile naming the rows behind a difference; and
the report of a real studio run with an unclear send whose task was lost."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

import seedance_nb as sd
from seedance_nb.api._status import JobStatus as S
from seedance_nb.ledger import Ledger


@pytest.fixture
def book(target, tmp_path):
    """alice: a video on disk (200), a completed one whose file is gone (160); bob: a send
    settled "charged" (128, lost), a refusal (300), an expired paid video (100, lost), one
    unfinished (64); carol: last month's row (999), outside a monthly report."""
    with Ledger(target) as ledger:
        video = tmp_path / "v.mp4"
        video.write_bytes(b"mp4")
        ledger.reconcile(sd.Credits(credits=5000, available=5000))  # the starting balance
        add = ledger.log
        add(
            experiment="beach",
            user_name="alice",
            estimated_credits=200,
            credits_used=200,
            status=S.COMPLETED,
            task_id="t1",
            local_path=str(video),
        )
        add(
            experiment="beach",
            user_name="alice",
            estimated_credits=160,
            credits_used=160,
            status=S.COMPLETED,
            task_id="t2",
            local_path=str(tmp_path / "gone.mp4"),
        )
        add(
            experiment="beach",
            user_name="bob",
            estimated_credits=128,
            status=S.SEND_FAILED,
            settled="charged",
        )
        add(experiment="forest", user_name="bob", estimated_credits=300, status=S.FAILED)
        add(
            experiment="forest",
            user_name="bob",
            estimated_credits=100,
            credits_used=100,
            status=S.EXPIRED,
            task_id="t3",
        )
        add(
            experiment="forest",
            user_name="bob",
            estimated_credits=64,
            status=S.PENDING,
            task_id="t4",
        )
        add(
            experiment="old",
            user_name="carol",
            estimated_credits=999,
            credits_used=999,
            status=S.COMPLETED,
            task_id="t0",
            submitted_at=ledger.clock().replace(day=1) - timedelta(days=2),
        )
        yield ledger


def test_the_report_adds_up_to_a_ledger_built_by_hand(book):
    table = book.report(period="month")
    assert list(table.index.names) == ["user", "experiment"]
    got = table.reset_index().set_index(["user", "experiment"]).to_dict("index")
    assert got == {
        ("alice", "beach"): dict(
            jobs=2, estimated=360, charged=360, refused=0, lost=0, videos=1, missing_videos=1
        ),
        ("bob", "beach"): dict(
            jobs=1, estimated=128, charged=128, refused=0, lost=128, videos=0, missing_videos=0
        ),
        ("bob", "forest"): dict(
            jobs=3, estimated=464, charged=100, refused=300, lost=100, videos=0, missing_videos=0
        ),
    }
    assert book.summary().loc[["beach", "forest"], "lost"].tolist() == [128, 100]  # never hidden
    everything = book.report(by="user")
    assert everything.loc["carol", "charged"] == 999 and everything["jobs"].sum() == 7
    with pytest.raises(ValueError, match="period"):
        book.report(period="year")
    with pytest.raises(ValueError, match="not a ledger column"):
        book.report(by="colour")


def test_reconcile_names_the_difference_and_the_rows_behind_it(book):
    # the account paid for everything charged, lost included (200+160+128+100+999)
    check = book.reconcile(sd.Credits(credits=5000 - 1587, available=5000 - 1587 - 64))
    assert check.loc["spent", "difference"] == 228  # the lost send and the expired video
    assert check.loc["reserved", "ok"]
    assert "228 credits less" in check.attrs["note"]
    rows = check.attrs["rows"]
    assert sorted(rows["credits"]) == [100, 128] and rows["credits"].sum() == 228
    assert rows["why"].str.contains("lost send").sum() == 1


def test_the_html_page_and_the_command_line(book, target, tmp_path):
    page = book.report_html(credits=sd.Credits(credits=5000 - 1587, available=5000 - 1587 - 64))
    assert page.startswith("<!doctype html>") and page.count("<table") == 2
    assert page.count("data:image/png;base64,") == 1 and "alice" in page
    out = tmp_path / "report.html"
    env = {k: v for k, v in os.environ.items() if k != "SEEDANCE_API_KEY"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "seedance_nb",
            "report",
            "--ledger",
            target,
            "--period",
            "month",
            "--html",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "lost" in lines[0] and "missing_videos" in lines[0]
    assert any(line.split()[:2] == ["bob", "beach"] and line.split()[-3] == "128" for line in lines)
    assert out.read_text().count("<table") == 1
    bad = subprocess.run(
        [sys.executable, "-m", "seedance_nb", "report", "--ledger", target, "--by", "colour"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert bad.returncode != 0 and "colour" in bad.stderr


def test_a_real_lost_send_shows_in_the_report_as_paid_with_no_video(start_sim, make_studio):
    sim = start_sim(credits=5000)
    studio = make_studio(sim)
    ok = studio.submit(sd.TextToVideo("a clear send", duration=4), model="seedance2-fast")
    ok.result(timeout=60)
    sim.fault_next_create("lose")
    lost = studio.submit(sd.TextToVideo("a lost send", duration=4), model="seedance2-fast")
    with pytest.raises(sd.JobError):
        lost.result(timeout=60)
    table = studio.ledger.report(by="user")
    row = table.loc[studio.engine.user]
    assert row["lost"] == lost.estimated_credits and row["videos"] == 1
    assert row["charged"] == ok.credits_used + lost.estimated_credits
