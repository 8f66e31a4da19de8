"""Fault soak: two real Jupyter kernels share one ledger and one account, and each submits
the same 30 jobs at the same moment, against a simulator that answers 20% of requests with
500 (each quoting the key back, raw, JSON-escaped, URL-encoded and base64), cuts 10% of
connections mid-response and fails 10% of tasks.

Every job must end in a state the user can see (on the job, its widget and its ledger row) and
the same in both kernels, no submission may be sent twice (30 rows, one createTask at most
each), the ledger must equal the simulator's charges to the credit, no exception may reach
either kernel, and the recognisable fake key used throughout must appear in none of the saved
notebooks (widget state included), the ledger, the logs or any error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest

import seedance_nb as sd
from tests.kernels import run_and_save
from tests.secret_scan import FAKE_KEY, scan_files, scanned_files
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(400)  # the first test pays for the soak itself

JOBS = 30
CREDITS = 1_000_000
KERNELS = ("a", "b")
TERMINAL = {"COMPLETED", "FAILED", "SEND_FAILED"}

CELLS = [
    "import json, logging, pathlib, collections\n"
    "logging.basicConfig(filename=LOG, level=logging.DEBUG, force=True,\n"
    "                    format='%(levelname)s %(name)s: %(message)s')",
    "import ipywidgets\nfrom PIL import Image\nimport seedance_nb as sd\n"
    "from seedance_nb.widgets import TaskView\n"
    "Image.new('RGB', (640, 480), 'teal').save(STILL)\n"
    "studio = sd.Studio(experiment='soak', poll_interval=0.05, concurrency=3)\nstudio",
    "import time\nwhile not pathlib.Path(GO).exists():  # both kernels submit at one moment\n"
    "    time.sleep(0.001)",
    "jobs = [studio.submit(sd.TextToVideo(f'soak scene {i}', duration=4 + i % 3))\n"
    "        for i in range(24)]\n"
    "jobs += [studio.submit(sd.ImageToVideo(STILL, prompt=f'soak still {i}', duration=4))\n"
    "         for i in range(6)]\n"
    "views = [TaskView(job) for job in jobs]\nipywidgets.VBox(views)",
    "studio.wait(jobs, timeout=240)\n"
    "print(sorted(collections.Counter(str(j.status) for j in jobs).items()))",
    "studio.ledger.summary()",
    """\
rows = studio.ledger.rows(experiment='soak')
report = {
    'jobs': [
        {'id': j.id, 'status': str(j.status), 'error': j.error, 'task_id': j.task_id,
         'settled': j.settled,
         'credits_used': j.credits_used, 'estimate': j.estimated_credits,
         'video': bool(j.local_path and j.local_path.exists()),
         'callback_errors': [repr(e) for e in j.callback_errors],
         'view_status': v.status, 'view_error': v.error, 'view_credits': v.credits_used}
        for j, v in zip(jobs, views)
    ],
    'rows': [{k: r[k] for k in ('id', 'status', 'task_id', 'credits_used', 'error')}
             for r in rows],
    'engine': dict(studio.engine.stats),
    'spent': studio.ledger.spent('soak'),
    'texts': [repr(studio), studio.ledger.df.to_string()]
    + [repr(j) + repr(j.exception) + str(j.exception) for j in jobs]
    + [repr(v.get_state()) for v in views],
}
pathlib.Path(REPORT).write_text(json.dumps(report, default=str))
studio.close()""",
]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Run the soak once; the tests below each check one promise about it."""
    tmp = tmp_path_factory.mktemp("soak")
    paths = SimpleNamespace(
        ledger=tmp / "ledger.sqlite",
        outputs=tmp / "outputs",
        sim_log=tmp / "simulator.log",
        go=tmp / "go",
        **{f"notebook_{k}": tmp / f"soak-{k}.ipynb" for k in KERNELS},
        **{f"log_{k}": tmp / f"kernel-{k}.log" for k in KERNELS},
        **{f"report_{k}": tmp / f"report-{k}.json" for k in KERNELS},
    )
    sim_log = logging.FileHandler(paths.sim_log)
    root = logging.getLogger()
    level = root.level
    root.addHandler(sim_log)
    root.setLevel(logging.DEBUG)  # the simulator's side of the run, at its most talkative
    sim = sd.simulator.start(
        api_keys=(FAKE_KEY,),
        credits=CREDITS,
        concurrency=3,
        speed=0.01,
        error_rate=0.2,
        drop_rate=0.1,
        fail_rate=0.1,
        echo_key=True,  # each 500 quotes the key back in every form a careless server might
        seed=2026,
    )
    notebooks, failures = {}, []

    def run(kernel: str) -> None:
        nb = nbformat.v4.new_notebook()
        setup = (
            f"LOG = {str(getattr(paths, 'log_' + kernel))!r}\n"
            f"REPORT = {str(getattr(paths, 'report_' + kernel))!r}\n"
            f"STILL = {str(tmp / f'still-{kernel}.png')!r}\nGO = {str(paths.go)!r}"
        )
        nb.cells = [nbformat.v4.new_code_cell(src) for src in [setup, *CELLS]]
        notebooks[kernel] = nb
        try:
            run_and_save(nb, tmp, getattr(paths, "notebook_" + kernel))
        except Exception as exc:  # reported below, in the test's own thread
            failures.append(exc)
        finally:  # nbclient made this thread an event loop; close it, or its sockets leak
            with contextlib.suppress(RuntimeError):
                asyncio.get_event_loop_policy().get_event_loop().close()

    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SEEDANCE_API_KEY", FAKE_KEY)  # the kernel finds the key as a user's would
            env.setenv("SEEDANCE_BASE_URL", sim.base_url)
            env.setenv("SEEDANCE_LEDGER", str(paths.ledger))
            env.setenv("SEEDANCE_OUTPUTS", str(paths.outputs))
            threads = [threading.Thread(target=run, args=(k,)) for k in KERNELS]
            for thread in threads:
                thread.start()
            wait_until(lambda: all(getattr(paths, "log_" + k).exists() for k in KERNELS), 120)
            paths.go.touch()
            for thread in threads:
                thread.join()
        if failures:
            raise failures[0]
        yield SimpleNamespace(
            paths=paths,
            nbs=notebooks,
            stats=sim.stats(),
            reports={
                k: json.loads(getattr(paths, "report_" + k).read_text()) for k in KERNELS
            },
        )
    finally:
        sim.stop()
        root.removeHandler(sim_log)
        root.setLevel(level)
        sim_log.close()


def by_status(report: dict[str, Any]) -> Counter[str]:
    return Counter(job["status"] for job in report["jobs"])


def test_the_faults_were_real(soak):
    counters = soak.stats["counters"]
    assert counters["injected_500"] >= 10 and counters["injected_drop"] >= 5
    for report in soak.reports.values():
        statuses = by_status(report)
        # a 500 or a cut on createTask is an unclear send: SEND_FAILED, or settled by the
        # account's balance (not charged: FAILED; charged: paid, no video); one task in ten
        # fails on the server
        unclear = [j for j in report["jobs"] if j["status"] == "SEND_FAILED" or j["settled"]]
        assert len(unclear) >= 1 and statuses["FAILED"] >= 1
        assert statuses["COMPLETED"] >= 10


def test_every_job_ends_where_the_user_can_see_it_and_alike_in_both_kernels(soak):
    a, b = (soak.reports[k] for k in KERNELS)
    rows = {r["id"]: r for r in a["rows"]}
    assert len(rows) == JOBS and rows == {r["id"]: r for r in b["rows"]}  # one row a request
    for report in (a, b):
        jobs = report["jobs"]
        assert len(jobs) == JOBS and {j["id"] for j in jobs} == set(rows)
        for job in jobs:
            assert job["status"] in TERMINAL, job
            assert job["view_status"] == job["status"] == rows[job["id"]]["status"], job
            if job["status"] == "COMPLETED":
                assert job["video"] and job["credits_used"] == job["estimate"], job
            else:  # the reason is on the job, on its card and in its row
                assert job["error"] and job["view_error"] == job["error"], job
                assert rows[job["id"]]["error"], job
            if job["status"] == "SEND_FAILED":
                assert "not sent again" in job["error"], job
    assert [j["status"] for j in a["jobs"]] == [j["status"] for j in b["jobs"]]


def test_no_submission_reached_the_server_twice(soak):
    counters = soak.stats["counters"]
    assert soak.stats["duplicate_payloads"] == 0
    # every createTask that left either studio, 500s and cut connections included, was its only
    # the account's 3 slots are leased through the shared ledger: the server never said 429
    assert soak.stats["responses"].get("429", 0) == 0, soak.stats["responses"]
    creates = sum(r["engine"].get("creates", 0) for r in soak.reports.values())
    assert counters["requests POST /api/v1/jobs/createTask"] == creates
    assert counters["tasks_created"] <= JOBS
    task_ids = [r["task_id"] for r in soak.reports["a"]["rows"] if r["task_id"]]
    assert len(task_ids) == len(set(task_ids)) == counters["tasks_created"]


def test_the_ledger_equals_the_simulators_charges(soak):
    charged = soak.stats["counters"]["credits_charged"]
    account = soak.stats["accounts"]["account-1"]
    assert charged > 0 and CREDITS - account["credits"] == charged
    for report in soak.reports.values():
        assert sum(r["credits_used"] or 0 for r in report["rows"]) == charged
        assert report["spent"] == charged
        assert sum(j["view_credits"] for j in report["jobs"] if j["view_credits"] > 0) == charged


def test_no_exception_reached_either_kernel(soak):
    logs = "".join(getattr(soak.paths, "log_" + k).read_text() for k in KERNELS)
    assert "createTask" in logs  # the logs did record the run at DEBUG
    for kernel, nb in soak.nbs.items():
        outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"]
        stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
        assert "Traceback" not in stderr and "Error" not in stderr, stderr
        log = getattr(soak.paths, "log_" + kernel).read_text()
        assert not [line for line in log.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
        assert all(job["callback_errors"] == [] for job in soak.reports[kernel]["jobs"])


def test_the_key_appears_nowhere(soak):
    assert soak.stats["counters"]["injected_500"] >= 10  # each one echoed the key back
    places = [
        soak.paths.ledger.parent,  # the ledger with its -wal and its Arrow snapshot, the logs,
        # the saved notebooks, and the reports: reprs, error texts and every TaskView's state
    ]
    files = scanned_files(places)
    assert soak.paths.ledger in files and len(files) >= 9
    for nb in soak.nbs.values():
        widgets = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        assert sum(m["model_name"] == "AnyModel" for m in widgets.values()) >= JOBS
    assert soak.stats["counters"]["tasks_created"] > 0  # the key did open the simulator
    assert scan_files(places) == {}
    for report in soak.reports.values():
        assert all(FAKE_KEY not in text for text in report["texts"])
