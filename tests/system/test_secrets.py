"""Secret scan: the four notebooks run with a recognisable fake key, then every file they left
(saved notebooks with widget state, the ledger, its exports, the logs) is searched for it; and
every kind of error, repr and log line the API layer can produce is searched too."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import nbformat
import pytest

import seedance_nb as sd
from tests.kernels import run_and_save
from tests.secret_scan import FAKE_KEY, leaks_in_bytes, scan_files, scanned_files

pytestmark = pytest.mark.timeout(600)
NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
LOGGING = (
    "import logging\n"
    "logging.basicConfig(filename={log!r}, level=logging.DEBUG, force=True,\n"
    "                    format='%(levelname)s %(name)s: %(message)s')"
)


@pytest.fixture(scope="module")
def notebooks_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Run every notebook against a simulator that knows only the fake key; save each one."""
    work = tmp_path_factory.mktemp("secret-notebooks")
    with (
        sd.simulator.start(api_keys=(FAKE_KEY,), speed=0.01, credits=10**6) as sim,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("SEEDANCE_API_KEY", FAKE_KEY)
        env.setenv("SEEDANCE_BASE_URL", sim.base_url)
        env.setenv("SEEDANCE_LEDGER", str(work / "ledger.sqlite"))
        env.setenv("SEEDANCE_OUTPUTS", str(work / "outputs"))
        saved = []
        for source in NOTEBOOKS:
            nb = nbformat.read(source, as_version=4)
            log = LOGGING.format(log=str(work / f"{source.stem}.log"))
            nb.cells.insert(0, nbformat.v4.new_code_cell(log))
            run_and_save(nb, work, work / source.name, timeout=240)
            saved.append(nb)
        yield SimpleNamespace(work=work, notebooks=saved, stats=sim.stats())


def test_notebooks_run_with_a_key_leave_no_trace_of_it(notebooks_run):
    work = notebooks_run.work
    files = {p.name for p in scanned_files([work])}
    expected = {nb.name for nb in NOTEBOOKS} | {f"{nb.stem}.log" for nb in NOTEBOOKS}
    assert expected | {"ledger.sqlite", "ledger.csv", "ledger.parquet"} <= files
    assert any(name.endswith(".mp4") for name in files)
    assert notebooks_run.stats["counters"]["tasks_created"] >= 10  # the key opened the account
    for nb in notebooks_run.notebooks:  # widget state was saved, so it was scanned too
        assert nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert scan_files([work]) == {}


def test_notebooks_ran_without_errors(notebooks_run):
    for nb in notebooks_run.notebooks:
        outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"]


# ---- errors, reprs and logs of the API layer ----------------------------------------------------
def hostile(status: int, body: str) -> httpx.MockTransport:
    """A server that echoes the caller's key back in its error (some real ones do)."""
    return httpx.MockTransport(lambda request: httpx.Response(status, text=body))


def failures(sim_url: str) -> list[tuple[str, sd.Client]]:
    key = FAKE_KEY
    echo = f'{{"message": "invalid key {key}", "detail": "Bearer {key}"}}'
    return [
        (
            "wrong key at the simulator",
            sd.Client(api_key=key + "-wrong", base_url=sim_url, retry_backoff=0.001),
        ),
        (
            "nobody listening",
            sd.Client(api_key=key, base_url="http://127.0.0.1:9/api/v1", retry_backoff=0.001),
        ),
        (
            "401 echoing the key",
            sd.Client(
                api_key=key,
                base_url=sim_url,
                transport=hostile(401, echo),
                retry_backoff=0.001,
            ),
        ),
        (
            "500 echoing the key",
            sd.Client(api_key=key, base_url=sim_url, transport=hostile(500, echo), max_retries=0),
        ),
        (
            "plain text echo",
            sd.Client(
                api_key=key,
                base_url=sim_url,
                transport=hostile(400, f"no: {key}"),
                retry_backoff=0.001,
            ),
        ),
    ]


def test_no_error_repr_or_log_line_carries_the_key(start_sim, caplog):
    sim = start_sim(api_keys=(FAKE_KEY,))
    caplog.set_level(logging.DEBUG)  # httpx and httpcore at their most talkative
    texts: list[str] = []
    for name, client in failures(sim.base_url):
        with client:
            texts.append(repr(client))
            for call in (
                lambda c=client: c.create_task(sd.TextToVideo("x")),
                lambda c=client: c.get_task("task_x"),
                client.credits,
            ):
                with pytest.raises(sd.SeedanceError) as info:
                    call()
                error = info.value
                texts += [name, str(error), repr(error), repr(vars(error))]
                texts.append("".join(traceback.format_exception(error)))
    with sd.Client(api_key=FAKE_KEY, base_url=sim.base_url) as client:
        task = client.generate(sd.TextToVideo("fine", duration=4), poll_interval=0.02)
        texts += [repr(client), repr(task), repr(client.credits())]
    assert len(texts) > 60 and "[api key redacted]" in "".join(texts)
    assert "createTask" in caplog.text
    assert leaks_in_bytes("\n".join([*texts, caplog.text]).encode()) == []


def test_a_server_echoing_the_key_in_every_form_reaches_no_error_text(start_sim):
    sim = start_sim(api_keys=(FAKE_KEY,), error_rate=1.0, echo_key=True)
    raw = httpx.get(
        f"{sim.base_url}/account/credits", headers={"Authorization": f"Bearer {FAKE_KEY}"}
    ).text
    assert leaks_in_bytes(raw.encode())  # the fault is real: the key comes back
    client = sd.Client(api_key=FAKE_KEY, base_url=sim.base_url, max_retries=0)
    with client, pytest.raises(sd.ServerError) as info:
        client.credits()
    texts = [str(info.value), repr(info.value), repr(info.value.body), info.value.message]
    assert not [t for t in texts if leaks_in_bytes(t.encode())]
