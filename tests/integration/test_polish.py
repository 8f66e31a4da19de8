"""Small things a user sees: where an error happened (Cell In[n]), the same helpful error for a
refused key from Client as from Studio, and one set of status colours keyed on tones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import seedance_nb as sd
from seedance_nb.api import JobStatus

WIDGETS = Path(sd.__file__).parent / "widgets"


@pytest.mark.timeout(120)
def test_an_error_in_a_cell_names_the_cell():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive("import seedance_nb as sd", timeout=60)
        reply = kc.execute_interactive("x = 1\nsd.TextToVideo('a kite', duration=99)", timeout=60)
        assert reply["content"]["status"] == "error"
        shown = "\n".join(reply["content"]["traceback"])
        assert re.search(r"in Cell In\[2\], line 2: sd.TextToVideo", shown), shown
        assert "ipykernel_" not in shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_client_credits_with_a_wrong_key_says_what_to_check(start_sim, tmp_path):
    sim = start_sim(api_keys=("sk-right",))
    with (
        sd.Client(api_key="sk-wrong", base_url=sim.base_url) as client,
        pytest.raises(sd.AuthenticationError) as caught,
    ):
        client.credits()
    message = str(caught.value)
    assert f"refused by {sim.base_url}" in message and "SEEDANCE_API_KEY" in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert "sk-wrong" not in message
    client = sd.Client(api_key="sk-wrong", base_url=sim.base_url)
    with pytest.raises(sd.AuthenticationError) as studio_said:
        sd.Studio(client=client, ledger=tmp_path / "l.sqlite", verbose=False)
    client.close()
    assert str(studio_said.value) == message  # the same words from either door


def test_views_colour_by_tone_and_never_name_a_status():
    names = [s.value.lower() for s in JobStatus]
    for path in [*WIDGETS.glob("*.js"), *WIDGETS.glob("*.css"), *WIDGETS.glob("*.html")]:
        text = path.read_text().lower()
        for name in names:
            assert not re.search(rf"sd-{name}\b|[\"'`]{name}[\"'`]", text), (path.name, name)
    literal = re.compile(r"[\"'](" + "|".join(s.value for s in JobStatus) + r")[\"']")
    for path in WIDGETS.glob("*.py"):  # Python names statuses through JobStatus only
        assert not literal.search(path.read_text()), path.name
    tones = (WIDGETS / "tones.css").read_text()
    assert all(f"sd-tone-{tone}" in tones for tone in {s.tone for s in JobStatus})


def test_file_names_are_text_never_markup():
    for path in WIDGETS.glob("*.js"):
        for line in path.read_text().splitlines():
            if "innerHTML" in line:
                assert "${" not in line, (path.name, line)  # nothing interpolated into markup


def test_cli_bars_count_videos_and_spending_only_for_what_this_run_sends():
    from types import SimpleNamespace as Fake

    from seedance_nb.cli._follow import credits_text

    def job(status, used, done, estimate=160):
        return Fake(status=status, credits_used=used, done=done, estimated_credits=estimate)

    assert credits_text([]) == ""  # download, resume: paid before, the bar counts videos
    sweep = [job(JobStatus.COMPLETED, 160, True)] + [job(JobStatus.PENDING, None, False)] * 5
    assert credits_text(sweep) == "160 credits spent of 960 planned"
    sweep[1] = job(JobStatus.FAILED, 0, True)  # refused: nothing spent, still in the plan
    sweep[2] = job(JobStatus.CANCELLED, None, True)  # never sent: out of the plan
    assert credits_text(sweep) == "160 credits spent of 800 planned"
