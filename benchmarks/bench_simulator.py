"""Simulator throughput: queryTask requests per second from 20 concurrent keep-alive clients,
against the same load on a bare uvicorn app that answers a fixed JSON body (the server stack's
own ceiling on this machine), both served from a separate process, in the same run. The task
queried has completed, so every answer signs a fresh video link (the costlier path)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx

from benchmarks._report import Figure

CLIENTS = 20
SECONDS = 4.0
KEY = "bench-key"
BARE_APP = """
import json, sys, uvicorn
BODY = json.dumps({"taskId": "task_x", "model": "seedance2", "status": "PROCESSING",
                   "creditsUsed": 0, "output": None, "error": None, "createTime": 1,
                   "completeTime": None}).encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL)
    for _ in range(500):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.TransportError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("server did not start")


async def _load(port: int, path: str) -> float:
    """Requests per second over SECONDS from CLIENTS raw keep-alive HTTP/1.1 connections."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    ).encode()
    deadline = time.perf_counter() + SECONDS
    counts = [0] * CLIENTS

    async def client(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head[:40])
            counts[i] += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return sum(counts) / (time.perf_counter() - start)


def run() -> list[Figure]:
    sim_port, bare_port = _free_port(), _free_port()
    sim = _serve(
        [
            "-m",
            "seedance_nb.simulator",
            "--port",
            str(sim_port),
            "--api-key",
            KEY,
            "--credits",
            "1000000",
            "--speed",
            "0.001",  # the task completes within a fraction of a second
        ],
        sim_port,
    )
    bare = _serve(["-c", BARE_APP, str(bare_port)], bare_port)
    try:
        base = f"http://127.0.0.1:{sim_port}/api/v1"
        task_id = httpx.post(
            f"{base}/jobs/createTask",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": "seedance2", "inputs": {"prompt": "bench"}},
        ).json()["taskId"]
        for _ in range(500):
            body = httpx.get(
                f"{base}/jobs/queryTask",
                params={"taskId": task_id},
                headers={"Authorization": f"Bearer {KEY}"},
            ).json()
            if body["status"] == "COMPLETED":
                break
            time.sleep(0.01)
        else:
            raise RuntimeError(f"the benchmark's task did not complete: {body}")
        sim_rps = asyncio.run(_load(sim_port, f"/api/v1/jobs/queryTask?taskId={task_id}"))
        bare_rps = asyncio.run(_load(bare_port, "/"))
    finally:
        for proc in (sim, bare):
            proc.terminate()
            proc.wait(10)
    return [
        Figure(
            f"queryTask throughput (a completed task), {CLIENTS} clients",
            sim_rps,
            "req/s",
            "bare uvicorn app",
            bare_rps,
            ">= 1000 req/s",
            sim_rps >= 1000,
        )
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
