"""What settling unclear sends costs each clear send, against the simulator, in one run.

Before every createTask the engine takes a reading of the account (`Settling._reading`: the
account's rows in the ledger, GET /account/credits, the rows again), so that an unclear send
can be settled by the balance. Figures, each against a baseline from the same run:

- the reading before a send, against createTask alone (the same simulator, client and loop,
  sends alternated with readings so both see the same load): the added latency per send;
- GET /account/credits alone against createTask alone (the share of the HTTP call);
- sends per second of the send path as the engine runs it (the QUEUED -> SENDING ledger write
  beside the rows' first picture and the GET, then createTask beside the rows' second picture)
  against the same path with no reading, on a SQLite ledger; and, for comparison, the path with
  the whole reading taken between the write and createTask (the previous engine's way).

The simulator runs in this process (uvicorn on a thread) at speed 1 with a large account, so
no task ends during the run and nothing else moves the balance.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import seedance_nb as sd
from benchmarks._report import Figure
from seedance_nb.ledger import Fence, Ledger
from seedance_nb.runtime._settling import Settling

SENDS = 150
REQ = sd.TextToVideo("a lighthouse at dusk", duration=4)
MODEL = "seedance2-fast"


class Probe(Settling):
    """The engine's reading, on a client and ledger of the benchmark's own."""

    def __init__(self, client: sd.AsyncClient, ledger: Ledger) -> None:
        self.client, self.ledger, self.account = client, ledger, client.account_id


class Row:
    def __init__(self, row_id: int) -> None:
        self.id = row_id


async def measure(base_url: str, key: str, work: Path) -> dict[str, list[float]]:
    client = sd.AsyncClient(api_key=key, base_url=base_url)
    ledger = Ledger(work / "ledger.sqlite")
    probe = Probe(client, ledger)
    owner = "bench-owner"
    ids = [
        ledger.log(
            experiment="bench",
            status="QUEUED",
            estimated_credits=128,
            account=probe.account,
            owner=owner,
        )
        for _ in range(SENDS + 3 * SENDS)
    ]
    times: dict[str, list[float]] = {
        k: [] for k in ("create", "reading", "credits", "path0", "path1", "serial")
    }
    await client.create_task(REQ, MODEL)  # warm the connection
    for i in range(SENDS):
        start = time.perf_counter()
        await client.create_task(REQ, MODEL)
        times["create"].append(time.perf_counter() - start)
        start = time.perf_counter()
        await probe._reading(Row(ids[i]))  # type: ignore[arg-type]
        times["reading"].append(time.perf_counter() - start)
        start = time.perf_counter()
        await client.credits()
        times["credits"].append(time.perf_counter() - start)
    # the send path: a fenced QUEUED -> SENDING write and createTask; with the reading as the
    # engine takes it (rows and GET beside the write, the rows again beside createTask), or
    # taken in full between the two (as the last session's engine did)
    for i, row_id in enumerate(ids[SENDS:]):
        way = ("path0", "path1", "serial")[i % 3]
        row = Row(row_id)
        move = asyncio.to_thread(ledger.move, row_id, Fence(owner, 1), "QUEUED", status="SENDING")
        start = time.perf_counter()
        if way == "path0":
            await move
            await client.create_task(REQ, MODEL)
        elif way == "path1":
            _, half = await asyncio.gather(move, probe._before_send(row))  # type: ignore[arg-type]
            await probe._send_reading(row, client.create_task(REQ, MODEL), half)  # type: ignore[arg-type]
        else:
            await move
            await probe._reading(row)  # type: ignore[arg-type]
            await client.create_task(REQ, MODEL)
        times[way].append(time.perf_counter() - start)
    await client.aclose()
    ledger.close()
    return times


def run() -> list[Figure]:
    with (
        sd.simulator.start(speed=1.0, credits=10**9, concurrency=10**6, seed=1) as sim,
        tempfile.TemporaryDirectory(prefix="bench-settle-") as work,
    ):
        times = asyncio.run(measure(sim.base_url, sim.api_key, Path(work)))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return [
        Figure(
            "reading before a send (rows, GET /account/credits, rows)",
            med["reading"],
            "ms",
            "createTask alone",
            med["create"],
            "<= 0.5x createTask",
            med["reading"] <= 0.5 * med["create"],
        ),
        Figure("GET /account/credits", med["credits"], "ms", "createTask alone", med["create"]),
        Figure(
            "send path with the reading, as the engine takes it (sends/s)",
            1000 / med["path1"],
            "sends/s",
            "the same path without it",
            1000 / med["path0"],
            ">= 0.75x",
            med["path0"] / med["path1"] >= 0.75,
        ),
        Figure(
            "send path with the reading taken in full before createTask (sends/s)",
            1000 / med["serial"],
            "sends/s",
            "the same path without it",
            1000 / med["path0"],
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
