"""The S3-compatible uploader against a real S3 server on loopback (moto in server mode), with
AWS's own refusal of expired links checked in front of it (moto serves them regardless)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

import seedance_nb as sd
from tests.waiting import wait_until

pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from seedance_nb.uploaders import S3Uploader, UploadError  # noqa: E402

ACCESS = "AKIALONGSHOTTEST0001"
SECRET = "longshot/secret+Key/never-shown-1234567890"


def expiry(url: str) -> float:
    """When a SigV4 presigned link stops working: X-Amz-Date plus X-Amz-Expires."""
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    return signed.replace(tzinfo=timezone.utc).timestamp() + int(query["X-Amz-Expires"][0])


class ExpiryGate(ThreadingHTTPServer):
    """A loopback proxy that refuses an expired presigned link (403) as AWS does, and passes
    every other GET to the S3 server behind it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "X-Amz-Expires" in self.path and time.time() > expiry(self.path):
                    body, status = b"<Error><Code>AccessDenied</Code>Request has expired", 403
                else:
                    answer = httpx.get(gate.upstream + self.path)
                    body, status = answer.content, answer.status_code
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def through(self, url: str) -> str:
        """The same link, sent through this gate."""
        parts = urlsplit(url)
        return f"http://127.0.0.1:{self.server_address[1]}{parts.path}?{parts.query}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def s3():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    gate = ExpiryGate(endpoint)
    try:
        yield endpoint, gate
    finally:
        gate.close()
        server.stop()


def uploader(endpoint: str, bucket: str = "frames", **options) -> S3Uploader:
    made = S3Uploader(
        bucket,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key=ACCESS,
        secret_key=SECRET,
        path_style=True,
        **options,
    )
    return made


@pytest.fixture
def bucket(s3):
    import boto3

    endpoint, _ = s3
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
    )
    name = f"frames-{time.monotonic_ns()}"
    client.create_bucket(Bucket=name)
    yield name, client
    client.close()


@pytest.fixture
def frame(tmp_path) -> Path:
    path = tmp_path / "frame.png"
    Image.new("RGB", (640, 480), (200, 120, 40)).save(path)
    return path


def test_a_link_works_until_it_expires(s3, bucket, frame):
    endpoint, gate = s3
    name, _client = bucket
    up = uploader(endpoint, name, expires=2)
    url = up(frame)
    assert urlsplit(url).path.endswith(".png") and "X-Amz-Signature" in url
    answer = httpx.get(gate.through(url))
    assert answer.status_code == 200 and answer.content == frame.read_bytes()
    assert wait_until(lambda: time.time() > expiry(url) + 0.5, 10)
    assert httpx.get(gate.through(url)).status_code == 403  # as AWS refuses it
    assert httpx.get(gate.through(up(frame))).status_code == 200  # a fresh link works again


def test_the_same_content_is_stored_once(s3, bucket, frame, tmp_path):
    endpoint, _ = s3
    name, client = bucket
    up = uploader(endpoint, name)
    copy = tmp_path / "copy.png"
    copy.write_bytes(frame.read_bytes())
    assert urlsplit(up(frame)).path == urlsplit(up(copy)).path
    assert client.list_objects_v2(Bucket=name)["KeyCount"] == 1


def test_errors_and_reprs_never_show_the_key_or_secret(s3, frame, tmp_path):
    endpoint, _ = s3
    up = uploader(endpoint, "no-such-bucket")
    with pytest.raises(UploadError) as caught:
        up(frame)
    text = f"{caught.value} {caught.value!r} {up!r}"
    assert "no-such-bucket" in text
    assert ACCESS not in text and SECRET not in text
    with pytest.raises(UploadError, match="cannot be read"):
        up(tmp_path / "missing.png")
    with pytest.raises(sd.ValidationError, match="expires"):
        uploader(endpoint, expires=8 * 24 * 3600)


def test_a_studio_sends_the_frame_through_the_uploader_and_the_secret_stays_out_of_the_ledger(
    s3, bucket, frame, start_sim, make_studio, tmp_path
):
    endpoint, gate = s3
    name, _client = bucket
    sim = start_sim()
    studio = make_studio(sim, uploader=uploader(endpoint, name))
    job = studio.submit(sd.ImageToVideo(frame, prompt="from the bucket", duration=4))
    job.result(timeout=120)
    sent = json.loads(studio.ledger.get(job.id)["params"])["inputs"]["urls"][0]
    assert sent.startswith(endpoint) and "X-Amz-Expires" in sent  # the presigned link went out
    assert httpx.get(gate.through(sent)).content == frame.read_bytes()
    assert sim.stats()["counters"].get("assets_uploaded", 0) == 0  # not the simulator's route
    ledger_bytes = Path(studio.ledger.path).read_bytes()
    assert SECRET.encode() not in ledger_bytes
